"""The service reaches the database only through `engine/store`'s public functions and records.

What counts as the boundary (see `engine/store/__init__.py` and docs/decisions.md): the names in
`engine.store.__all__`, the vocabularies of `engine.store.statuses`, and the functions and records
of the store's public modules. Everything else in `engine/store` — the tables, the statements, the
driver path, the migrations — is the store's private business, and so is SQLAlchemy.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import engine.store

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "engine" / "service"
# `unique` runs a given statement in a savepoint: machinery for the store's own functions.
PRIVATE_MODULES = {
    "tables",
    "statements",
    "driver",
    "database",
    "migrate",
    "audit_guard",
    "unique",
}
# What a unit of work does only inside the store: run statements, reach the session or the
# connection beneath, flush the ORM's pending state.
PRIVATE_ATTRIBUTES = {"execute", "execute_together", "session", "connection", "flush", "memo"}


def is_private(module: str) -> bool:
    """`engine.store.X` is private when X is a table, statement, driver or migration module."""
    leaf = module.removeprefix("engine.store.").split(".")[0]
    return (
        leaf in PRIVATE_MODULES
        or leaf.endswith("_statements")
        or leaf.startswith("_")
        or leaf == "migrations"
    )


def public_store_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(engine.store.__path__):
        name = f"engine.store.{info.name}"
        if not info.ispkg and not is_private(name):
            modules.append(importlib.import_module(name))
    return modules


def is_record(value: object) -> bool:
    """A frozen dataclass, a NamedTuple or an enumeration: plain typed data, no ORM object."""
    if not isinstance(value, type):
        return False
    if issubclass(value, enum.Enum):
        return True
    if issubclass(value, tuple) and hasattr(value, "_fields"):
        return True
    return dataclasses.is_dataclass(value)


def boundary_problems(path: Path, root: Path) -> list[str]:
    """What a service file does across the boundary that it must not."""
    where = path.relative_to(root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(("engine.store", "sqlalchemy", "sqlmodel")):
                    problems.append(f"{where}:{node.lineno} imports {alias.name} as a module")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module
            if module.split(".")[0] in ("sqlalchemy", "sqlmodel"):
                problems.append(f"{where}:{node.lineno} imports {module}")
            elif module == "engine.store":
                for alias in node.names:
                    public_module = not is_private(alias.name) and alias.name in (
                        m.__name__.removeprefix("engine.store.") for m in public_store_modules()
                    )
                    if alias.name not in engine.store.__all__ and not public_module:
                        problems.append(f"{where}:{node.lineno} imports engine.store.{alias.name}")
            elif module.startswith("engine.store."):
                if is_private(module):
                    problems.append(f"{where}:{node.lineno} imports the private {module}")
                    continue
                imported = importlib.import_module(module)
                for alias in node.names:
                    value = getattr(imported, alias.name, None)
                    if not (inspect.isfunction(value) or is_record(value)):
                        problems.append(
                            f"{where}:{node.lineno} imports {module}.{alias.name}, "
                            "which is neither a store function nor a record"
                        )
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            problems.append(f"{where}:{node.lineno} reaches .{node.attr}")
    return problems


def test_the_service_uses_only_the_stores_public_functions_and_records() -> None:
    problems = [p for path in sorted(SERVICE.rglob("*.py")) for p in boundary_problems(path, ROOT)]
    assert problems == []


@pytest.mark.parametrize(
    "planted",
    [
        "from engine.store.tables import Plan\n",
        "from engine.store import statements\n",
        "from sqlmodel import select\n",
        "from engine.store.plans import table_of_nothing\n",
        "def f(tx):\n    tx.execute(1)\n",
        "def f(rt):\n    with rt.database.session() as s:\n        pass\n",
    ],
)
def test_the_check_sees_a_crossing(tmp_path: Path, planted: str) -> None:
    """Guard against a check that cannot fail: each kind of crossing is reported."""
    service = tmp_path / "engine" / "service"
    service.mkdir(parents=True)
    (service / "bad.py").write_text(planted)
    assert boundary_problems(service / "bad.py", tmp_path) != []


def test_store_functions_take_the_transaction_then_keywords_only() -> None:
    """`f(tx, *, plan_id, ...)`: a call names every value, so none can go in the wrong place."""
    problems = []
    for module in public_store_modules():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            parameters = list(inspect.signature(function).parameters.values())
            positional = [p for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
            if [p.name for p in positional] != ["tx"]:
                problems.append(f"{module.__name__}.{name}{inspect.signature(function)}")
    assert problems == []


def test_store_records_are_frozen() -> None:
    problems = []
    for module in public_store_modules():
        for name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ != module.__name__ or not dataclasses.is_dataclass(value):
                continue
            if not value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
                problems.append(f"{module.__name__}.{name}")
    assert problems == []
