"""The JSON API's template routes (under /api), for administrators only: the loaded versions,
one version with its source, its Mermaid diagram, and uploading a new version as YAML.

An upload is the file's raw bytes (`application/yaml`, `text/yaml` or `text/plain`). The parser
checks size, encoding (UTF-8 text, no NUL), YAML aliases and the template itself; any problem
answers 422 with each problem's line and column in `problems`, and nothing is stored. Different
content under a loaded (name, version) answers 409. `?check=true` says all of this and stores
nothing even when the file is valid.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import Field

from engine.core.i18n import N_, Message
from engine.core.template.diagram import mermaid
from engine.core.template.model import Template
from engine.http.api.admin import ADMIN
from engine.http.api.common import Answer
from engine.http.api.documented import ID_MAX, TEMPLATE_NAME, errors
from engine.http.auth import runtime_of
from engine.http.refusals import RequestRefused
from engine.service import templates
from engine.store.templates import TemplateRow

router = APIRouter(
    prefix="/templates",
    tags=["templates"],
    responses=errors(400, 401, 404, 409, 422),
    dependencies=[ADMIN],
)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
NOT_YAML = N_("send the template's YAML as the body, typed as one of {types}")
UPLOAD_SOURCE = "upload.yaml"  # the name problems are located in


class TemplateAnswer(Answer):
    name: str
    version: int
    title: str
    checksum: str = Field(description="SHA-256 of the source text")
    loaded_at: dt.datetime


class TemplateSource(TemplateAnswer):
    source: str = Field(description="the YAML as it was loaded")


class DiagramAnswer(Answer):
    name: str
    version: int
    mermaid: str = Field(description="a Mermaid stateDiagram-v2")


class UploadAnswer(Answer):
    name: str
    version: int
    title: str
    outcome: Literal["created", "unchanged", "valid"] = Field(
        description="created: stored now; unchanged: this very content was loaded already; "
        "valid: checked only (`check=true`), nothing stored"
    )


def template_answer(record: TemplateRow) -> TemplateAnswer:
    return TemplateAnswer(
        name=record.name,
        version=record.version,
        title=record.title,
        checksum=record.checksum,
        loaded_at=record.loaded_at,
    )


@router.get("", response_model=list[TemplateAnswer])
def list_templates(request: Request) -> list[TemplateAnswer]:
    """Every loaded version, by name, then version."""
    rt = runtime_of(request)
    return [template_answer(record) for record in templates.list_templates(rt)]


Name = Annotated[str, Path(pattern=TEMPLATE_NAME)]
Version = Annotated[
    int | None, Query(ge=1, le=ID_MAX, description="a loaded version; the newest if none")
]


@router.get("/{name}", response_model=TemplateSource)
def show_template(request: Request, name: Name, version: Version = None) -> TemplateSource:
    rt = runtime_of(request)
    record = templates.get_template(rt, name, version)
    return TemplateSource(**template_answer(record).model_dump(), source=record.source)


@router.get("/{name}/diagram", response_model=DiagramAnswer)
def template_diagram(request: Request, name: Name, version: Version = None) -> DiagramAnswer:
    """The version's workflow as a Mermaid state diagram."""
    rt = runtime_of(request)
    record = templates.get_template(rt, name, version)
    template = templates.workflow_for(rt, record).template
    return DiagramAnswer(name=record.name, version=record.version, mermaid=mermaid(template))


async def yaml_body(request: Request) -> bytes:
    """The raw body, if it is typed as YAML or plain text (its bytes are the parser's to judge)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES:
        message = Message.of(NOT_YAML, types=", ".join(YAML_TYPES))
        raise RequestRefused([("content-type", message)])
    return await request.body()


_YAML_BODY = {"schema": {"type": "string", "description": "a template file (UTF-8 YAML)"}}


@router.post(
    "",
    response_model=UploadAnswer,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": UploadAnswer, "description": "unchanged, or checked only"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: _YAML_BODY for media in YAML_TYPES},
        }
    },
)
def upload_template(
    request: Request,
    response: Response,
    content: Annotated[bytes, Depends(yaml_body)],
    check: Annotated[bool, Query(description="check only, store nothing")] = False,
) -> UploadAnswer:
    """Upload a template version (201 when stored, 200 when this content was loaded already or
    only checked); 422 with every problem's line and column, 409 when the version is loaded
    with other content. Nothing is stored unless the whole file is valid."""
    rt = runtime_of(request)
    if check:
        checked = templates.check_template(rt, content=content, source=UPLOAD_SOURCE)
        response.status_code = status.HTTP_200_OK
        if isinstance(checked, Template):
            return _uploaded(checked, "valid")
        return _uploaded(checked.template, "unchanged")
    loaded = templates.load_template(rt, content=content, source=UPLOAD_SOURCE)
    if not loaded.created:
        response.status_code = status.HTTP_200_OK
    return _uploaded(loaded.template, "created" if loaded.created else "unchanged")


def _uploaded(
    template: Template, outcome: Literal["created", "unchanged", "valid"]
) -> UploadAnswer:
    return UploadAnswer(
        name=template.name, version=template.version, title=template.title, outcome=outcome
    )
