"""What a page takes from its query string or form: only the names it knows, each at most once,
text where text is expected, numbers that are numbers. Anything else is refused (422, naming the
field), never ignored. The refusals are made here for every page's reader (`only_known`, the
plan editor's `form_fields.read_form`, the admin pages' `admin_common.form_fields`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

from engine.core.errors import ActionRefused
from engine.core.i18n import N_

UNKNOWN = N_("unknown field '{name}' (this page takes: {known})")
REPEATED = N_("the field '{name}' is given more than once")
NOT_WHOLE = N_("'{name}' must be a whole number, not '{value}'")
NOT_TEXT = N_("'{name}' must be text, not a file")
NOT_NUMBER = N_("'{name}' must be a number, not '{value}'")
UNKNOWN_PARAMETER = N_("this page takes no query parameter {name!r}")


def unknown_field(name: str, known: Collection[str]) -> ActionRefused:
    return ActionRefused(
        UNKNOWN,
        code="form.unknown_field",
        field=name,
        name=name,
        known=", ".join(sorted(known)) or "-",
    )


def repeated_field(name: str) -> ActionRefused:
    return ActionRefused(REPEATED, code="form.repeated_field", field=name, name=name)


def not_text(name: str) -> ActionRefused:
    return ActionRefused(NOT_TEXT, code="form.not_text", field=name, name=name)


def unknown_parameter(name: str) -> ActionRefused:
    return ActionRefused(UNKNOWN_PARAMETER, code="query.unknown_parameter", field=name, name=name)


def only_known(pairs: Iterable[tuple[str, object]], known: Collection[str]) -> dict[str, str]:
    """The fields of a query string or form as a dict; an unknown or repeated name, or a file
    where text was expected, is refused."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            raise unknown_field(name, known)
        if name in found:
            raise repeated_field(name)
        if not isinstance(value, str):
            raise not_text(name)
        found[name] = value
    return found


def whole_number(fields: dict[str, str], name: str) -> int | None:
    """The field as an int (None when absent or empty)."""
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ActionRefused(
            NOT_WHOLE, code="page.not_whole", field=name, name=name, value=text
        ) from None


def number(fields: dict[str, str], name: str) -> float | None:
    """The field as a finite float (None when absent or empty)."""
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ActionRefused(NOT_NUMBER, code="page.not_number", field=name, name=name, value=text)
    return value
