"""Template use cases: validate, load (immutably per name and version), list, compile."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlmodel import Session, col, select

from engine.core.errors import AlreadyExists, NotFound
from engine.core.template.compile import Workflow
from engine.core.template.model import Template
from engine.core.template.validate import load_template as parse_template
from engine.service.runtime import Runtime
from engine.store.driver import Transaction
from engine.store.tables import TemplateRecord
from workflows import bundled_templates


@dataclass(frozen=True)
class LoadedTemplate:
    record: TemplateRecord
    template: Template
    created: bool  # False: the same content was already loaded (loading is idempotent)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_template(rt: Runtime, *, content: str | bytes, source: str) -> LoadedTemplate:
    """Store a template version; refuse different content under an existing (name, version).

    `content` may be the file's raw bytes: the parser checks size and encoding first.
    """
    template = parse_template(content, source=source)
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    digest = checksum(text)
    with rt.database.session() as session:
        existing = _find(session, template.name, template.version)
        if existing is not None:
            if existing.checksum != digest:
                raise AlreadyExists(
                    f"{source}: template {template.name} version {template.version} is already "
                    f"loaded with different content; running plans depend on it, so give your "
                    f"change a new version (version: {_next_version(session, template.name)})"
                )
            return LoadedTemplate(record=existing, template=template, created=False)
        record = TemplateRecord(
            name=template.name,
            version=template.version,
            title=template.title,
            source=text,
            checksum=digest,
            loaded_at=rt.now(),
        )
        session.add(record)
        session.flush()
        return LoadedTemplate(record=record, template=template, created=True)


def load_bundled_templates(rt: Runtime) -> list[LoadedTemplate]:
    return [
        load_template(rt, content=path.read_bytes(), source=path.name)
        for path in bundled_templates()
    ]


def list_templates(rt: Runtime) -> list[TemplateRecord]:
    with rt.database.session() as session:
        query = select(TemplateRecord).order_by(
            col(TemplateRecord.name), col(TemplateRecord.version)
        )
        return list(session.exec(query))


def find_template(session: Session, name: str, version: int | None = None) -> TemplateRecord:
    """A stored template by name; the newest version unless one is given."""
    record = (
        _find(session, name, version)
        if version is not None
        else session.exec(
            select(TemplateRecord)
            .where(TemplateRecord.name == name)
            .order_by(col(TemplateRecord.version).desc())
        ).first()
    )
    if record is None:
        known = ", ".join(sorted(set(session.exec(select(TemplateRecord.name))))) or "none loaded"
        wanted = f"{name} version {version}" if version is not None else name
        raise NotFound(f"no template {wanted}; loaded templates: {known}")
    return record


def get_template(rt: Runtime, name: str, version: int | None = None) -> TemplateRecord:
    with rt.database.session() as session:
        return find_template(session, name, version)


def workflow_for(rt: Runtime, record: TemplateRecord) -> Workflow:
    """The compiled workflow of a stored template, built once per process."""
    assert record.id is not None
    cached = rt.workflows.get(record.id)
    if cached is not None:
        return cached
    return rt.workflows.put(
        record.id,
        Workflow(parse_template(record.source, source=f"{record.name}@v{record.version}")),
    )


def workflow_by_id(rt: Runtime, db: Session | Transaction, template_id: int) -> Workflow:
    cached = rt.workflows.get(template_id)
    if cached is not None:
        return cached
    record = db.get(TemplateRecord, template_id)
    if record is None:
        raise NotFound(f"template #{template_id} does not exist")
    return workflow_for(rt, record)


def _find(session: Session, name: str, version: int | None) -> TemplateRecord | None:
    return session.exec(
        select(TemplateRecord).where(TemplateRecord.name == name, TemplateRecord.version == version)
    ).first()


def _next_version(session: Session, name: str) -> int:
    versions = session.exec(select(TemplateRecord.version).where(TemplateRecord.name == name))
    return max(versions, default=0) + 1
