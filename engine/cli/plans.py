"""`planflow plan …`, `act`, `report …` and `inbox`: working on plans."""

from __future__ import annotations

from calendar import monthrange
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from engine.cli.context import ActingUser, JsonFlag, runtime
from engine.cli.labels import Titles, titles
from engine.cli.output import as_json, local, number, table
from engine.core.errors import PlanflowError
from engine.core.i18n import _, current_language
from engine.core.planfile import PlanSpec, parse_plan_file
from engine.core.planning import item_due_date
from engine.service import inbox as inbox_service
from engine.service import plan_views, plans, reporting
from engine.service.actions import act as act_service
from engine.service.returns import ReturnNote
from engine.service.runtime import Runtime
from engine.service.writes import WriteResult
from engine.store.statuses import ItemStatus

app = typer.Typer(help="Annual work plans.", no_args_is_help=True)
reports = typer.Typer(
    help="Year-end reports: goal actuals and item statuses.", no_args_is_help=True
)

PlanId = Annotated[int, typer.Argument(help="Plan number, as `plan list` shows it.")]
Key = Annotated[
    str | None,
    typer.Option("--key", help="Idempotency key: repeating a request with it changes nothing."),
]


def _spec(path: Path) -> PlanSpec:
    return parse_plan_file(path)  # reads no more than the size limit allows


def _done(result: WriteResult, rt: Runtime, actor: str) -> None:
    names = _plan_titles(rt, result.plan_id, actor)
    before, after = names.state(result.from_state or ""), names.state(result.to_state)
    if not result.from_state:
        moved = _("created in {state}", state=after)
    elif result.from_state != result.to_state:
        moved = f"{before} → {after}"
    else:
        moved = _("still {state}", state=after)
    extra = ""
    if result.detail and "signed" in result.detail:
        extra = _(
            " (signed {signed} of {of})", signed=result.detail["signed"], of=result.detail["of"]
        )
    again = _(" (repeated request: nothing changed)") if result.replayed else ""
    typer.echo(
        _(
            "plan #{plan_id}: {action}: {moved}{extra}, version {version}{again}",
            plan_id=result.plan_id,
            action=result.action,
            moved=moved,
            extra=extra,
            version=result.version,
            again=again,
        )
    )


def _plan_titles(rt: Runtime, plan_id: int, actor: str) -> Titles:
    """The titles of the plan's template (an extra read, made only when titles are shown)."""
    if current_language() == "en":
        return Titles(None)
    try:
        plan = plan_views.show_plan(rt, plan_id=plan_id, actor=actor).plan
    except PlanflowError:  # out of the actor's sight now (a hand-over): ids say it too
        return Titles(None)
    return titles(rt, plan.template_name, plan.template_version)


@app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", help="Plan file (YAML or JSON).")],
    actor: ActingUser,
    key: Key = None,
) -> None:
    """Create a plan from a plan file."""
    rt = runtime()
    _done(
        plans.create_plan(rt, spec=_spec(file), actor=actor, source=str(file), idempotency_key=key),
        rt,
        actor,
    )


@app.command("edit")
def edit(
    plan_id: PlanId,
    file: Annotated[Path, typer.Option("--file", help="The plan's new content.")],
    actor: ActingUser,
    expect_version: Annotated[int | None, typer.Option(help="Refuse if the plan moved on.")] = None,
    key: Key = None,
) -> None:
    """Replace a draft plan's content, or amend a live plan's monthly items (reminders follow)."""
    rt = runtime()
    _done(
        plans.edit_plan(
            rt,
            plan_id=plan_id,
            spec=_spec(file),
            actor=actor,
            idempotency_key=key,
            expected_version=expect_version,
        ),
        rt,
        actor,
    )


@app.command("export")
def export(plan_id: PlanId, actor: ActingUser) -> None:
    """Print the plan as a plan file (YAML), the form `plan create` and `plan edit` read."""
    from engine.core.planfile_export import write_plan_file
    from engine.service.export import export_plan

    spec = export_plan(runtime(), plan_id=plan_id, actor=actor)
    typer.echo(write_plan_file(spec, source=f"plan #{plan_id}"), nl=False)


@app.command("show")
def show(plan_id: PlanId, actor: ActingUser, json_: JsonFlag = False) -> None:
    """A plan with its goals, monthly items, open task and what you may do now."""
    rt = runtime()
    view = plan_views.show_plan(rt, plan_id=plan_id, actor=actor)
    tz = rt.default_timezone
    p = view.plan
    if json_:
        as_json(
            {
                "id": p.id,
                "org": view.org.code,
                "year": p.year,
                "title": p.title,
                "template": {"name": p.template_name, "version": p.template_version},
                "state": p.state,
                "version": p.version,
                "possible": view.possible,
                "sections": [{"heading": s.heading, "body": s.body} for s in view.sections],
                "goals": [
                    {
                        "key": g.key,
                        "title": g.title,
                        "target": g.target,
                        "unit": g.unit,
                        "comparator": g.comparator,
                        "allow_negative": g.allow_negative,
                        "actual": g.actual,
                        "note": g.actual_note,
                    }
                    for g in view.goals
                ],
                "items": [
                    {
                        "number": i.position,
                        "month": i.month,
                        "title": i.title,
                        "due_day": i.due_day,
                        "due_date": item_due_date(p.year, i.month, i.due_day),
                        "status": i.status,
                        "note": i.report_note,
                    }
                    for i in view.items
                ],
                "tasks": [
                    {
                        "state": t.state,
                        "role": t.role,
                        "status": t.status,
                        "due_at": t.due_at,
                        "outcome": t.outcome,
                    }
                    for t in view.tasks
                ],
                "assessment": {"score": p.assessment_score, "comment": p.assessment_comment},
                "returned": _returned_json(view.returned),
            }
        )
        return
    names = titles(rt, p.template_name, p.template_version)
    typer.echo(f"#{p.id} {p.title}  [{view.org.name} · {p.year}]")
    typer.echo(
        _(
            "state: {title} ({state})  version {version}  template {template} v{template_version}",
            title=view.state_title,
            state=p.state,
            version=p.version,
            template=p.template_name,
            template_version=p.template_version,
        )
    )
    for task in view.tasks:
        if task.status == "open":
            typer.echo(
                _(
                    "open task: {role} (sign {sign}), due {due}",
                    role=names.role(task.role),
                    sign=task.sign,
                    due=local(task.due_at, tz),
                )
            )
            for user, signer in view.signers.get(task.id or 0, []):
                decision = signer.decision or _("waiting")
                typer.echo(_("  signer {name}: {decision}", name=user.name, decision=decision))
    if view.returned is not None:
        typer.echo(_returned_line(view.returned, tz))
    possible = ", ".join(view.possible) or _("nothing")
    typer.echo(_("you may now: {actions}", actions=possible))
    if p.assessment_score is not None:
        typer.echo(
            _(
                "assessment: {score} — {comment}",
                score=number(p.assessment_score),
                comment=p.assessment_comment,
            )
        )
    typer.echo("")
    table(
        [_("goal"), _("title"), _("target"), _("actual")],
        [
            (
                g.key,
                g.title,
                f"{g.comparator} {number(g.target)} {g.unit}"
                + (_(" (negative allowed)") if g.allow_negative else ""),
                f"{number(g.actual)} {g.unit}" if g.actual is not None else "",
            )
            for g in view.goals
        ],
    )
    typer.echo("")
    table(
        ["#", _("month"), _("due"), _("item"), _("status")],
        [
            (i.position, f"{i.month}月", _due(p.year, i.month, i.due_day), i.title, i.status or "")
            for i in view.items
        ],
    )


def _due(year: int, month: int, due_day: int | None) -> str:
    """The day an item is really due: 31 in June is the 30th, the month's end (月末)."""
    due = item_due_date(year, month, due_day)
    last = due.day == monthrange(year, month)[1]
    return f"{due.day} 月末" if last else str(due.day)


@app.command("list")
def list_(
    actor: ActingUser,
    year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only plans in this state: its name or title (草稿).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    json_: JsonFlag = False,
) -> None:
    """Plans within your scope, newest first."""
    rt = runtime()
    rows = plan_views.list_plans(rt, actor=actor, year=year, state=state, limit=limit)
    if json_:
        as_json(
            [
                {
                    "id": p.id,
                    "org": o.code,
                    "year": p.year,
                    "title": p.title,
                    "state": p.state,
                    "version": p.version,
                }
                for p, o in rows
            ]
        )
    else:
        names: dict[tuple[str, int], Titles] = {}
        for p, _o in rows:
            key = (p.template_name, p.template_version)
            if key not in names:
                names[key] = titles(rt, *key)
        table(
            ["#", _("org"), _("year"), _("state"), _("title")],
            [
                (
                    p.id,
                    o.name,
                    p.year,
                    names[(p.template_name, p.template_version)].state(p.state),
                    p.title,
                )
                for p, o in rows
            ],
        )


@app.command("history")
def history(plan_id: PlanId, actor: ActingUser, json_: JsonFlag = False) -> None:
    """The plan's audit trail: who did what, when, from which state to which."""
    rt = runtime()
    entries = plan_views.plan_history(rt, plan_id=plan_id, actor=actor)
    if json_:
        as_json(
            [
                {
                    "at": e.event.at,
                    "actor": e.actor,
                    "actor_username": e.actor_username,
                    "action": e.event.action,
                    "from": e.event.from_state or None,
                    "to": e.event.to_state,
                    "comment": e.event.comment,
                    "version": e.event.plan_version,
                    "idempotency_key": e.event.idempotency_key,
                    "detail": e.detail,
                    "summary": e.summary,
                }
                for e in entries
            ]
        )
        return
    tz = rt.default_timezone
    names = _plan_titles(rt, plan_id, actor)
    table(
        [_("at"), _("who"), _("action"), _("from → to"), _("comment"), _("detail")],
        [
            (
                local(e.event.at, tz),
                e.actor,
                e.event.action,
                f"{names.state(e.event.from_state) if e.event.from_state else '·'} → "
                f"{names.state(e.event.to_state or '')}",
                e.event.comment or "",
                e.summary,
            )
            for e in entries
        ],
    )


def act(
    plan_id: PlanId,
    trigger: Annotated[str, typer.Argument(help="What to do, e.g. submit, approve, return.")],
    actor: ActingUser,
    comment: Annotated[str | None, typer.Option(help="Why; required for some actions.")] = None,
    score: Annotated[float | None, typer.Option(help="Assessment score, where asked.")] = None,
    expect_version: Annotated[int | None, typer.Option(help="Refuse if the plan moved on.")] = None,
    key: Key = None,
) -> None:
    """Act on a plan: submit, approve, return, withdraw, assess, …"""
    rt = runtime()
    _done(
        act_service(
            rt,
            plan_id=plan_id,
            trigger=trigger,
            actor=actor,
            comment=comment,
            score=score,
            idempotency_key=key,
            expected_version=expect_version,
        ),
        rt,
        actor,
    )


def inbox(actor: ActingUser, json_: JsonFlag = False) -> None:
    """Open tasks you may act on, overdue first; then your plans returned to draft, and why."""
    rt = runtime()
    entries = inbox_service.inbox(rt, actor=actor)
    returned = inbox_service.returned_plans(rt, actor=actor)
    if json_:
        as_json(
            [
                {
                    "plan": e.plan.id,
                    "org": e.org.code,
                    "title": e.plan.title,
                    "state": e.plan.state,
                    "due_at": e.task.due_at,
                    "overdue": e.overdue,
                    "escalated": e.escalated,
                    "actions": e.triggers,
                    "returned": None,
                }
                for e in entries
            ]
            + [
                {
                    "plan": r.plan.id,
                    "org": r.org.code,
                    "title": r.plan.title,
                    "state": r.plan.state,
                    "due_at": None,
                    "overdue": False,
                    "escalated": False,
                    "actions": r.actions,
                    "returned": _returned_json(r.returned),
                }
                for r in returned
            ]
        )
        return
    tz = rt.default_timezone
    table(
        [_("plan"), _("org"), _("step"), _("due"), _("flags"), _("actions")],
        [
            (
                e.plan.id,
                e.org.name,
                e.state_title,
                local(e.task.due_at, tz),
                # ESCALATED: an overdue step handed up to you; you may act as its own role.
                " ".join(
                    flag for flag, on in (("OVERDUE", e.overdue), ("ESCALATED", e.escalated)) if on
                ),
                ", ".join(e.triggers),
            )
            for e in entries
        ]
        # RETURNED: your plan, sent back to draft; the reason is printed below the table.
        + [
            (r.plan.id, r.org.name, r.state_title, "", "RETURNED", ", ".join(r.actions))
            for r in returned
        ],
    )
    for r in returned:
        typer.echo(
            _("plan #{plan_id}: {line}", plan_id=r.plan.id, line=_returned_line(r.returned, tz))
        )


def _returned_line(returned: ReturnNote, tz: ZoneInfo) -> str:
    """Who returned the plan, when, from which step, and why."""
    return _(
        "returned by {by} on {at} from {step}: {reason}",
        by=returned.by,
        at=local(returned.at, tz),
        step=returned.step_title,
        reason=returned.reason,
    )


def _returned_json(returned: ReturnNote | None) -> dict[str, object] | None:
    if returned is None:
        return None
    return {
        "by": returned.by,
        "by_username": returned.by_username,
        "at": returned.at,
        "from": returned.from_state,
        "action": returned.action,
        "reason": returned.reason,
    }


# A negative actual (`-5`) is a value, not an unknown option; the service says if it may be one.
@reports.command("goal", context_settings={"ignore_unknown_options": True})
def report_goal(
    plan_id: PlanId,
    goal: Annotated[str, typer.Argument(help="Goal key, as `plan show` lists it.")],
    actual: Annotated[float, typer.Argument(help="The value reached.")],
    actor: ActingUser,
    note: Annotated[str | None, typer.Option(help="How it went.")] = None,
    key: Key = None,
) -> None:
    """Report the actual value reached for a goal."""
    rt = runtime()
    _done(
        reporting.report_goal(
            rt,
            plan_id=plan_id,
            actor=actor,
            goal_key=goal,
            actual=actual,
            note=note,
            idempotency_key=key,
        ),
        rt,
        actor,
    )


@reports.command("item")
def report_item(
    plan_id: PlanId,
    item: Annotated[int, typer.Argument(help="Item number, as `plan show` lists it.")],
    status: Annotated[ItemStatus, typer.Argument(help="done, partly or not_done.")],
    actor: ActingUser,
    note: Annotated[str | None, typer.Option(help="Needed unless done.")] = None,
    key: Key = None,
) -> None:
    """Report what became of a monthly item."""
    rt = runtime()
    _done(
        reporting.report_item(
            rt,
            plan_id=plan_id,
            actor=actor,
            item_number=item,
            status=status,
            note=note,
            idempotency_key=key,
        ),
        rt,
        actor,
    )
