"""The simulated people of `planflow simulate`: who does what to each plan, and when.

For each plan the year is planned up front as timed events on one queue: the drafter submits in
early January, the township reviews (a grassroots plan) and the county signs; through the year
the drafter reports each monthly item done a few days after it is due, leaving a few undone; in
December the drafter reports the rest and the goals, submits the self-evaluation, and the county
assesses. Everything they do goes through the service, as a person's action would.

The choices are drawn from a seeded `random.Random`, so a seed replays the same year. A quarter
of the reviewers are late enough for the task reminders and the escalation, a quarter of the
unions evaluate late; at least one of each, so that even a small run shows them.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from engine.core.planning import item_due_date
from engine.demo.runtime import local
from engine.demo.unions import SimulatedUnion
from engine.demo.world import COUNTY_APPROVERS
from engine.service.actions import act
from engine.service.reporting import report_goal, report_item, reporting_open
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store.progress import ItemProgress, plan_goals, plan_items, plan_standing
from engine.store.statuses import ItemStatus

LATE_SHARE = 0.25  # late reviewers (nudged, then escalated) and late year-end evaluations
UNDONE_SHARE = 0.1  # items never reported done while live: their overdue notices go out
COUNTY_ASSESSOR = COUNTY_APPROVERS[0]


@dataclass(order=True)
class Event:
    """Something a person does at `at`; `run` answers False when it is not possible yet."""

    at: dt.datetime
    seq: int  # ties keep the order events were planned in
    run: Callable[[], bool] = field(compare=False)


class People:
    """What the simulated people will do through the year, as timed events on a queue."""

    def __init__(self, rt: Runtime, rng: random.Random, year: int, plans: int) -> None:
        self.rt = rt
        self.rng = rng
        self.year = year
        # Who is late is drawn once, at least one of each, so even a small run shows the nudges.
        late = max(1, round(plans * LATE_SHARE))
        self.late_reviews = set(rng.sample(range(plans), late))
        self.late_evaluations = set(rng.sample(range(plans), late))
        self.queue: list[Event] = []
        self._seq = itertools.count()

    def at(self, moment: dt.datetime, run: Callable[[], bool]) -> None:
        heapq.heappush(self.queue, Event(moment, next(self._seq), run))

    @property
    def next_at(self) -> dt.datetime | None:
        """When the next person acts; None when nobody will any more."""
        return self.queue[0].at if self.queue else None

    def act_until(self, now: dt.datetime) -> None:
        """Everything due by `now`, in order; what is not possible yet is tried again a day
        later."""
        queue = self.queue
        while queue and queue[0].at <= now:
            event = heapq.heappop(queue)
            if not event.run():
                self.at(event.at + dt.timedelta(days=1), event.run)

    def plan_the_year(self, index: int, plan_id: int, union: SimulatedUnion) -> None:
        rng, year, drafter = self.rng, self.year, union.drafter
        submitted = local(year, 1, 4 + index % 4, 9, 30)
        self.at(submitted, partial(self._act, plan_id, "submit", drafter))
        late = index in self.late_reviews
        if union.reviewer is not None:  # grassroots: the township reviews, the county countersigns
            days = rng.randint(11, 12) if late else 1
            reviewed = submitted + dt.timedelta(days=days, hours=1)
            self.at(
                reviewed,
                partial(self._act, plan_id, "approve", union.reviewer, "同意，报县总工会审批"),
            )
            for offset, approver in enumerate(COUNTY_APPROVERS, start=1):
                when = reviewed + dt.timedelta(days=offset, hours=offset)
                self.at(when, partial(self._county_signs, plan_id, approver))
        else:  # a township's own plan: one county approver decides
            approved = submitted + dt.timedelta(days=rng.randint(6, 7) if late else 1, hours=2)
            self.at(approved, partial(self._county_signs, plan_id, COUNTY_APPROVERS[0]))
        self._report_items(plan_id, drafter)
        self._evaluate(plan_id, drafter, late=index in self.late_evaluations)

    def _report_items(self, plan_id: int, drafter: str) -> None:
        """Items are reported done a few days after they are due; a few are left undone."""
        for item in self._items(plan_id):
            if item.month == 12 or self.rng.random() < UNDONE_SHARE:
                continue  # reported at the year-end evaluation
            due = item_due_date(self.year, item.month, item.due_day)
            when = local(due.year, due.month, due.day, 16) + dt.timedelta(
                days=self.rng.randint(0, 5), minutes=self.rng.randint(0, 90)
            )
            self.at(when, partial(self._report_done, plan_id, drafter, item.position))

    def _evaluate(self, plan_id: int, drafter: str, *, late: bool) -> None:
        """After the 1 December timer: the remaining reports, the submission, the assessment.

        A late union submits after its self-evaluation was due (20 days from 1 December), and
        the county then assesses it at the very end of the year.
        """
        # From 8 December: every item's done-report (due by 30 November, reported within five
        # days) has come in by then.
        rng = self.rng
        reported = local(self.year, 12, rng.randint(19, 20) if late else rng.randint(8, 14), 10)
        submitted = (
            local(self.year, 12, 22, 15)
            if late
            else reported + dt.timedelta(days=rng.randint(0, 3), hours=5)
        )
        assessed = (
            local(self.year, 12, 30, 10)
            if late
            else submitted + dt.timedelta(days=rng.randint(1, 5), hours=-1)
        )
        score = float(self.rng.randint(80, 98))
        self.at(reported, partial(self._year_end_reports, plan_id, drafter))
        self.at(submitted, partial(self._act, plan_id, "submit_evaluation", drafter))
        self.at(assessed, partial(self._assess, plan_id, score))

    # What they do when the time comes.

    def _act(self, plan_id: int, trigger: str, actor: str, comment: str | None = None) -> bool:
        act(self.rt, plan_id=plan_id, trigger=trigger, actor=actor, comment=comment)
        return True

    def _county_signs(self, plan_id: int, approver: str) -> bool:
        # 会签 needs every county approver, 或签 one: once the plan has moved on, the rest wait no
        # longer.
        if self._state(plan_id) == "county_approval":
            self._act(plan_id, "approve", approver, "同意")
        return True

    def _report_done(self, plan_id: int, drafter: str, number: int) -> bool:
        if not self._reporting_open(plan_id):
            return False  # the plan is not live yet (a late approval): report once it is
        report_item(
            self.rt, plan_id=plan_id, actor=drafter, item_number=number, status=ItemStatus.DONE
        )
        return True

    def _year_end_reports(self, plan_id: int, drafter: str) -> bool:
        for item in self._items(plan_id):
            if item.status is not None:
                continue
            if item.month == 12:
                status, note = ItemStatus.DONE, None
            elif self.rng.random() < 0.5:
                status, note = ItemStatus.PARTLY, "受场地和经费限制，部分完成"
            else:
                status, note = ItemStatus.NOT_DONE, "因工作调整未能开展，计划明年落实"
            report_item(
                self.rt,
                plan_id=plan_id,
                actor=drafter,
                item_number=item.position,
                status=status,
                note=note,
            )
        with self.rt.database.read() as tx:
            goals = plan_goals(tx, plan_id=plan_id)
        for goal in goals:
            factor = {">=": 1.05, "<=": 0.95}.get(goal.comparator, 1.0)
            report_goal(
                self.rt,
                plan_id=plan_id,
                actor=drafter,
                goal_key=goal.key,
                actual=round(goal.target * factor, 1),
                note="见年度工作总结",
            )
        return True

    def _assess(self, plan_id: int, score: float) -> bool:
        comment = "全年计划落实较好" if score >= 90 else "部分事项完成不足，明年需加强"
        act(
            self.rt,
            plan_id=plan_id,
            trigger="assess",
            actor=COUNTY_ASSESSOR,
            score=score,
            comment=comment,
        )
        return True

    # What they look at first.

    def _items(self, plan_id: int) -> list[ItemProgress]:
        with self.rt.database.read() as tx:
            return plan_items(tx, plan_id=plan_id)

    def _state(self, plan_id: int) -> str:
        with self.rt.database.read() as tx:
            plan = plan_standing(tx, plan_id=plan_id)
        assert plan is not None  # the people act only on plans they created
        return plan.state

    def _reporting_open(self, plan_id: int) -> bool:
        with self.rt.database.read() as tx:
            plan = plan_standing(tx, plan_id=plan_id)
            assert plan is not None
            template = workflow_by_id(self.rt, tx, plan.template_id).template
        return reporting_open(template, plan.state, goals=False)
