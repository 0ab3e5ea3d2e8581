"""Reading a posted page form strictly: every field is one the page knows, a single field comes
once, a repeated one (a row of the plan editor) comes as often as its siblings, and none is a
file. Anything else is refused (422) naming the field, before the form means anything: a field
the page does not know is never silently dropped.

The form comes parsed by `auth.posted_form` (the CSRF check of every page write reads it first,
with as many fields as `max_body_bytes` lets through, and Starlette keeps that parse): a plan's
editor at its limits has some 1,900 fields, past Starlette's default cap of 1000.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from fastapi import Request
from starlette.datastructures import FormData

from engine.core.errors import ActionRefused
from engine.http.auth import CSRF_FIELD
from engine.http.pages.fields import (
    not_text,
    repeated_field,
    unknown_field,
    unknown_parameter,
)

ALWAYS = frozenset({CSRF_FIELD})  # checked by `auth.csrf_checked`, allowed on every form


def read_form(
    form: FormData,
    *,
    single: Collection[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, str], dict[str, list[dict[str, str]]]]:
    """The form's single fields (each at most once) and its row groups.

    `groups` maps a group's name to its fields' names; the form field of `name` in group `goal`
    is `goal_name`, repeated once per row, in row order, and every row has each of the group's
    fields. Returns the single values by name and, per group, its rows as dicts from field name
    (without the group's prefix) to text.
    """
    groups = groups or {}
    owner = {f"{group}_{name}": group for group, names in groups.items() for name in names}
    values: dict[str, str] = {}
    columns: dict[str, list[str]] = {name: [] for name in owner}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise not_text(name)
        if name in owner:
            columns[name].append(value)
        elif name in single or name in ALWAYS:
            if name in values:
                raise repeated_field(name)
            values[name] = value
        else:
            raise unknown_field(name, [*single, *owner])
    rows: dict[str, list[dict[str, str]]] = {}
    for group, names in groups.items():
        counts = {len(columns[f"{group}_{name}"]) for name in names}
        if len(counts) > 1:
            raise ActionRefused(
                "the rows of {group!r} are incomplete: each row needs every one of {names}",
                code="form.incomplete_rows",
                field=group,
                group=group,
                names=", ".join(f"{group}_{name}" for name in names),
            )
        count = counts.pop() if counts else 0
        rows[group] = [
            {name: columns[f"{group}_{name}"][i] for name in names} for i in range(count)
        ]
    values.pop(CSRF_FIELD, None)
    return values, rows


def no_query(request: Request) -> None:
    """Refuse a query parameter on a page that takes none (422, naming it)."""
    for name in request.query_params:
        raise unknown_parameter(name)
