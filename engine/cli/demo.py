"""`planflow demo`: the demo's year (`engine.demo.run`) printed as a township official reads it.

The timeline from the audit log (who did what, from which step to which, with their comment;
item and goal reports counted per month instead), the item reminders planned per month, and the
plans at the end of the year with their assessment.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import typer

from engine.cli.output import number, table
from engine.core.i18n import _
from engine.demo.run import YEAR, DemoYear, demo_year
from engine.demo.runtime import TZ

Echo = Callable[[str], object]
REPORTS = {"report_item", "report_goal"}
SYSTEM = "系统(定时)"  # who acted when nobody did: a timer or an escalation


def run_demo(*, echo: Echo = typer.echo) -> DemoYear:
    """Run the demo's year and print it."""
    started = time.perf_counter()
    echo(
        _("Planflow demo: a county federation's {year} work plans, on a simulated clock", year=YEAR)
        + "\n"
    )
    year = demo_year()
    print_timeline(year, echo)
    print_summary(year, echo)
    echo("\n" + _("done in {seconds:.1f} s (wall clock)", seconds=time.perf_counter() - started))
    return year


def print_timeline(year: DemoYear, echo: Echo) -> None:
    echo(_("Timeline, from the audit log (item and goal reports are counted per month below)"))
    reports: Counter[str] = Counter()
    rows = []
    for event in year.timeline:
        when = event.at.astimezone(TZ)
        if event.action in REPORTS:
            reports[f"{when:%Y-%m}"] += 1
            continue
        titles = year.state_titles[event.template_id]
        before = titles[event.from_state] if event.from_state else "·"
        after = titles[event.to_state or ""]
        move = f"{before} → {after}" if event.from_state != event.to_state else f"（仍在{after}）"
        rows.append(
            (
                f"{when:%Y-%m-%d %H:%M}",
                event.union,
                event.actor or SYSTEM,
                event.action,
                move,
                event.comment or "",
            )
        )
    headers = [_("time"), _("union"), _("who"), _("action"), _("state"), _("comment")]
    table(headers, rows, echo=echo, indent="  ")
    per_month = ", ".join(f"{month}: {count}" for month, count in sorted(reports.items()))
    echo("\n" + _("Reports filed per month: {counts}", counts=per_month))


def print_summary(year: DemoYear, echo: Echo) -> None:
    per_month = Counter(f"{moment.astimezone(TZ):%Y-%m}" for moment in year.item_reminders)
    echo(_("Item reminders planned while the plans were live, by month they fall due:"))
    echo("  " + ", ".join(f"{month}: {count}" for month, count in sorted(per_month.items())))
    echo("\n" + _("Plans at the end of the year"))
    rows = [
        (p.id, p.union, p.state, number(p.assessment_score), p.assessment_comment)
        for p in year.plans
    ]
    headers = ["#", _("union"), _("state"), _("score"), _("assessment")]
    table(headers, rows, echo=echo, indent="  ")
