"""The administrators' template pages: the loaded versions, one version's source and diagram, and
uploading a new version in two steps.

Uploading checks first and saves nothing: the check page shows every problem with its line and
column next to the numbered source, or, for a valid file, its diagram beside the previous
version's and the diff against it (difflib), with a button that saves exactly what was shown.
Saving is the service's `load_template`, which checks again and refuses different content under
an existing (name, version).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from engine.core.errors import ActionRefused, InputError, NotFound, PlanflowError, Problem
from engine.core.i18n import N_
from engine.core.template.model import Template
from engine.core.template.validate import load_template as parse_template
from engine.http.diagram import workflow_svg
from engine.http.errors import status_of
from engine.http.pages.admin_common import (
    AdminCaller,
    AdminFormCaller,
    form_fields,
    in_chinese,
    query_value,
)
from engine.http.pages.errors import PAGE_LANGUAGE
from engine.http.rendering import render
from engine.service import admin_realm, templates
from engine.service.callers import Caller
from engine.service.runtime import Runtime
from engine.store.templates import TemplateRow

router = APIRouter(prefix="/admin/templates")

NOTHING_UPLOADED = N_("choose a template file or paste the template's text")
SAVED = {"new": "新版本已保存。", "same": "这一版本已经载入过，内容相同，没有重复保存。"}


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "hunk", "file" or "same"
    text: str


@router.get("")
def template_list(request: Request, caller: AdminCaller) -> Response:
    query_value(request, {})
    rt = _rt(request)
    admin_realm.require_admin(rt, actor=caller.username)
    return render(
        request,
        "admin/templates.html",
        {"records": templates.list_templates(rt), "error": None, "source": ""},
        caller=caller,
    )


@router.get("/{name}/{version}")
def template_page(request: Request, caller: AdminCaller, name: str, version: int) -> Response:
    flash = query_value(request, {"saved": SAVED}).get("saved")
    rt = _rt(request)
    admin_realm.require_admin(rt, actor=caller.username)
    record = templates.get_template(rt, name, version)
    previous = _previous(rt, name, version)
    return render(
        request,
        "admin/template.html",
        {
            "record": record,
            "diagram": workflow_svg(templates.workflow_for(rt, record).template),
            "lines": _numbered(record.source, []),
            "previous": previous,
            "previous_diagram": _diagram_of(rt, previous),
            "diff": _diff(previous, record.source, name, version),
            "flash": flash,
        },
        caller=caller,
    )


@router.post("/check")
async def check_upload(request: Request, caller: AdminFormCaller) -> Response:
    """Check an uploaded or pasted template; save nothing."""
    rt = _rt(request)
    admin_realm.require_admin(rt, actor=caller.username)
    values, files = await form_fields(request, text={"source"}, files={"file"})
    upload = files.get("file")
    content: str | bytes = values.get("source", "")
    filename = "template.yaml"
    if upload is not None and upload.filename:
        content, filename = upload.content, upload.filename
    if not content.strip():
        return _upload_refused(
            request, caller, ActionRefused(NOTHING_UPLOADED, code="form.empty", field="source")
        )
    try:
        template = parse_template(content, source=filename)
    except InputError as error:
        text = _text_of(content)
        return render(
            request,
            "admin/template_check.html",
            {
                "filename": filename,
                "problems": [_problem(p) for p in error.problems],
                "lines": _numbered(text, error.problems) if text is not None else [],
                "template": None,
                "conflict": None,
            },
            caller=caller,
            status_code=422,
        )
    text = _lf(content.decode("utf-8") if isinstance(content, bytes) else content)
    return _preview(
        request, caller, template, text, filename, conflict=_conflict(rt, template, text)
    )


@router.post("")
async def save_upload(request: Request, caller: AdminFormCaller) -> Response:
    """Save a checked template (the text the check page showed)."""
    rt = _rt(request)
    admin_realm.require_admin(rt, actor=caller.username)
    values, _ = await form_fields(request, text={"source", "filename"})
    text, filename = _lf(values.get("source", "")), values.get("filename") or "template.yaml"
    try:
        loaded = templates.load_template(rt, content=text, source=filename)
    except InputError as error:
        return render(
            request,
            "admin/template_check.html",
            {
                "filename": filename,
                "problems": [_problem(p) for p in error.problems],
                "lines": _numbered(text, error.problems),
                "template": None,
                "conflict": None,
            },
            caller=caller,
            status_code=422,
        )
    except PlanflowError as error:
        template = parse_template(text, source=filename)
        return _preview(
            request,
            caller,
            template,
            text,
            filename,
            conflict=in_chinese(error),
            status=status_of(error),
        )
    saved = "new" if loaded.created else "same"
    record = loaded.record
    return RedirectResponse(
        f"/admin/templates/{record.name}/{record.version}?saved={saved}", status_code=303
    )


def _upload_refused(request: Request, caller: Caller, error: PlanflowError) -> Response:
    rt = _rt(request)
    return render(
        request,
        "admin/templates.html",
        {"records": templates.list_templates(rt), "error": in_chinese(error), "source": ""},
        caller=caller,
        status_code=status_of(error),
    )


def _preview(
    request: Request,
    caller: Caller,
    template: Template,
    text: str,
    filename: str,
    *,
    conflict: str | None,
    status: int | None = None,
) -> Response:
    rt = _rt(request)
    previous = _previous(rt, template.name, template.version)
    context: dict[str, Any] = {
        "filename": filename,
        "problems": [],
        "lines": _numbered(text, []),
        "template": template,
        "source": text,
        "diagram": workflow_svg(template),
        "previous": previous,
        "previous_diagram": _diagram_of(rt, previous),
        "diff": _diff(previous, text, template.name, template.version),
        "conflict": conflict,
    }
    code = status if status is not None else (409 if conflict else 200)
    return render(request, "admin/template_check.html", context, caller=caller, status_code=code)


def _conflict(rt: Runtime, template: Template, text: str) -> str | None:
    """Why saving would be refused: this (name, version) is loaded with other content."""
    try:
        stored = templates.get_template(rt, template.name, template.version)
    except NotFound:
        return None
    if stored.checksum == templates.checksum(text):
        return None
    newest = max(r.version for r in templates.list_templates(rt) if r.name == template.name)
    return (
        f"模板 {template.name} 第 {template.version} 版已经载入，内容与此不同；"
        f"已有计划依赖它，请把文件中的 version 改为 {newest + 1} 后再上传。"
    )


def _previous(rt: Runtime, name: str, version: int) -> TemplateRow | None:
    """The newest loaded version of `name` before `version`."""
    older = [r for r in templates.list_templates(rt) if r.name == name and r.version < version]
    return max(older, key=lambda r: r.version, default=None)


def _diagram_of(rt: Runtime, record: TemplateRow | None) -> Markup | None:
    return workflow_svg(templates.workflow_for(rt, record).template) if record else None


def _diff(previous: TemplateRow | None, text: str, name: str, version: int) -> list[DiffLine]:
    if previous is None:
        return []
    lines = difflib.unified_diff(
        previous.source.splitlines(),
        text.splitlines(),
        fromfile=f"{name} 第{previous.version}版",
        tofile=f"{name} 第{version}版",
        lineterm="",
    )
    return [DiffLine(_kind(line), line) for line in lines]


def _kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "same")


def _numbered(text: str, problems: list[Problem]) -> list[SourceLine]:
    said: dict[int, list[str]] = {}
    for problem in problems:
        said.setdefault(problem.line, []).append(_problem(problem)["message"])
    return [
        SourceLine(n, line, tuple(said.get(n, ())))
        for n, line in enumerate(text.splitlines(), start=1)
    ]


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "line": problem.line,
        "column": problem.column,
        "message": problem.said(PAGE_LANGUAGE),
    }


def _lf(text: str) -> str:
    """Line ends as LF: a browser sends a form's text with CRLF, whatever the file had."""
    return text.replace("\r\n", "\n")


def _text_of(content: str | bytes) -> str | None:
    """The upload as text to number its lines, or None when it is not UTF-8 text at all."""
    if isinstance(content, str):
        return content
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text
