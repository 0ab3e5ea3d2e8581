"""The seed of `planflow serve --demo`: the demo world an empty database gets, to try the pages.

The same organisations and people as `planflow demo` (`world.py`), every one with the one demo
password, and the demo's plan files for the year after the clock's, left in different states so
that every page has something to show: the middle school's plan in draft (to submit), the bike
factory's returned with the township's reason, the hospital's in township review, the
agricultural college's in the county's countersign with one of two signatures, the Songshan
township's own plan in county approval and the Zishan township's executing. Everything goes
through the service, at the runtime clock's moment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.core.planfile import parse_plan_file
from engine.demo import plan_files
from engine.demo.runtime import TZ
from engine.demo.world import DRAFTER, PEOPLE, build_world
from engine.service import directory, passwords, templates
from engine.service.actions import act
from engine.service.plans import create_plan
from engine.service.runtime import Runtime

DEMO_PASSWORD = "planflow-demo"  # every demo user's; printed at start, for a demo only
RETURN_REASON = "请补充“安全生产月”活动安排，并明确新会员发展目标的时间节点"

# What happens to each union's plan after it is created: (trigger, actor, comment) in order.
STEPS: dict[str, list[tuple[str, str, str | None]]] = {
    "zishan-middle-school": [],
    "zishan-bike-factory": [
        ("submit", "liu-factory", None),
        ("return", "zhao-zishan", RETURN_REASON),
    ],
    "songshan-hospital": [("submit", "zhou-hospital", None)],
    "songshan-agri-college": [
        ("submit", "wu-college", None),
        ("approve", "sun-songshan", "同意，报县总工会审批"),
        ("approve", "wang-county", "同意"),
    ],
    "songshan-town": [("submit", "sun-songshan", None)],
    "zishan-town": [
        ("submit", "zhao-zishan", None),
        ("approve", "wang-county", "同意执行"),
    ],
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    name: str
    org: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SeededPlan:
    id: int
    union: str  # the organisation's name
    drafter: str
    template: str
    state: str


@dataclass(frozen=True)
class DemoSeed:
    year: int
    plans: tuple[SeededPlan, ...]


def demo_logins() -> list[DemoLogin]:
    """The demo's people, as the start of `planflow serve --demo` lists them."""
    return [DemoLogin(user, name, org, tuple(roles)) for user, name, org, roles in PEOPLE]


def is_empty(rt: Runtime) -> bool:
    """Whether the database holds no organisation yet (and so may be seeded)."""
    return not directory.list_orgs(rt)


def holds_demo_people(rt: Runtime) -> bool:
    """Whether every demo user exists (a database seeded by an earlier `serve --demo`)."""
    known = {person.username for person, _, _ in directory.list_users(rt)}
    return all(login.username in known for login in demo_logins())


def seed(rt: Runtime) -> DemoSeed:
    """Seed an empty, migrated database; see the module doc. The plans are for next year."""
    year = rt.now().astimezone(TZ).year + 1
    templates.load_bundled_templates(rt)
    build_world(rt)
    for login in demo_logins():
        passwords.set_password(rt, username=login.username, password=DEMO_PASSWORD)
    plans = []
    for path in plan_files():
        spec = dataclasses.replace(parse_plan_file(path), year=year)
        steps = STEPS[spec.org]
        drafter = DRAFTER[spec.org]
        result = create_plan(rt, spec=spec, actor=drafter, source=path.name)
        state = result.to_state
        for trigger, actor, comment in steps:
            state = act(
                rt, plan_id=result.plan_id, trigger=trigger, actor=actor, comment=comment
            ).to_state
        union = next(org.name for org in directory.list_orgs(rt) if org.code == spec.org)
        plans.append(SeededPlan(result.plan_id, union, drafter, spec.template_name, state))
    return DemoSeed(year, tuple(plans))
