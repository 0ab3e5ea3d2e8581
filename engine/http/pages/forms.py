"""The drafters' forms: the plan editor (`/plans/new`, `/plans/{id}/edit` while the plan is a
draft), the amendment of a live plan's monthly items (`/plans/{id}/amend`) and the year-end
self-evaluation (`/plans/{id}/report`).

Each page posts back to itself. A refused submit shows the form again as it was typed, each
problem in Chinese next to its field, and writes nothing; an accepted one is one call of the
service (`create_plan`, `edit_plan`; the reports, `year_end`) and answers 303 to the plan page.
Rows of the editor are added by htmx (`GET /plans/rows/{group}` gives an empty row) or, with no
script, by the same button posting the form (`add`), which shows it again one row longer.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from engine.core.errors import (
    ActionRefused,
    Conflict,
    NotAuthenticated,
    NotFound,
    PlanflowError,
)
from engine.core.i18n import N_
from engine.http.auth import FormCaller, PageCaller, runtime_of
from engine.http.errors import status_of
from engine.http.pages import plan_form, report_form
from engine.http.pages.form_fields import no_query, read_form
from engine.http.pages.plan_form import GROUPS, HEAD, PlanForm
from engine.http.rendering import render
from engine.service import year_end
from engine.service.callers import Caller
from engine.service.directory import list_orgs
from engine.service.export import export_plan
from engine.service.plan_views import PlanView, show_plan
from engine.service.plans import create_plan, edit_plan
from engine.service.possible import EDIT, REPORT_GOAL, REPORT_ITEM
from engine.service.runtime import Runtime
from engine.service.templates import get_template, list_templates, workflow_for
from engine.service.year_end import report_year_end

router = APIRouter()

KEY = re.compile(r"[0-9a-f]{32}")
BAD_KEY = N_("the form's key {value!r} is not one this site made; reload the page")
BAD_VERSION = N_("the form's plan version {value!r} is not a number; reload the page")
NOT_EDITABLE = N_(
    "plan #{plan_id} cannot be edited now: it is in {state_title}; a plan is edited while it is "
    "a draft, and its monthly items amended while it is carried out"
)
NO_SUCH_ROW = N_("there is no kind of row {group!r}")
SENT_BEFORE = N_(
    "this form was already sent, with other values; the plan may have changed since: open it "
    "again and make your change there"
)
NOT_REPORTABLE = N_(
    "plan #{plan_id} takes no year-end reports now: it is in {state_title}; item statuses are "
    "reported while it is carried out, goal actuals at its self-evaluation"
)
ROW_BUTTONS = ("add", "remove")


async def _posted(request: Request) -> FormData:
    return await request.form()  # parsed once: the CSRF check read it already


Posted = Annotated[FormData, Depends(_posted)]


# --------------------------------------------------------------------------- the plan editor


@router.get("/plans/new")
def new_plan_page(request: Request, caller: PageCaller) -> Response:
    no_query(request)
    rt = runtime_of(request)
    templates = _template_choices(rt)
    head = {
        "title": "",
        "year": str(rt.now().year + 1),
        "org": _own_org_code(rt, caller),
        "template": templates[0][0] if templates else "",
    }
    rows = {group: [plan_form.new_row(group)] for group in GROUPS}
    return _editor(request, caller, PlanForm(head=head, rows=rows), mode="new")


@router.post("/plans/new")
def create_plan_form(request: Request, caller: FormCaller, posted: Posted) -> Response:
    no_query(request)
    values, rows = read_form(posted, single={*HEAD, "key", *ROW_BUTTONS}, groups=GROUPS)
    key = _key(values.get("key"))
    form = plan_form.posted_form({name: values.get(name, "") for name in HEAD}, rows)
    if _moved_rows(form, values):
        return _editor(request, caller, form, mode="new")
    spec = plan_form.spec_of(form)
    if spec is not None:
        try:
            result = create_plan(
                runtime_of(request),
                spec=spec,
                actor=caller.username,
                source=plan_form.SOURCE,
                idempotency_key=key,
            )
        except PlanflowError as error:
            _refuse(form, error)
            return _editor(request, caller, form, mode="new", status_code=status_of(error))
        return _to_plan(result.plan_id)
    return _editor(request, caller, form, mode="new", status_code=422)


@router.get("/plans/{plan_id}/edit")
def edit_plan_page(plan_id: int, request: Request, caller: PageCaller) -> Response:
    no_query(request)
    rt = runtime_of(request)
    view = show_plan(rt, plan_id=plan_id, actor=caller.username)
    mode = _editing_mode(rt, view)
    if mode == "amend":
        return RedirectResponse(f"/plans/{plan_id}/amend", status_code=303)
    _require(mode == "edit", view)
    form = plan_form.form_of_spec(export_plan(rt, plan_id=plan_id, actor=caller.username))
    form.head = {"title": form.head["title"]}
    return _editor(request, caller, form, mode="edit", view=view)


@router.post("/plans/{plan_id}/edit")
def edit_plan_form(plan_id: int, request: Request, caller: FormCaller, posted: Posted) -> Response:
    return _save_edit(plan_id, request, caller, posted, mode="edit")


@router.get("/plans/{plan_id}/amend")
def amend_plan_page(plan_id: int, request: Request, caller: PageCaller) -> Response:
    no_query(request)
    rt = runtime_of(request)
    view = show_plan(rt, plan_id=plan_id, actor=caller.username)
    mode = _editing_mode(rt, view)
    if mode == "edit":
        return RedirectResponse(f"/plans/{plan_id}/edit", status_code=303)
    _require(mode == "amend", view)
    form = plan_form.form_of_spec(export_plan(rt, plan_id=plan_id, actor=caller.username))
    form.head, form.rows = {}, {"item": form.rows["item"]}
    return _editor(request, caller, form, mode="amend", view=view)


@router.post("/plans/{plan_id}/amend")
def amend_plan_form(plan_id: int, request: Request, caller: FormCaller, posted: Posted) -> Response:
    return _save_edit(plan_id, request, caller, posted, mode="amend")


def _save_edit(
    plan_id: int, request: Request, caller: Caller, posted: FormData, *, mode: str
) -> Response:
    """Edit a draft (`mode` "edit": title, sections, goals, items) or amend a live plan's items
    ("amend"), at the version the form was made from."""
    no_query(request)
    rt = runtime_of(request)
    view = show_plan(rt, plan_id=plan_id, actor=caller.username)
    _require(_editing_mode(rt, view) == mode, view)
    head_fields = ("title",) if mode == "edit" else ()
    groups = GROUPS if mode == "edit" else {"item": GROUPS["item"]}
    values, rows = read_form(
        posted, single={*head_fields, "version", "key", *ROW_BUTTONS}, groups=groups
    )
    key = _key(values.get("key"))
    version = _version(values.get("version"))
    form = plan_form.posted_form({name: values.get(name, "") for name in head_fields}, rows)
    if _moved_rows(form, values):
        return _editor(request, caller, form, mode=mode, view=view, version=version)
    base = export_plan(rt, plan_id=plan_id, actor=caller.username)
    spec = plan_form.spec_of(form, base=base)
    if spec is None:
        return _editor(
            request, caller, form, mode=mode, view=view, version=version, status_code=422
        )
    try:
        edit_plan(
            rt,
            plan_id=plan_id,
            spec=spec,
            actor=caller.username,
            idempotency_key=key,
            expected_version=version,
        )
    except PlanflowError as error:
        _refuse(form, error)
        return _editor(
            request,
            caller,
            form,
            mode=mode,
            view=view,
            version=version,
            status_code=status_of(error),
        )
    return _to_plan(plan_id)


@router.get("/plans/rows/{group}")
def empty_row(group: str, request: Request, caller: PageCaller) -> Response:
    """One empty row of the editor, for htmx to append (the 添加 buttons)."""
    no_query(request)
    if group not in GROUPS:
        raise NotFound(NO_SUCH_ROW, code="form.no_such_row", group=group)
    context = {"group": group, "row": plan_form.new_row(group), **_choices()}
    return render(request, "forms/row.html", context, caller=caller)


# ------------------------------------------------------------------------- the self-evaluation


@router.get("/plans/{plan_id}/report")
def report_page(plan_id: int, request: Request, caller: PageCaller) -> Response:
    no_query(request)
    view = show_plan(runtime_of(request), plan_id=plan_id, actor=caller.username)
    return _report_page(request, caller, view, _report_form(view))


@router.post("/plans/{plan_id}/report")
def report_plan(plan_id: int, request: Request, caller: FormCaller, posted: Posted) -> Response:
    """Report what changed on the form, goals and items, in one write of the service
    (`year_end.report_year_end`): the whole form is checked first, and a refusal of the service
    writes none of it."""
    no_query(request)
    rt = runtime_of(request)
    view = show_plan(rt, plan_id=plan_id, actor=caller.username)
    form = _report_form(view)
    values, _ = read_form(posted, single={*form.names, "key", "version"})
    key = _key(values.get("key"))
    version = _version(values.get("version"))
    report_form.fill(form, values)
    goals, items = report_form.reports_of(form)
    if form.failed:
        return _report_page(request, caller, view, form, version=version, status_code=422)
    if not (goals or items):  # nothing changed (also: the same form sent again, once done)
        return _to_plan(plan_id)
    if version != view.plan.version:
        error: PlanflowError = Conflict(
            "plan #{plan_id} changed since you loaded it (you saw version {expected_version}, "
            "it is now {actual_version}); reload it and decide again",
            code="plan.version_conflict",
            plan_id=plan_id,
            expected_version=version,
            actual_version=view.plan.version,
        )
        form.refuse(None, error)
        return _report_page(
            request, caller, view, form, version=version, status_code=status_of(error)
        )
    by_number = {item.position: item for item in view.items}
    try:
        report_year_end(
            rt,
            plan_id=plan_id,
            actor=caller.username,
            goals=[year_end.GoalReport(g.key, g.actual, g.note) for g in goals],
            items=[
                year_end.ItemReport(
                    by_number[i.number].month, by_number[i.number].title, i.status, i.note
                )
                for i in items
            ],
            idempotency_key=f"{key}-report",
            expected_version=version,
        )
    except PlanflowError as error:
        _refuse_report(form, error)
        view = show_plan(rt, plan_id=plan_id, actor=caller.username)  # what did get saved
        return _report_page(request, caller, view, form, status_code=status_of(error))
    return _to_plan(plan_id)


def _report_form(view: PlanView) -> report_form.ReportForm:
    goals, items = REPORT_GOAL in view.possible, REPORT_ITEM in view.possible
    if not (goals or items):
        raise ActionRefused(
            NOT_REPORTABLE,
            code="form.not_reportable",
            plan_id=view.plan.id,
            state=view.plan.state,
            state_title=view.state_title,
        )
    return report_form.report_form(view, goals=goals, items=items)


def _refuse_report(form: report_form.ReportForm, error: PlanflowError) -> None:
    if isinstance(error, NotAuthenticated) or error.code == "plan.not_found":
        raise error
    form.refuse(None, error)


def _report_page(
    request: Request,
    caller: Caller,
    view: PlanView,
    form: report_form.ReportForm,
    *,
    version: int | None = None,
    status_code: int = 200,
) -> Response:
    """The form at the version it was made from (`version`), else the plan's version now."""
    context = {
        "view": view,
        "form": form,
        "key": uuid.uuid4().hex,
        "version": view.plan.version if version is None else version,
        "statuses": report_form.STATUSES,
    }
    return render(request, "forms/report.html", context, caller=caller, status_code=status_code)


def _editor(
    request: Request,
    caller: Caller,
    form: PlanForm,
    *,
    mode: str,
    view: PlanView | None = None,
    version: int | None = None,
    status_code: int = 200,
) -> Response:
    rt = runtime_of(request)
    context: dict[str, Any] = {
        "form": form,
        "mode": mode,
        "view": view,
        "key": uuid.uuid4().hex,  # a fresh key per form shown: a double submit acts once
        "version": version if version is not None else (view.plan.version if view else None),
        "action": request.url.path,
        "orgs": _org_choices(rt, caller) if mode == "new" else [],
        "templates": _template_choices(rt) if mode == "new" else [],
        **_choices(),
    }
    return render(
        request, "forms/plan_editor.html", context, caller=caller, status_code=status_code
    )


def _choices() -> dict[str, Any]:
    return {"months": range(1, 13), "comparators": plan_form.COMPARATORS}


def _moved_rows(form: PlanForm, values: dict[str, str]) -> bool:
    """Whether the form was posted by a row button (no script): then it is only shown again."""
    if "add" in values:
        if not plan_form.add_row(form, values["add"]):
            raise ActionRefused(
                NO_SUCH_ROW, code="form.no_such_row", field="add", group=values["add"]
            )
        return True
    if "remove" in values:
        plan_form.remove_row(form, values["remove"])  # a row already gone: shown as it is
        return True
    return False


def _refuse(form: PlanForm, error: PlanflowError) -> None:
    """Show the service's refusal on the form, unless it is one the page itself answers."""
    if isinstance(error, NotAuthenticated) or error.code == "plan.not_found":
        raise error
    if error.code == "idempotency.request_differs":  # an old page sent again, changed
        error = Conflict(SENT_BEFORE, code="form.sent_before")
    form.refuse(error)


def _editing_mode(rt: Runtime, view: PlanView) -> str | None:
    """ "edit" (a draft), "amend" (a live plan's items) or None, for the plan's owners."""
    if EDIT not in view.possible:
        return None
    plan = view.plan
    state = workflow_for(rt, get_template(rt, plan.template_name, plan.template_version)).state(
        plan.state
    )
    if state.initial:
        return "edit"
    return "amend" if state.items_live else None


def _require(allowed: bool, view: PlanView) -> None:
    if not allowed:
        raise ActionRefused(
            NOT_EDITABLE,
            code="form.not_editable",
            plan_id=view.plan.id,
            state=view.plan.state,
            state_title=view.state_title,
        )


def _key(value: str | None) -> str:
    if value is None or not KEY.fullmatch(value):
        raise ActionRefused(BAD_KEY, code="form.bad_key", field="key", value=value or "")
    return value


def _version(value: str | None) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 12:
        raise ActionRefused(
            BAD_VERSION, code="form.bad_version", field="version", value=value or ""
        )
    return int(value)


def _to_plan(plan_id: int) -> Response:
    return RedirectResponse(f"/plans/{plan_id}", status_code=303)


def _own_org_code(rt: Runtime, caller: Caller) -> str:
    return next((org.code for org in list_orgs(rt) if org.id == caller.person.org_id), "")


def _org_choices(rt: Runtime, caller: Caller) -> list[tuple[str, str]]:
    """The caller's organisation and those below it (the service decides which they may plan
    for), as (code, name), the caller's own first."""
    orgs = list_orgs(rt)
    below: dict[int | None, list[Any]] = {}
    for org in orgs:
        below.setdefault(org.parent_id, []).append(org)
    own = [org for org in orgs if org.id == caller.person.org_id]
    choices, stack = [], list(own)
    while stack:
        org = stack.pop(0)
        choices.append((org.code, org.name))
        stack.extend(below.get(org.id, []))
    return choices


def _template_choices(rt: Runtime) -> list[tuple[str, str]]:
    """Each loaded template once (a new plan starts on its newest version), as (name, title)."""
    newest: dict[str, str] = {}
    for record in list_templates(rt):  # by name, then version: the last one wins
        newest[record.name] = record.title
    return list(newest.items())
