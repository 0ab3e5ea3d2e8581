"""Keeping the catalogue: extract the message ids from the code, merge, compile and check them.

Message ids are the literal English templates in the code, found by Babel's Python extractor
with these keywords: `_` and `N_` (engine.core.i18n), `Message.of` (`of`), and every `PlanflowError`
subclass, whose first argument is its template. The class list is computed from the class tree
(every module of `engine`, `workers` and `config` imported), so a new error class is never
missed; a test checks that each construction passes a literal.

Commands (`python -m engine.locale …`):
- `extract`: write `planflow.pot`, the ids as the code has them now;
- `update`: bring `zh_CN/…/planflow.po` in line with the code (new ids empty, gone ids dropped);
- `merge FILE…`: fill empty entries from PO fragments (translations written elsewhere);
- `compile`: write `planflow.mo` from the `.po`;
- `check`: exit 1, listing each problem, when an id lacks a translation, a translation's
  placeholders differ from its id's, or the `.mo` is not the compiled `.po`.

This module imports Babel, a development dependency; the run time reads the `.mo` with gettext.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import string
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from engine.core.errors import PlanflowError
from engine.core.i18n import DOMAIN, LOCALE_DIR

ROOT = LOCALE_DIR.parent.parent  # the checkout: engine/, workers/, config/
PACKAGES = ("engine", "workers", "config")
LANGUAGE = "zh_CN"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
PO = LOCALE_DIR / LANGUAGE / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
HEADER = "# Planflow's messages in Chinese, as a township official reads them."


def error_classes() -> list[type[PlanflowError]]:
    """Every `PlanflowError` subclass in the code, its modules imported to find them."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            # `__main__` modules would start the program, Alembic's scripts need Alembic's run.
            if not info.name.endswith("__main__") and ".migrations" not in info.name:
                importlib.import_module(info.name)
    found: list[type[PlanflowError]] = []
    pending: list[type[PlanflowError]] = [PlanflowError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def keywords() -> dict[str, None]:
    """Babel's keywords: each call whose first argument is a message id."""
    # Babel's Python extractor names a call by its last name: `Message.of(…)` is `of`. Other
    # `.of(…)` calls (`Problem.of`) pass no string literal first and yield nothing. `complain`
    # is the schema validators' `Message.of` (engine/core/yamlschema.py).
    names = ["_", "N_", "of", "complain", *(cls.__name__ for cls in error_classes())]
    return dict.fromkeys(names)


def extract() -> Catalog:
    """The message ids the code holds now, with the files they are in."""
    catalog = Catalog(domain=DOMAIN, header_comment=HEADER, project="Planflow", fuzzy=False)
    words = keywords()
    # Babel warns on stderr of every f-string inside a keyword's call, values included
    # (`Message.of("…{x}", x=f"{n:04x}")`); a template that is no literal is a test's to catch.
    with contextlib.redirect_stderr(io.StringIO()):
        for package in PACKAGES:
            found = extract_from_dir(
                ROOT / package,
                method_map=[("**.py", "python")],
                keywords=words,
                comment_tags=(),
                strip_comment_tags=True,
            )
            for filename, lineno, message, _comments, context in found:
                if isinstance(message, str) and message:
                    where = [(f"{package}/{filename}", lineno)]
                    catalog.add(message, locations=where, context=context)
    return catalog


def read_catalogue(path: Path = PO) -> Catalog:
    with path.open("rb") as stream:
        return read_po(stream, locale=LANGUAGE, domain=DOMAIN)


def write_catalogue(catalog: Catalog, path: Path = PO) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        # File names without line numbers: an edit elsewhere in a file leaves the .po alone.
        write_po(stream, catalog, width=100, include_lineno=False, ignore_obsolete=True)


def compiled(catalog: Catalog) -> bytes:
    stream = io.BytesIO()
    write_mo(stream, catalog, use_fuzzy=False)
    return stream.getvalue()


def update() -> Catalog:
    """The catalogue with the code's ids: translations kept, new ids empty, gone ids dropped."""
    template = extract()
    catalog = read_catalogue() if PO.exists() else Catalog(locale=LANGUAGE, domain=DOMAIN)
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=True)
    catalog.header_comment = HEADER
    catalog.project, catalog.version = "Planflow", ""
    catalog.language_team = catalog.last_translator = "Planflow"
    catalog.msgid_bugs_address = ""
    catalog.fuzzy = False
    catalog.obsolete.clear()
    return catalog


def merge(catalog: Catalog, fragments: Sequence[Path]) -> list[str]:
    """Fill the catalogue's empty entries from `fragments`; return the conflicts and strays.

    A translation already in the catalogue wins over a fragment's; an id the code does not
    hold (yet) is reported, not added: run `update` after the code is merged.
    """
    notes = []
    for path in fragments:
        with path.open("rb") as stream:
            fragment = read_po(stream, locale=LANGUAGE, domain=DOMAIN)
        for entry in fragment:
            if not entry.id or not entry.string:
                continue
            mine = catalog.get(entry.id, entry.context)
            if mine is None:
                notes.append(f"{path.name}: not in the code, skipped: {entry.id!r}")
            elif not mine.string:
                mine.string = entry.string
                mine.flags.discard("fuzzy")
            elif mine.string != entry.string:
                notes.append(
                    f"{path.name}: kept {mine.string!r}, not {entry.string!r} for {entry.id!r}"
                )
    return notes


def placeholders(text: str) -> list[tuple[str, str, str]]:
    """The `str.format` fields of a template, each with its format spec and conversion."""
    return sorted(
        (name, spec or "", conversion or "")
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    )


@dataclass(frozen=True)
class Finding:
    kind: str  # "untranslated", "placeholders", "stale"
    message_id: str
    detail: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}: {self.message_id!r}{detail}"


def check(code: Catalog | None = None, catalog: Catalog | None = None) -> list[Finding]:
    """What is wrong with the catalogue against the code, as findings (none: all is well)."""
    code = code if code is not None else extract()
    catalog = catalog if catalog is not None else read_catalogue()
    findings = []
    for message in code:
        if not message.id:
            continue
        entry = catalog.get(message.id, message.context)
        if entry is None or not entry.string or entry.fuzzy:
            findings.append(Finding("untranslated", str(message.id)))
    for entry in catalog:
        if entry.id and entry.string:
            wanted, got = placeholders(str(entry.id)), placeholders(str(entry.string))
            if wanted != got:
                findings.append(Finding("placeholders", str(entry.id), f"{entry.string!r}"))
    if not MO.exists() or MO.read_bytes() != compiled(catalog):
        findings.append(Finding("stale", str(MO.relative_to(ROOT)), "run `compile`"))
    return findings


def _iter_findings(findings: list[Finding]) -> Iterator[str]:
    for finding in findings:
        yield str(finding)
    missing = sum(finding.kind == "untranslated" for finding in findings)
    if missing:
        yield f"{missing} message id(s) without a Chinese translation in {PO.relative_to(ROOT)}"


def main(argv: Sequence[str]) -> int:
    command, *rest = argv or ["check"]
    if command == "extract":
        with TEMPLATE.open("wb") as stream:
            write_po(stream, extract(), width=100, include_lineno=False, omit_header=False)
        print(f"wrote {TEMPLATE.relative_to(ROOT)}")
    elif command == "update":
        catalog = update()
        write_catalogue(catalog)
        print(f"updated {PO.relative_to(ROOT)}: {len(catalog)} message ids")
    elif command == "merge":
        catalog = read_catalogue()
        for note in merge(catalog, [Path(name) for name in rest]):
            print(note)
        write_catalogue(catalog)
    elif command == "compile":
        MO.write_bytes(compiled(read_catalogue()))
        print(f"wrote {MO.relative_to(ROOT)}")
    elif command == "check":
        findings = check()
        for line in _iter_findings(findings):
            print(line)
        return 1 if findings else 0
    else:
        print(__doc__.split("Commands")[1] if __doc__ else "", file=sys.stderr)
        return 2
    return 0
