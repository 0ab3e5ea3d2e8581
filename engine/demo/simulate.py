"""`planflow simulate`: a whole year of plans replayed through the real scheduler cycle, in seconds.

On the demo's fresh temporary database (`demo_runtime`) it creates the plans (the six demo plans,
or more, for generated grassroots unions whose plans reuse the demo plans' items), lets simulated
people drive them to execution in January, report their monthly items through the year, evaluate
after the 1 December timer and be assessed by the county. Meanwhile a `SimulatedClock` jumps from
one moment that matters to the next (a person acts, a reminder or a delivery retry falls due, or
the next 09:00) and each time runs `run_cycle`, the scheduler's own tick, delivering in-process
through the `Send` it is given. It prints, per month, what went out and what fired.

People are seeded: the same seed replays the same year. Most items are reported done shortly
after their due date, so their overdue notices are skipped; a few are left undone, so those go to
the drafter and the supervisor. Some reviewers are late enough for task reminders and
escalations. An optional scheduler downtime shows the catch-up and missed reminders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from engine.cli.output import table
from engine.core.clock import SimulatedClock
from engine.core.errors import InputError, Problem
from engine.core.messages import Message, Recipient, ReminderKind
from engine.core.planfile import PlanSpec, parse_plan_file
from engine.core.planning import TASK_ESCALATION, item_due_date
from engine.demo import plan_files
from engine.demo.run import TZ, Echo, demo_runtime, local
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, GRASSROOTS, REVIEWER, TOWNSHIPS
from engine.service import directory
from engine.service.actions import act
from engine.service.cycle import CycleReport, run_cycle
from engine.service.dispatch import Send, in_process
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item, reporting_open
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store.statuses import DeliveryStatus, ItemStatus, ReminderStatus
from engine.store.tables import Delivery, Goal, MonthlyItem, Plan, Reminder

DEMO_PLANS = 6
LATE_SHARE = 0.25  # late reviewers (nudged, then escalated) and late year-end evaluations
UNDONE_SHARE = 0.1  # items never reported done while live: their overdue notices go out
COUNTY_ASSESSOR = COUNTY_APPROVERS[0]
DRAFTER_NAMES = ["张敏", "李强", "王芳", "刘洋", "陈晨", "杨帆", "黄磊", "赵丽", "周杰", "吴婷"]


@dataclass(frozen=True)
class Downtime:
    """The scheduler is down from 09:00 on `first_day` for `days` days; people still act."""

    first_day: dt.date
    days: int

    @classmethod
    def parse(cls, text: str, year: int) -> Downtime:
        """`MM-DD:DAYS` in `year`, e.g. `03-10:5`; ValueError saying what is wrong."""
        try:
            date, days = text.split(":")
            month, day = (int(part) for part in date.split("-"))
            downtime = cls(dt.date(year, month, day), int(days))
        except ValueError:
            raise ValueError(f"{text!r} is not MM-DD:DAYS of {year}, e.g. 03-10:5") from None
        if downtime.days < 1:
            raise ValueError(f"{text!r}: the scheduler must be down at least 1 day")
        return downtime

    @property
    def start(self) -> dt.datetime:
        return local(self.first_day.year, self.first_day.month, self.first_day.day)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)


@dataclass
class MonthTally:
    reminders: int = 0  # reminders that became sent
    deliveries: int = 0  # messages the channel accepted
    skipped: int = 0  # `unless: item_done` held, or the task had closed
    missed: int = 0
    undeliverable: int = 0
    escalations: int = 0
    timers: int = 0  # timer transitions fired

    def __iadd__(self, other: MonthTally) -> MonthTally:
        for name in _TALLIES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


_TALLIES = [f.name for f in dataclasses.fields(MonthTally)]


@dataclass
class Simulation:
    year: int
    plan_ids: list[int]
    months: dict[int, MonthTally] = field(default_factory=dict)  # 1–12
    cycles: int = 0
    problems: list[str] = field(default_factory=list)  # timers or escalations refused

    @property
    def total(self) -> MonthTally:
        total = MonthTally()
        for tally in self.months.values():
            total += tally
        return total


def simulate(
    *,
    year: int,
    send: Send,
    plans: int = DEMO_PLANS,
    seed: int = 0,
    downtime: Downtime | None = None,
    echo: Echo = print,
) -> Simulation:
    """Replay `year` on a temporary database and print the monthly table; see the module doc."""
    if plans < 1:
        raise InputError([Problem("plans", 0, 0, f"simulate at least 1 plan, not {plans}")])
    started = time.perf_counter()
    clock = SimulatedClock(local(year, 1, 2, 8))
    with demo_runtime(clock) as rt:
        echo(
            f"Planflow simulate: {plans} plan{'s' * (plans != 1)} through {year} (seed {seed}), "
            "the scheduler's cycle on a simulated clock"
        )
        if downtime is not None:
            echo(
                f"the scheduler is down from {downtime.start:%Y-%m-%d %H:%M} "
                f"to {downtime.end:%Y-%m-%d %H:%M}"
            )
        result = simulate_year(
            rt, clock, year=year, plans=plans, seed=seed, send=send, downtime=downtime
        )
        print_simulation(rt, result, echo)
    echo(f"\n{result.cycles} cycles in {time.perf_counter() - started:.1f} s (wall clock)")
    return result


def simulate_year(
    rt: Runtime,
    clock: SimulatedClock,
    *,
    year: int,
    send: Send,
    plans: int = DEMO_PLANS,
    seed: int = 0,
    downtime: Downtime | None = None,
) -> Simulation:
    """Create the plans and replay the year on `rt`, whose database holds the demo world."""
    unions = _unions(rt, year, plans)
    clock.set(local(year, 1, 2, 10))
    people = _People(rt, random.Random(seed), year, len(unions))
    plan_ids = []
    for index, union in enumerate(unions):
        plan_id = create_plan(rt, spec=union.spec, actor=union.drafter, source="simulate").plan_id
        people.plan_the_year(index, plan_id, union)
        plan_ids.append(plan_id)
    result = Simulation(year=year, plan_ids=plan_ids)
    _Replay(rt, clock, people, send, result, downtime).run()
    return result


def print_simulation(rt: Runtime, result: Simulation, echo: Echo) -> None:
    headers = (
        "month",
        "reminders sent",
        "(deliveries)",
        "skipped",
        "missed",
        "escalations",
        "timers",
    )

    def row(label: str, t: MonthTally) -> tuple[object, ...]:
        return (label, t.reminders, t.deliveries, t.skipped, t.missed, t.escalations, t.timers)

    rows = [row(f"{result.year}-{m:02d}", result.months.get(m, MonthTally())) for m in range(1, 13)]
    echo("")
    table(headers, [*rows, row("total", result.total)], echo=echo, indent="  ")
    total = result.total
    if total.undeliverable:
        echo(f"\nundeliverable (nobody held the role): {total.undeliverable}")
    for problem in result.problems:
        echo(f"refused: {problem}")
    sent = sent_by_kind(rt, result.plan_ids)
    echo("\nreminders sent by kind: " + ", ".join(f"{k} {n}" for k, n in sent.items()))
    with rt.database.session() as session:
        states = session.exec(
            select(Plan.state, func.count())
            .where(col(Plan.id).in_(result.plan_ids))
            .group_by(col(Plan.state))
        ).all()
    echo("\nplans at the end of the year: " + ", ".join(f"{s} {n}" for s, n in sorted(states)))


# --- the plans -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Union:
    """A union with a plan to simulate, and who drafts and reviews it."""

    spec: PlanSpec
    drafter: str
    reviewer: str | None  # the township's reviewer; None for a township's own plan


def _unions(rt: Runtime, year: int, count: int) -> list[_Union]:
    """The demo plans, then plans of generated grassroots unions cycling the demo plans' items."""
    demo = [dataclasses.replace(parse_plan_file(path), year=year) for path in plan_files()]
    unions = [
        _Union(
            spec,
            DRAFTER[spec.org],
            REVIEWER[GRASSROOTS[spec.org][1]] if spec.org in GRASSROOTS else None,
        )
        for spec in demo[:count]
    ]
    grassroots = [spec for spec in demo if spec.org in GRASSROOTS]
    towns = list(TOWNSHIPS.items())
    for number in range(len(unions) + 1, count + 1):
        town, town_name = towns[number % len(towns)]
        code = f"{town.removesuffix('-town')}-union-{number:03d}"
        name = f"{town_name.removesuffix('工会')}第{number}基层工会"
        directory.create_org(rt, code=code, name=name, parent=town)
        drafter = f"drafter-{code}"
        directory.create_user(
            rt,
            username=drafter,
            name=DRAFTER_NAMES[number % len(DRAFTER_NAMES)],
            org=code,
            roles=["drafter"],
        )
        model = grassroots[number % len(grassroots)]
        spec = dataclasses.replace(model, org=code, title=f"{name}{year}年工作计划")
        unions.append(_Union(spec, drafter, REVIEWER[town]))
    return unions


# --- the people ----------------------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    at: dt.datetime
    seq: int  # ties keep the order events were planned in
    run: Callable[[], bool] = field(compare=False)  # False: not possible yet, again tomorrow


class _People:
    """What the simulated people will do through the year, as timed events on a queue."""

    def __init__(self, rt: Runtime, rng: random.Random, year: int, plans: int) -> None:
        self.rt = rt
        self.rng = rng
        self.year = year
        # Who is late is drawn once, at least one of each, so even a small run shows the nudges.
        late = max(1, round(plans * LATE_SHARE))
        self.late_reviews = set(rng.sample(range(plans), late))
        self.late_evaluations = set(rng.sample(range(plans), late))
        self.queue: list[_Event] = []
        self._seq = itertools.count()

    def at(self, moment: dt.datetime, run: Callable[[], bool]) -> None:
        heapq.heappush(self.queue, _Event(moment, next(self._seq), run))

    def plan_the_year(self, index: int, plan_id: int, union: _Union) -> None:
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
        for item in _items(self.rt, plan_id):
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
        if _plan(self.rt, plan_id).state == "county_approval":
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
        for item in _items(self.rt, plan_id):
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
        with self.rt.database.session() as session:
            goals = list(session.exec(select(Goal).where(Goal.plan_id == plan_id)))
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

    def _reporting_open(self, plan_id: int) -> bool:
        plan = _plan(self.rt, plan_id)
        with self.rt.database.session() as session:
            template = workflow_by_id(self.rt, session, plan.template_id).template
        return reporting_open(template, plan.state, goals=False)


def _plan(rt: Runtime, plan_id: int) -> Plan:
    with rt.database.session() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return plan


def _items(rt: Runtime, plan_id: int) -> list[MonthlyItem]:
    with rt.database.session() as session:
        return list(
            session.exec(
                select(MonthlyItem)
                .where(MonthlyItem.plan_id == plan_id)
                .order_by(col(MonthlyItem.position))
            )
        )


# --- the clock -----------------------------------------------------------------------------------


class _Replay:
    """Moves the clock from one moment that matters to the next, running a cycle at each."""

    def __init__(
        self,
        rt: Runtime,
        clock: SimulatedClock,
        people: _People,
        send: Send,
        result: Simulation,
        downtime: Downtime | None,
    ) -> None:
        self.rt = rt
        self.clock = clock
        self.people = people
        self.result = result
        self.down = (downtime.start, downtime.end) if downtime else None
        self.end = local(people.year + 1, 1, 1, 0)
        self.publish = in_process(rt, self._counting(send))
        self.sent_before = 0

    def _counting(self, send: Send) -> Send:
        def counted(channel: str, recipient: Recipient, message: Message) -> None:
            send(channel, recipient, message)  # a DeliveryError is not counted: nothing went out
            self._month().deliveries += 1

        return counted

    def _month(self) -> MonthTally:
        month = self.clock().astimezone(TZ).month
        return self.result.months.setdefault(month, MonthTally())

    def run(self) -> None:
        now = self.clock()
        while now < self.end:
            # People first: what they did by now is what the cycle sees.
            queue = self.people.queue
            while queue and queue[0].at <= now:
                event = heapq.heappop(queue)
                if not event.run():
                    self.people.at(event.at + dt.timedelta(days=1), event.run)
            up = not self._scheduler_down(now)
            report = run_cycle(self.rt, self.publish) if up else None
            with self.rt.database.session() as session:
                if report is not None:
                    self._tally(report, session.exec(_SENT_MESSAGES).one())
                now = self._next_moment(now, session)
            self.clock.set(now)

    def _scheduler_down(self, now: dt.datetime) -> bool:
        return self.down is not None and self.down[0] <= now < self.down[1]

    def _tally(self, report: CycleReport, sent: int) -> None:
        self.result.cycles += 1
        month = self._month()
        month.skipped += report.sweep.skipped
        month.missed += report.sweep.missed
        month.undeliverable += report.sweep.undeliverable
        refused = [(t.plan_id, t.error) for t in report.timers] + [
            (e.plan_id, e.error) for e in report.escalations
        ]
        self.result.problems.extend(f"plan #{p}: {error}" for p, error in refused if error)
        month.timers += sum(1 for t in report.timers if t.error is None)
        month.escalations += sum(1 for e in report.escalations if e.error is None)
        month.reminders += sent - self.sent_before
        self.sent_before = sent

    def _next_moment(self, now: dt.datetime, session: Session) -> dt.datetime:
        """The next person's action, reminder or delivery retry, or the next 09:00, whichever
        comes first (and the scheduler's restart after a downtime)."""
        local_now = now.astimezone(TZ)
        nine = local_now.replace(hour=9, minute=0, second=0, microsecond=0)
        candidates = [nine if nine > local_now else nine + dt.timedelta(days=1), self.end]
        if self.people.queue:
            candidates.append(self.people.queue[0].at)
        if self.down is not None and now < self.down[1]:
            candidates.extend(moment for moment in self.down if moment > now)
        for due in (_NEXT_REMINDER, _NEXT_DELIVERY):
            moment = session.exec(due, params={"now": now}).one()
            if moment is not None:
                candidates.append(moment)
        return min(candidates)


def sent_by_kind(rt: Runtime, plan_ids: list[int]) -> dict[str, int]:
    """The reminders of these plans that were sent, per kind (notices such as 新的待办 included,
    escalation levels not: their `task_escalated` notice is the message), in `ReminderKind`
    order."""
    with rt.database.session() as session:
        counts = dict(
            session.exec(
                select(Reminder.kind, func.count())
                .where(_SENT, col(Reminder.plan_id).in_(plan_ids))
                .group_by(col(Reminder.kind))
            ).all()
        )
    return {kind.value: counts[kind] for kind in ReminderKind if counts.get(kind)}


# What the replay asks after every cycle, built once: a year is hundreds of cycles.
# An escalation level is "sent" once carried out; its notice is the reminder that counts.
_SENT = sa.and_(col(Reminder.status) == ReminderStatus.SENT, col(Reminder.kind) != TASK_ESCALATION)
_SENT_MESSAGES = select(func.count()).where(_SENT)
# Planned reminders include escalation levels: the replay stops when each falls due.
_NEXT_REMINDER = select(func.min(Reminder.fire_at)).where(
    Reminder.status == ReminderStatus.PLANNED, col(Reminder.fire_at) > bindparam("now")
)
_NEXT_DELIVERY = select(func.min(Delivery.next_attempt_at)).where(
    col(Delivery.status).in_(
        [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    ),
    col(Delivery.next_attempt_at) > bindparam("now"),
)
