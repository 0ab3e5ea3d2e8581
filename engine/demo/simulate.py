"""`planflow simulate`: a whole year of plans replayed through the real scheduler cycle, in seconds.

On the demo's fresh temporary database (`demo_runtime`) it creates the plans (the six demo plans,
or more, for generated grassroots unions: `unions.py`), lets the simulated people (`people.py`)
drive them to execution in January, report their monthly items through the year, evaluate after
the 1 December timer and be assessed by the county, while the replay (`replay.py`) moves a
`SimulatedClock` from one moment that matters to the next and runs `run_cycle`, the scheduler's
own tick, at each. It returns what went out and what fired, per month (`Simulation`); the CLI
prints it (`engine/cli/simulate.py`).

People are seeded: the same seed replays the same year. Most items are reported done shortly
after their due date, so their overdue notices are skipped; a few are left undone, so those go to
the drafter and the supervisor. Some reviewers are late enough for task reminders and
escalations. An optional scheduler downtime shows the catch-up and missed reminders.
"""

from __future__ import annotations

import random

from engine.core.clock import SimulatedClock
from engine.core.errors import PlanflowError
from engine.demo.people import People
from engine.demo.replay import Downtime, Replay, Simulation
from engine.demo.runtime import demo_runtime, local
from engine.demo.unions import simulated_unions
from engine.service.dispatch import Send
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.store.progress import plans_per_state
from engine.store.schedule import sent_by_kind

DEMO_PLANS = 6


def simulate(
    *,
    year: int,
    send: Send,
    plans: int = DEMO_PLANS,
    seed: int = 0,
    downtime: Downtime | None = None,
) -> Simulation:
    """Replay `year` on a temporary database of the demo's world; see the module doc."""
    clock = SimulatedClock(local(year, 1, 2, 8))
    with demo_runtime(clock) as rt:
        return simulate_year(
            rt, clock, year=year, plans=plans, seed=seed, send=send, downtime=downtime
        )


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
    if plans < 1:
        raise PlanflowError(
            "simulate at least 1 plan, not {value}",
            code="simulate.too_few_plans",
            field="plans",
            value=plans,
        )
    unions = simulated_unions(rt, year, plans)
    clock.set(local(year, 1, 2, 10))
    people = People(rt, random.Random(seed), year, len(unions))
    plan_ids = []
    for index, union in enumerate(unions):
        plan_id = create_plan(rt, spec=union.spec, actor=union.drafter, source="simulate").plan_id
        people.plan_the_year(index, plan_id, union)
        plan_ids.append(plan_id)
    result = Simulation(year=year, plan_ids=plan_ids)
    Replay(rt, clock, people, send, result, downtime).run()
    with rt.database.read() as tx:
        result.sent_by_kind = sent_by_kind(tx, plan_ids=plan_ids)
        result.plans_per_state = plans_per_state(tx, plan_ids=plan_ids)
    return result
