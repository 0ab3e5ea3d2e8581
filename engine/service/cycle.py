"""One scheduler tick: everything that happens because time passed.

`run_cycle` fires due timer transitions, opens due escalations, sweeps due reminders into
deliveries and publishes them. The scheduler process calls it every few seconds (workers/
scheduler.py); `planflow simulate` calls it while moving a simulated clock. Every step is a
database sweep that is safe to run from two processes at once, so running it twice, late or
concurrently never sends anything twice; a cycle after downtime catches up by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.service.dispatch import Publish, SweepReport, publish_outbox, sweep_reminders
from engine.service.escalations import EscalationOutcome, fire_due_escalations
from engine.service.runtime import Runtime
from engine.service.timers import TimerOutcome, fire_due_timers


@dataclass(frozen=True)
class CycleReport:
    timers: list[TimerOutcome]
    escalations: list[EscalationOutcome]
    sweep: SweepReport
    published: int  # outbox batches handed to `publish`

    @property
    def idle(self) -> bool:
        return (
            not (self.timers or self.escalations or self.published) and self.sweep == SweepReport()
        )

    def summary(self) -> str:
        """One line for the log."""
        failed = sum(1 for t in self.timers if t.error) + sum(
            1 for e in self.escalations if e.error
        )
        sweep = self.sweep
        return (
            f"timers fired {len(self.timers)}, escalations {len(self.escalations)}"
            f"{f' ({failed} refused)' if failed else ''}; reminders queued {sweep.queued} "
            f"({sweep.deliveries} deliveries), skipped {sweep.skipped}, missed {sweep.missed}, "
            f"undeliverable {sweep.undeliverable}; requeued {sweep.requeued}; "
            f"batches published {self.published}"
        )


def run_cycle(rt: Runtime, publish: Publish) -> CycleReport:
    # Escalations before the sweep, so their notices go out in the same cycle.
    timers = fire_due_timers(rt)
    escalations = fire_due_escalations(rt)
    sweep = sweep_reminders(rt, publish)
    # What the sweep left: requeued deliveries, and batches a failed publish kept in the outbox.
    published = sweep.published + publish_outbox(rt, publish)
    return CycleReport(timers=timers, escalations=escalations, sweep=sweep, published=published)
