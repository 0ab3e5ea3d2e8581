"""Loaded template versions: stored once per (name, version), found by name or id, listed.

`TemplateRow` is the record of the `workflow_template` table (`tables.TemplateRecord`), with its
column names; the service compiles its `source` and never holds the ORM object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import TemplateRecord, as_utc
from engine.store.unique import insert_unless_taken


@dataclass(frozen=True)
class TemplateRow:
    """A loaded template version: its identity, its source text and when it was loaded."""

    id: int
    name: str
    version: int
    title: str
    source: str
    checksum: str  # sha256 of the source text
    loaded_at: dt.datetime


_TEMPLATE = table_of(TemplateRecord)
_ROW = sa.select(*(_TEMPLATE.c[field.name] for field in fields(TemplateRow)))  # in field order
_BY_ID = _ROW.where(_TEMPLATE.c.id == sa.bindparam("template_id"))
_BY_VERSION = _ROW.where(
    _TEMPLATE.c.name == sa.bindparam("name"), _TEMPLATE.c.version == sa.bindparam("version")
)
_NEWEST = (
    _ROW.where(_TEMPLATE.c.name == sa.bindparam("name"))
    .order_by(_TEMPLATE.c.version.desc())
    .limit(1)
)
_ALL = _ROW.order_by(_TEMPLATE.c.name, _TEMPLATE.c.version)
_NAMES = sa.select(_TEMPLATE.c.name).distinct().order_by(_TEMPLATE.c.name)
_NEWEST_VERSION = sa.select(sa.func.max(_TEMPLATE.c.version)).where(
    _TEMPLATE.c.name == sa.bindparam("name")
)
_INSERT = sa.insert(_TEMPLATE).returning(_TEMPLATE.c.id)


def template_by_id(tx: Transaction, *, template_id: int) -> TemplateRow | None:
    row = tx.execute(_BY_ID, {"template_id": template_id}).first()
    return TemplateRow(*row) if row is not None else None


def template_by_name(
    tx: Transaction, *, name: str, version: int | None = None
) -> TemplateRow | None:
    """The template `name` at `version`, or its newest version when none is given."""
    if version is None:
        row = tx.execute(_NEWEST, {"name": name}).first()
    else:
        row = tx.execute(_BY_VERSION, {"name": name, "version": version}).first()
    return TemplateRow(*row) if row is not None else None


def all_templates(tx: Transaction) -> list[TemplateRow]:
    """Every loaded version, by name, then version."""
    return [TemplateRow(*row) for row in tx.execute(_ALL).all()]


def template_names(tx: Transaction) -> list[str]:
    """The names of the loaded templates, sorted, each once."""
    return [row[0] for row in tx.execute(_NAMES).all()]


def newest_version(tx: Transaction, *, name: str) -> int | None:
    """The highest version loaded under `name`; None if there is none."""
    row = tx.execute(_NEWEST_VERSION, {"name": name}).first()
    return row[0] if row is not None else None


def insert_template(
    tx: Transaction,
    *,
    name: str,
    version: int,
    title: str,
    source: str,
    checksum: str,
    loaded_at: dt.datetime,
) -> TemplateRow | None:
    """Store a template version; None if (name, version) is taken (by a concurrent load, too)."""
    values: dict[str, Any] = {
        "name": name,
        "version": version,
        "title": title,
        "source": source,
        "checksum": checksum,
        "loaded_at": as_utc(loaded_at),
    }
    template_id = insert_unless_taken(tx, _INSERT, values, key=("name", "version"))
    return None if template_id is None else TemplateRow(id=template_id, **values)
