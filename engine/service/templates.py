"""Template use cases: validate, load (immutably per name and version), list, compile."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine.core.errors import AlreadyExists, NotFound
from engine.core.template.compile import Workflow
from engine.core.template.model import Template
from engine.core.template.validate import load_template as parse_template
from engine.service.runtime import Runtime
from engine.store import Transaction
from engine.store.templates import (
    TemplateRow,
    all_templates,
    insert_template,
    newest_version,
    template_by_id,
    template_by_name,
    template_names,
)
from workflows import bundled_templates


@dataclass(frozen=True)
class LoadedTemplate:
    record: TemplateRow
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
    with rt.database.transaction() as tx:
        name, version = template.name, template.version
        stored = template_by_name(tx, name=name, version=version)
        if stored is None:
            record = insert_template(
                tx,
                name=name,
                version=version,
                title=template.title,
                source=text,
                checksum=digest,
                loaded_at=rt.now(),
            )
            if record is not None:
                return LoadedTemplate(record=record, template=template, created=True)
            # Loaded meanwhile by someone else: compare with theirs.
            stored = template_by_name(tx, name=name, version=version)
            assert stored is not None
        if stored.checksum != digest:
            raise _version_exists(tx, source, name, version)
        return LoadedTemplate(record=stored, template=template, created=False)


def _version_exists(tx: Transaction, source: str, name: str, version: int) -> AlreadyExists:
    return AlreadyExists(
        "{source}: template {template} version {version} is already loaded with "
        "different content; running plans depend on it, so give your change a new "
        "version (version: {next_version})",
        code="template.version_exists",
        source=source,
        template=name,
        version=version,
        next_version=(newest_version(tx, name=name) or 0) + 1,
    )


def check_template(rt: Runtime, *, content: str | bytes, source: str) -> LoadedTemplate | Template:
    """What `load_template` would do, without storing anything: the problems it would refuse
    (InputError), a version loaded with other content (AlreadyExists); else the stored record
    when this very content is loaded already, or the template it would store."""
    template = parse_template(content, source=source)
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    with rt.database.read() as tx:
        stored = template_by_name(tx, name=template.name, version=template.version)
        if stored is None:
            return template
        if stored.checksum != checksum(text):
            raise _version_exists(tx, source, template.name, template.version)
        return LoadedTemplate(record=stored, template=template, created=False)


def load_bundled_templates(rt: Runtime) -> list[LoadedTemplate]:
    return [
        load_template(rt, content=path.read_bytes(), source=path.name)
        for path in bundled_templates()
    ]


def list_templates(rt: Runtime) -> list[TemplateRow]:
    """Every loaded version, by name, then version."""
    with rt.database.read() as tx:
        return all_templates(tx)


def find_template(tx: Transaction, name: str, version: int | None = None) -> TemplateRow:
    """A stored template by name; the newest version unless one is given."""
    record = template_by_name(tx, name=name, version=version)
    if record is not None:
        return record
    loaded = ", ".join(template_names(tx))
    if not loaded:
        raise NotFound(
            "no template {template}: no template is loaded yet; load them first "
            "(planflow template load)",
            code="template.not_found",
            template=name,
            version=version,
        )
    if version is None:
        raise NotFound(
            "no template {template}; loaded templates: {loaded}",
            code="template.not_found",
            template=name,
            version=version,
            loaded=loaded,
        )
    raise NotFound(
        "no template {template} version {version}; loaded templates: {loaded}",
        code="template.not_found",
        template=name,
        version=version,
        loaded=loaded,
    )


def get_template(rt: Runtime, name: str, version: int | None = None) -> TemplateRow:
    with rt.database.read() as tx:
        return find_template(tx, name, version)


def workflow_for(rt: Runtime, record: TemplateRow) -> Workflow:
    """The compiled workflow of a stored template, built once per process."""
    cached = rt.workflows.get(record.id)
    if cached is not None:
        return cached
    return rt.workflows.put(
        record.id,
        Workflow(parse_template(record.source, source=f"{record.name}@v{record.version}")),
    )


def workflow_by_id(rt: Runtime, tx: Transaction, template_id: int) -> Workflow:
    """The compiled workflow of a stored template by id; read only when not compiled yet."""
    cached = rt.workflows.get(template_id)
    if cached is not None:
        return cached
    record = template_by_id(tx, template_id=template_id)
    if record is None:
        raise NotFound(
            "template #{template_id} does not exist",
            code="template.not_found",
            template_id=template_id,
        )
    return workflow_for(rt, record)
