"""Dependencies point one way: edges → service → store → pure core.

Checked on the source (imports as written), so an import hidden inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = (
    "sqlmodel",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "celery",
    "kombu",
    "redis",
    "apscheduler",
    "fastapi",
    "typer",
    "config",
    "engine.store",
    "engine.service",
    "engine.cli",
    "engine.demo",
    "workers",
)
FORBIDDEN_IN_SERVICE = (
    "engine.cli",
    "celery",
    "redis",
    "apscheduler",
    "fastapi",
    "typer",
    "workers",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def offending(root: Path, package: str, forbidden: tuple[str, ...]) -> list[str]:
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        for name in sorted(imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                problems.append(f"{path.relative_to(root)} imports {name}")
    return problems


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("engine/core", FORBIDDEN_IN_CORE),
        ("engine/service", FORBIDDEN_IN_SERVICE),
        ("engine/store", ("engine.service", "engine.cli", "celery", "redis", "apscheduler")),
    ],
)
def test_import_direction(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(ROOT, package, forbidden) == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """Guard against a check that cannot fail: a planted import inside a function is reported."""
    planted = tmp_path / "engine" / "core"
    planted.mkdir(parents=True)
    (planted / "bad.py").write_text("def f():\n    from sqlmodel import Session\n")
    assert offending(tmp_path, "engine/core", FORBIDDEN_IN_CORE) == [
        "engine/core/bad.py imports sqlmodel"
    ]
