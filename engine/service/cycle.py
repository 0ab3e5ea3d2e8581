"""One scheduler tick: everything that happens because time passed.

`run_cycle` hands over open work left waiting on someone who can no longer act (`stranded`),
fires due timer transitions, opens due escalations, sweeps due reminders into deliveries and
publishes them. The scheduler process calls it every few seconds (workers/
scheduler.py); `planflow simulate` calls it while moving a simulated clock. Every step is a
database sweep that is safe to run from two processes at once, so running it twice, late or
concurrently never sends anything twice; a cycle after downtime catches up by itself.

Each step runs even when the one before it failed (a step's failure is logged and reported in
`CycleReport.failures`), and within the steps each plan, level and reminder is isolated from the
others (`stranded`, `timers`, `escalations`, `dispatch`): nothing one broken plan does stops a
reminder for anyone else.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from engine.service.cycle_failures import describe
from engine.service.dispatch import Publish, SweepReport, publish_outbox, sweep_reminders
from engine.service.escalations import EscalationOutcome, fire_due_escalations
from engine.service.runtime import Runtime
from engine.service.stranded import HandoverOutcome, hand_over_stranded
from engine.service.timers import TimerOutcome, fire_due_timers, next_timer_due_in
from engine.store.schedule import next_due, work_due
from engine.store.timers import next_retry

log = logging.getLogger("planflow.cycle")

T = TypeVar("T")


@dataclass(frozen=True)
class StepFailure:
    """A step of the cycle that failed as a whole (the database went away, a bug)."""

    step: str  # handovers, timers, escalations, sweep, publish
    error: str


@dataclass(frozen=True)
class CycleReport:
    timers: list[TimerOutcome]
    escalations: list[EscalationOutcome]
    sweep: SweepReport
    published: int  # outbox batches handed to `publish`
    failures: tuple[StepFailure, ...] = ()
    handovers: list[HandoverOutcome] = field(default_factory=list)  # plans' stranded work

    @property
    def idle(self) -> bool:
        return (
            not (
                self.handovers or self.timers or self.escalations or self.published or self.failures
            )
            and self.sweep == SweepReport()
        )

    @property
    def failed(self) -> int:
        """How many steps failed as a whole, and plans whose timer, escalation or hand-over did."""
        return (
            len(self.failures)
            + sum(1 for t in self.timers if t.error)
            + sum(1 for e in self.escalations if e.error)
            + sum(1 for h in self.handovers if h.error)
        )

    def summary(self) -> str:
        """One line for the log."""
        failed = sum(1 for t in self.timers if t.error) + sum(
            1 for e in self.escalations if e.error
        )
        sweep = self.sweep
        refused = sum(1 for h in self.handovers if h.error)
        return (
            f"timers fired {len(self.timers)}, escalations {len(self.escalations)}"
            f"{f' ({failed} refused)' if failed else ''}; "
            f"stranded plans handed over {len(self.handovers) - refused}"
            f"{f' ({refused} refused)' if refused else ''}; reminders queued {sweep.queued} "
            f"({sweep.deliveries} deliveries), skipped {sweep.skipped}, missed {sweep.missed}, "
            f"undeliverable {sweep.undeliverable}; requeued {sweep.requeued}; "
            f"batches published {self.published}"
            + "".join(f"; {f.step} failed: {f.error}" for f in self.failures)
        )


STEPS = 5


def run_cycle(rt: Runtime, publish: Publish) -> CycleReport:
    """Run the cycle's steps, each even when the one before failed (see the module doc).

    When every step failed, nothing worked (the database is unreachable): the first step's error
    is raised, for the caller to report once, instead of five times the same line.
    """
    errors: list[tuple[str, Exception]] = []

    def step(name: str, run: Callable[[], T], nothing: T) -> T:
        try:
            return run()
        except Exception as error:  # this step only: the next ones still run
            errors.append((name, error))
            return nothing

    # Hand-overs first, so that timers and escalations find the tasks with their holders.
    no_handovers: list[HandoverOutcome] = []
    handovers = step("handovers", lambda: hand_over_stranded(rt), no_handovers)
    # Escalations before the sweep, so their notices go out in the same cycle.
    no_timers: list[TimerOutcome] = []
    no_escalations: list[EscalationOutcome] = []
    timers = step("timers", lambda: fire_due_timers(rt), no_timers)
    escalations = step("escalations", lambda: fire_due_escalations(rt), no_escalations)
    sweep = step("sweep", lambda: sweep_reminders(rt, publish), SweepReport())
    # What the sweep left: requeued deliveries, and batches a failed publish kept in the outbox.
    published = sweep.published + step("publish", lambda: publish_outbox(rt, publish), 0)
    if len(errors) == STEPS:
        raise errors[0][1]
    failures = []
    for name, error in errors:
        failure = StepFailure(name, describe(error))
        failures.append(failure)
        # A bug's traceback is what someone needs to fix it; the database's one line is enough.
        trace = None if rt.database.is_database_error(error) else error
        log.warning("cycle step %s failed: %s", name, failure.error, exc_info=trace)
    return CycleReport(
        timers=timers,
        escalations=escalations,
        sweep=sweep,
        published=published,
        failures=tuple(failures),
        handovers=handovers,
    )


def next_work_at(rt: Runtime, *, after: dt.datetime) -> dt.datetime | None:
    """The first moment strictly after `after` at which time alone gives `run_cycle` work: a
    planned reminder or escalation level falls due, a delivery is to be tried (again), a timer
    transition falls due, or a refused timer, level or hand-over is to be retried. None: nothing
    ever will, until someone acts.

    A replay on a simulated clock (`planflow simulate`) jumps from one such moment to the next
    instead of cycling every few seconds: in between, every cycle would find nothing.
    """
    with rt.database.read() as tx:
        due = next_due(tx, after=after).first
        retry = next_retry(tx, after=after)
        timer = next_timer_due_in(rt, tx, after=after)
    return min((m for m in (due, retry, timer) if m is not None), default=None)


def has_work(rt: Runtime, *, now: dt.datetime) -> bool:
    """Whether a cycle at `now` would find something to do (the cheapest questions first): a
    reminder, level, delivery or outbox batch due by now, a retry due, a timer due.

    Stranded work is not asked about: it comes of a change to users and grants, not of time, and
    whoever makes that change runs a cycle (or the scheduler does within seconds).
    """
    with rt.database.read() as tx:
        if work_due(tx, now=now):
            return True
        retry = next_retry(tx, after=None)
        if retry is not None and retry <= now:
            return True
        timer = next_timer_due_in(rt, tx, after=None)
    return timer is not None and timer <= now
