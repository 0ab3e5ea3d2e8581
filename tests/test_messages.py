"""The message catalogue: every id the code holds is translated, the translations fit their ids,
the compiled catalogue is the one committed, and every error passes a literal template (so the
extraction sees it). Babel is a development dependency: these tests need it, the run time not."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from engine.core.errors import PlanflowError
from engine.locale import maintain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def code() -> Catalog:
    return maintain.extract()


def _untranslated(code: Catalog) -> list[str]:
    findings = maintain.check(code)
    ids = {f.message_id for f in findings if f.kind == "untranslated"}
    found = []
    for message in code:
        if message.id in ids:
            files = [location[0] for location in message.locations]
            found.append(f"{message.id!r} ({', '.join(sorted(set(files)))})")
    return found


def test_every_message_id_has_a_chinese_translation(code: Catalog) -> None:
    missing = _untranslated(code)
    assert not missing, "no Chinese translation in planflow.po for:\n" + "\n".join(missing)


def test_each_translation_has_exactly_its_ids_placeholders(code: Catalog) -> None:
    wrong = [str(f) for f in maintain.check(code) if f.kind == "placeholders"]
    assert not wrong, "\n".join(wrong)


def test_the_committed_mo_is_the_compiled_po() -> None:
    assert maintain.MO.read_bytes() == maintain.compiled(maintain.read_catalogue()), (
        "run `python -m engine.locale compile`"
    )


def test_placeholders_are_compared_with_their_format() -> None:
    assert maintain.placeholders("{a} {b:g} {{c}}") == [("a", "", ""), ("b", "g", "")]


def _templated_classes() -> dict[str, type[PlanflowError]]:
    """Error classes whose first argument is the message template (not InputError's list)."""
    found = {}
    for cls in maintain.error_classes():
        parameters = list(inspect.signature(cls.__init__).parameters)
        if parameters[1:2] == ["message"]:
            found[cls.__name__] = cls
    return found


def _marked_constants(tree: ast.Module) -> set[str]:
    """Module constants written `NAME = N_("…")`: a literal marked for extraction."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_marked_literal(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_marked_literal(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "N_"
        and len(node.args) == 1
        and _is_literal(node.args[0])
    )


def _constructions(path: Path, classes: set[str]) -> Iterator[tuple[int, str, ast.Call]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in classes:
                yield node.lineno, name, node


def _non_literal_templates() -> list[str]:
    classes = set(_templated_classes())
    bad = []
    for package in maintain.PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            shown = str(path.relative_to(ROOT))
            constants = _marked_constants(ast.parse(path.read_text(encoding="utf-8")))
            for line, name, call in _constructions(path, classes):
                first = call.args[0] if call.args else None
                fine = first is not None and (
                    _is_literal(first)
                    or _is_marked_literal(first)
                    or (isinstance(first, ast.Name) and first.id in constants)
                )
                if not fine:
                    bad.append(f"{shown}:{line}: {name}(…)")
    return bad


LITERAL_RULE = "an error's first argument must be a literal English template:\n"


def test_every_error_passes_a_literal_template() -> None:
    bad = _non_literal_templates()
    assert not bad, LITERAL_RULE + "\n".join(bad)


def test_the_run_time_never_imports_babel() -> None:
    modules = "engine.cli.main, engine.http.app, workers.celery_app, workers.tasks"
    script = (
        f"import sys, {modules}\n"
        "from engine.core.i18n import translate\n"
        "assert translate('the file is empty', 'zh_CN') == '文件是空的'\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'babel'], 'babel imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _marked_templates() -> Iterator[tuple[str, int, str]]:
    """Every literal template the code marks for translation: `_("…")`, `N_("…")`,
    `Message.of("…")` and the first argument of an error class, wherever the call stands."""
    classes = set(_templated_classes())
    for package in maintain.PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else None
                marked = name in {"_", "N_"} or name in classes
                marked |= (
                    isinstance(func, ast.Attribute)
                    and func.attr == "of"
                    and (isinstance(func.value, ast.Name) and func.value.id == "Message")
                )
                first = node.args[0]
                if marked and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield str(path.relative_to(ROOT)), node.lineno, first.value


def test_the_extraction_finds_every_marked_template(code: Catalog) -> None:
    """A template nested in another call inside an error's arguments once escaped Babel's
    extraction, and so its translation: every marked literal must be in the catalogue."""
    extracted = {message.id for message in code if message.id}
    missed = [
        f"{file}:{line}: {template!r}"
        for file, line, template in _marked_templates()
        if template not in extracted
    ]
    assert not missed, "not extracted (hoist it into a module constant `X = N_(…)`):\n" + (
        "\n".join(missed)
    )
