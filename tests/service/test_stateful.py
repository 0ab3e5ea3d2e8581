"""Random people doing random things to real plans, checked step by step against a model.

A hypothesis state machine runs on its own SQLite database per example, a copy of a migrated file
holding the demo's world, two grassroots plans on `annual-work-plan` and the Zishan township's own
plan on `township-annual-plan` (built once per module). Each step is one attempt — any user, any
trigger (timers and nonsense included), with or without comment and score; a report on an item or
a goal; the scheduler firing a trigger; the clock moving; the timer sweep — or a *promising*
attempt that the model expects to succeed, so that runs get past the first states.

The model is independent of the engine: who reaches which plan comes from the organisation tree
of `engine.demo.world` and the role scopes written out below; what each state allows comes from
the hand-written tables of `tests/core/test_workflow_rules.py`. Every attempt must end exactly as
the model predicts (success, or which error), and after every step the database must agree with
the model: state, version and audit trail, open tasks and their signers, pending reminders.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlmodel import Session, col, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, NotFound, PermissionDenied, PlanflowError
from engine.demo.world import COUNTY, DRAFTER, GRASSROOTS, PEOPLE, TOWNSHIPS
from engine.service.actions import act
from engine.service.inbox import inbox
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.timers import fire_due_timers
from engine.service.writes import WriteResult
from engine.store.statuses import ItemStatus, ReminderStatus, TaskStatus
from engine.store.tables import AuditEvent, Organisation, Plan, Reminder, Task, TaskSigner, User
from tests.conftest import START, make_runtime
from tests.core.test_workflow_rules import RULES, SYSTEM
from tests.world import setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2027
GOALS, ITEMS = 2, 2  # small plans: a few reports are enough for the year-end submission
GOAL_KEYS = tuple(f"goal-{n}" for n in range(1, GOALS + 1))
PLANS = (  # (template, organisation); each is created by the organisation's drafter
    ("annual-work-plan", "zishan-middle-school"),
    ("annual-work-plan", "songshan-hospital"),
    ("township-annual-plan", "zishan-town"),
)

# --- The independent model of who may reach what ------------------------------------------------

PARENT: dict[str, str | None] = {
    COUNTY[0]: None,
    **dict.fromkeys(TOWNSHIPS, COUNTY[0]),
    **{code: parent for code, (_, parent) in GRASSROOTS.items()},
}
USER_ORG = {username: org for username, _, org, _ in PEOPLE}
USER_ROLES = {username: frozenset(roles) for username, _, _, roles in PEOPLE}
USERNAMES = tuple(USER_ORG)

# Each template's roles and their scopes, as the templates declare them.
SCOPES = {
    "annual-work-plan": {
        "drafter": "own",
        "township_reviewer": "children",
        "county_approver": "subtree",
    },
    "township-annual-plan": {"drafter": "own", "county_approver": "children"},
}
OWNERS = frozenset({"drafter"})  # the roles that act in the initial state: they report
# (template, state) → (task role, where the task goes, sign mode); no entry: no task.
TASKS = {
    ("annual-work-plan", "township_review"): ("township_reviewer", "parent", "any"),
    ("annual-work-plan", "county_approval"): ("county_approver", "county", "all"),
    ("annual-work-plan", "self_evaluation"): ("drafter", "own", "any"),
    ("annual-work-plan", "county_assessment"): ("county_approver", "county", "any"),
    ("township-annual-plan", "county_approval"): ("county_approver", "parent", "any"),
    ("township-annual-plan", "self_evaluation"): ("drafter", "own", "any"),
    ("township-annual-plan", "county_assessment"): ("county_approver", "parent", "any"),
}
COUNTERSIGNERS = ("wang-county", "li-county")  # the county's approvers, in grant order
LIVE_STATES = frozenset({"executing"})  # `items: live`: item reminders planned only here
ITEM_REPORT_STATES = frozenset({"executing", "self_evaluation"})
GOAL_REPORT_STATES = frozenset({"self_evaluation"})
GUARDED_BY_REPORTS = frozenset({"submit_evaluation"})
TIMER_DAYS = {"begin_evaluation": (12, 1)}  # at: "12-01" of the plan's year, local time
TRIGGERS = tuple(sorted({t for rules in RULES.values() for t in rules.triggers}))
NONSENSE = ("to_closed", "launch")


def _above(org: str) -> list[str]:
    found, current = [], PARENT[org]
    while current is not None:
        found.append(current)
        current = PARENT[current]
    return found


def _covers(scope: str, holder_org: str, plan_org: str) -> bool:
    if scope == "own":
        return holder_org == plan_org
    if scope == "children":
        return PARENT[plan_org] == holder_org
    assert scope == "subtree"
    return holder_org in _above(plan_org)


def reach(template: str, plan_org: str, user: str) -> frozenset[str]:
    """The template roles `user` holds that cover a plan of `plan_org` (empty: out of scope)."""
    scopes = SCOPES[template]
    return frozenset(
        role
        for role in USER_ROLES[user]
        if role in scopes and _covers(scopes[role], USER_ORG[user], plan_org)
    )


def task_org(where: str, plan_org: str) -> str:
    if where == "own":
        return plan_org
    if where == "parent":
        parent = PARENT[plan_org]
        assert parent is not None
        return parent
    return COUNTY[0]


# --- Attempts and what the model expects of them ------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    kind: Literal["act", "item", "goal"]
    user: str | None  # None: the scheduler (acts only)
    trigger: str = ""
    comment: str | None = None
    score: float | None = None
    item: int = 0
    status: ItemStatus = ItemStatus.DONE
    goal: str = ""


@dataclass(frozen=True)
class Expected:
    error: type[PlanflowError] | None  # None: the write succeeds
    state: str = ""  # the plan's state after a success
    signs: bool = False  # a countersignature that does not complete the round


AuditRow = tuple[str, str | None, str, str]  # action, actor (None: the system), from, to


@dataclass
class PlanModel:
    plan_id: int
    template: str
    org: str
    state: str
    # Every successful write, as the audit log must show it; the creation comes first.
    log: list[AuditRow] = field(default_factory=list)
    goals_reported: set[str] = field(default_factory=set)
    items_reported: set[int] = field(default_factory=set)
    signed: set[str] = field(default_factory=set)  # signatures in the open countersign round

    def roles(self, user: str) -> frozenset[str]:
        return reach(self.template, self.org, user)

    def wrote(self, action: str, actor: str | None, to_state: str) -> None:
        self.log.append((action, actor, self.state, to_state))
        self.state = to_state


def _blank(text: str | None) -> bool:
    return not (text and text.strip())


def predict(plan: PlanModel, attempt: Attempt) -> Expected:
    """What must happen, in the order the rules are checked: scope, who, when, what."""
    roles = frozenset() if attempt.user is None else plan.roles(attempt.user)
    if attempt.user is not None and not roles:
        return Expected(NotFound)
    if attempt.kind == "item":
        if not roles & OWNERS:
            return Expected(PermissionDenied)
        if plan.state not in ITEM_REPORT_STATES:
            return Expected(ActionRefused)
        if not 1 <= attempt.item <= ITEMS:
            return Expected(NotFound)
        if attempt.status is not ItemStatus.DONE and _blank(attempt.comment):
            return Expected(ActionRefused)
        return Expected(None, plan.state)
    if attempt.kind == "goal":
        if not roles & OWNERS:
            return Expected(PermissionDenied)
        if plan.state not in GOAL_REPORT_STATES:
            return Expected(ActionRefused)
        if attempt.goal not in GOAL_KEYS:
            return Expected(NotFound)
        return Expected(None, plan.state)
    rules = RULES[plan.template]
    move = rules.moves.get((plan.state, attempt.trigger))
    if move is None:
        return Expected(ActionRefused)
    dest, who = move
    if (attempt.user is None) != (SYSTEM in who) or (attempt.user and not roles & who):
        return Expected(PermissionDenied)
    if attempt.trigger in rules.comment_required and _blank(attempt.comment):
        return Expected(ActionRefused)
    if attempt.trigger in rules.score_required:
        if attempt.score is None or not 0 <= attempt.score <= 100:  # the default range
            return Expected(ActionRefused)
    elif attempt.score is not None:
        return Expected(ActionRefused)  # a score would be dropped
    task = TASKS.get((plan.template, plan.state))
    if task is not None and task[2] == "all" and attempt.user is not None:
        if attempt.user not in COUNTERSIGNERS:
            if attempt.trigger == "approve":
                return Expected(PermissionDenied)
        elif attempt.user in plan.signed:
            return Expected(ActionRefused)
        elif attempt.trigger == "approve" and len(plan.signed) + 1 < len(COUNTERSIGNERS):
            return Expected(None, plan.state, signs=True)
    if attempt.trigger in GUARDED_BY_REPORTS and (
        plan.goals_reported != set(GOAL_KEYS) or plan.items_reported != set(range(1, ITEMS + 1))
    ):
        return Expected(ActionRefused)
    # has_items and has_goals always hold (every plan has both); untouched always holds too,
    # since no countersigned step of the bundled templates can be withdrawn.
    return Expected(None, dest)


def perform(rt: Runtime, plan_id: int, attempt: Attempt) -> WriteResult:
    if attempt.kind == "act":
        return act(
            rt,
            plan_id=plan_id,
            trigger=attempt.trigger,
            actor=attempt.user,
            comment=attempt.comment,
            score=attempt.score,
        )
    assert attempt.user is not None
    if attempt.kind == "item":
        return report_item(
            rt,
            plan_id=plan_id,
            actor=attempt.user,
            item_number=attempt.item,
            status=attempt.status,
            note=attempt.comment,
        )
    return report_goal(rt, plan_id=plan_id, actor=attempt.user, goal_key=attempt.goal, actual=42.0)


def promising(plan: PlanModel, *, forward: bool) -> list[Attempt]:
    """Attempts the model expects to succeed; `forward`: only those on the way to `closed`."""
    found: list[Attempt] = []
    for user in USERNAMES:
        for trigger in TRIGGERS:
            scored = trigger in RULES[plan.template].score_required
            found.append(
                Attempt(
                    "act", user, trigger, comment="请按意见修改", score=88.0 if scored else None
                )
            )
        for item in range(1, ITEMS + 1):
            if item not in plan.items_reported:
                found.append(Attempt("item", user, item=item, status=ItemStatus.DONE))
                found.append(
                    Attempt("item", user, item=item, status=ItemStatus.PARTLY, comment="场地未落实")
                )
        for goal in sorted(set(GOAL_KEYS) - plan.goals_reported):
            found.append(Attempt("goal", user, goal=goal))
    order = RULES[plan.template].states
    chosen = []
    for attempt in found:
        expected = predict(plan, attempt)
        if expected.error is not None:
            continue
        backwards = (
            attempt.kind == "act"
            and not expected.signs
            and order.index(expected.state) <= order.index(plan.state)
        )
        if not (forward and backwards):
            chosen.append(attempt)
    return chosen


# --- The state machine --------------------------------------------------------------------------

PLAN_INDEX = st.sampled_from(range(len(PLANS)))
COMMENTS = st.sampled_from([None, "", "  ", "请补充健康体检安排"])
SCORES = st.sampled_from([None, 0.0, 92.5, 150.0])
STEPS = st.sampled_from(
    [dt.timedelta(hours=1), dt.timedelta(days=3), dt.timedelta(days=40), dt.timedelta(days=200)]
)
LAST_MOMENT = dt.datetime(YEAR + 1, 3, 1, tzinfo=TZ)  # the clock stays within the plans' years


@dataclass(frozen=True)
class WorldFile:
    """A migrated SQLite file holding the demo world and the plans, copied for each example."""

    path: Path
    plan_ids: tuple[int, ...]  # in the order of PLANS


def build_world_file(template_db: Path, directory: Path) -> WorldFile:
    path = directory / "world.db"
    shutil.copy(template_db, path)
    rt = make_runtime(f"sqlite:///{path}", SimulatedClock(START))
    try:
        setup_world(rt)
        plan_ids = tuple(
            create_plan(
                rt,
                spec=small_plan(org, year=YEAR, template=template, goals=GOALS, items=ITEMS),
                actor=DRAFTER[org],
            ).plan_id
            for template, org in PLANS
        )
    finally:
        rt.database.dispose()
    return WorldFile(path, plan_ids)


@pytest.fixture(scope="module")
def world_file(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> WorldFile:
    return build_world_file(sqlite_template, tmp_path_factory.mktemp("world"))


class PlanWorld(RuleBasedStateMachine):
    world: WorldFile
    workdir: Path  # each example gets its own copy of the world here

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(dir=self.workdir))
        shutil.copy(self.world.path, self.dir / "planflow.db")
        self.clock = SimulatedClock(START)
        self.rt = make_runtime(f"sqlite:///{self.dir / 'planflow.db'}", self.clock)
        self.plans = [
            PlanModel(plan_id, template, org, "draft", log=[("create", DRAFTER[org], "", "draft")])
            for plan_id, (template, org) in zip(self.world.plan_ids, PLANS, strict=True)
        ]
        try:
            with self.rt.database.session() as session:
                self.org_code = {o.id: o.code for o in session.exec(select(Organisation))}
                self.username = {u.id: u.username for u in session.exec(select(User))}
        except BaseException:
            self.teardown()  # hypothesis only tears down machines that were built
            raise

    def teardown(self) -> None:
        self.rt.database.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    def attempt(self, index: int, attempt: Attempt) -> None:
        plan = self.plans[index]
        expected = predict(plan, attempt)
        in_scope = attempt.user is None or bool(plan.roles(attempt.user))
        try:
            result = perform(self.rt, plan.plan_id, attempt)
        except PlanflowError as error:
            if not in_scope:
                assert isinstance(error, NotFound), f"out of scope must be 'no plan': {error!r}"
            assert type(error) is expected.error, (
                f"{attempt} on plan #{plan.plan_id} in {plan.state}: expected "
                f"{expected}, got {type(error).__name__}: {error}"
            )
            return
        assert in_scope, f"{attempt.user} acted on plan #{plan.plan_id} outside their scope"
        assert expected.error is None, (
            f"{attempt} on plan #{plan.plan_id} in {plan.state} succeeded "
            f"({result.from_state} → {result.to_state}); expected {expected.error.__name__}"
        )
        assert not result.replayed
        assert (result.from_state, result.to_state) == (plan.state, expected.state)
        if attempt.kind == "item":
            plan.items_reported.add(attempt.item)
            plan.wrote("report_item", attempt.user, plan.state)
        elif attempt.kind == "goal":
            plan.goals_reported.add(attempt.goal)
            plan.wrote("report_goal", attempt.user, plan.state)
        elif expected.signs:
            assert attempt.user is not None
            plan.signed.add(attempt.user)
            plan.wrote(attempt.trigger, attempt.user, plan.state)  # a signature is a write too
        else:
            plan.signed.clear()  # the task closed; a new round asks everyone again
            plan.wrote(attempt.trigger, attempt.user, expected.state)

    @rule(
        index=PLAN_INDEX,
        user=st.sampled_from(USERNAMES),
        trigger=st.sampled_from(TRIGGERS + NONSENSE),
        comment=COMMENTS,
        score=SCORES,
    )
    def anyone_tries_anything(
        self, index: int, user: str, trigger: str, comment: str | None, score: float | None
    ) -> None:
        self.attempt(index, Attempt("act", user, trigger, comment=comment, score=score))

    @rule(index=PLAN_INDEX, trigger=st.sampled_from(TRIGGERS + NONSENSE))
    def the_scheduler_fires(self, index: int, trigger: str) -> None:
        self.attempt(index, Attempt("act", None, trigger))

    @rule(
        index=PLAN_INDEX,
        user=st.sampled_from(USERNAMES),
        item=st.integers(min_value=0, max_value=ITEMS + 1),
        status=st.sampled_from(ItemStatus),
        note=COMMENTS,
    )
    def anyone_reports_an_item(
        self, index: int, user: str, item: int, status: ItemStatus, note: str | None
    ) -> None:
        self.attempt(index, Attempt("item", user, item=item, status=status, comment=note))

    @rule(
        index=PLAN_INDEX,
        user=st.sampled_from(USERNAMES),
        goal=st.sampled_from((*GOAL_KEYS, "no-such-goal")),
    )
    def anyone_reports_a_goal(self, index: int, user: str, goal: str) -> None:
        self.attempt(index, Attempt("goal", user, goal=goal))

    @rule(index=PLAN_INDEX, data=st.data())
    def someone_does_something_promising(self, index: int, data: st.DataObject) -> None:
        candidates = promising(self.plans[index], forward=False)
        if candidates:
            self.attempt(index, data.draw(st.sampled_from(candidates), label="attempt"))

    @rule(index=PLAN_INDEX, burst=st.integers(min_value=1, max_value=8), data=st.data())
    def people_move_a_plan_forward(self, index: int, burst: int, data: st.DataObject) -> None:
        for _ in range(burst):
            if not self.move_forward(
                index, lambda found: data.draw(st.sampled_from(found), label="forward")
            ):
                return

    def move_forward(self, index: int, choose: Callable[[list[Attempt]], Attempt]) -> bool:
        """One step on the way to `closed`, checked like any other attempt; waiting for a timer,
        the clock jumps to its day and the sweep runs. False once there is nothing left to do."""
        plan = self.plans[index]
        candidates = promising(plan, forward=True)
        if candidates:
            self.attempt(index, choose(candidates))
            return True
        timers = [
            trigger
            for (state, trigger), (_, who) in RULES[plan.template].moves.items()
            if state == plan.state and SYSTEM in who
        ]
        if not timers:
            return False
        month, day = TIMER_DAYS[timers[0]]
        self.clock.set(max(self.clock(), dt.datetime(YEAR, month, day, tzinfo=TZ)))
        self.the_timer_sweep_runs()
        return True

    @rule(user=st.sampled_from(USERNAMES))
    def someone_opens_their_inbox(self, user: str) -> None:
        """The inbox lists the open task of every plan the user may decide on now."""
        expected: dict[int, set[str]] = {}
        for plan in self.plans:
            spec = TASKS.get((plan.template, plan.state))
            if spec is None:
                continue
            role, where, sign = spec
            if role not in USER_ROLES[user] or USER_ORG[user] != task_org(where, plan.org):
                continue
            if sign == "all" and (user not in COUNTERSIGNERS or user in plan.signed):
                continue
            # What `act` would accept from them now (with the comment it may ask for, and a score
            # where it takes one): a trigger a guard would refuse, such as submit_evaluation
            # before every report is in, is not offered.
            expected[plan.plan_id] = {
                trigger
                for (state, trigger), (_, who) in RULES[plan.template].moves.items()
                if state == plan.state
                and role in who
                and any(
                    predict(plan, Attempt("act", user, trigger, comment="理由", score=score)).error
                    is None
                    for score in (None, 90.0)
                )
            }
            if role in OWNERS:  # and the reports their task needs, where they are open
                expected[plan.plan_id] |= (
                    {"report item"} if plan.state in ITEM_REPORT_STATES else set()
                )
                expected[plan.plan_id] |= (
                    {"report goal"} if plan.state in GOAL_REPORT_STATES else set()
                )
        entries = inbox(self.rt, actor=user)
        assert {e.plan.id: set(e.triggers) for e in entries} == expected

    @rule(step=STEPS)
    def time_passes(self, step: dt.timedelta) -> None:
        if self.clock() + step < LAST_MOMENT:
            self.clock.advance(step)

    @rule()
    def the_timer_sweep_runs(self) -> None:
        now = self.clock()
        expected: list[tuple[int, str, str | None]] = []
        moved: list[tuple[PlanModel, str, str]] = []
        for plan in self.plans:
            for (state, trigger), (dest, who) in RULES[plan.template].moves.items():
                month, day = TIMER_DAYS[trigger] if SYSTEM in who else (0, 0)
                if (
                    state == plan.state
                    and month
                    and dt.datetime(YEAR, month, day, tzinfo=TZ) <= now
                ):
                    expected.append((plan.plan_id, trigger, None))
                    moved.append((plan, trigger, dest))
        outcomes = fire_due_timers(self.rt)
        assert sorted((o.plan_id, o.trigger, o.error) for o in outcomes) == sorted(expected)
        for plan, trigger, dest in moved:
            plan.wrote(trigger, None, dest)

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        with self.rt.database.session() as session:
            for plan in self.plans:
                self._check_plan(session, plan)

    def _check_plan(self, session: Session, plan: PlanModel) -> None:
        row = session.get(Plan, plan.plan_id)
        assert row is not None
        assert row.state in RULES[plan.template].states
        assert (row.state, row.version) == (plan.state, len(plan.log))
        audit = list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.plan_id == plan.plan_id)
                .order_by(col(AuditEvent.id))
            )
        )
        assert len(audit) == len(plan.log)  # one row per successful write, none for refusals
        assert [
            (e.action, self.username.get(e.actor_id or 0), e.from_state, e.to_state) for e in audit
        ] == plan.log
        assert [e.plan_version for e in audit] == list(range(1, len(audit) + 1))
        actors = {self.username[e.actor_id] for e in audit if e.actor_id is not None}
        assert all(plan.roles(actor) for actor in actors), f"out-of-scope writes: {actors}"

        tasks = list(session.exec(select(Task).where(Task.plan_id == plan.plan_id)))
        open_tasks = [t for t in tasks if t.status == TaskStatus.OPEN]
        groups = Counter((t.state, t.role, t.org_id) for t in open_tasks)
        assert all(n == 1 for n in groups.values()), groups
        spec = TASKS.get((plan.template, plan.state))
        if spec is None:
            assert open_tasks == [], f"no task expected in {plan.state}: {open_tasks}"
        else:
            [task] = open_tasks
            role, where, sign = spec
            assert (task.state, task.role, self.org_code[task.org_id], task.sign) == (
                plan.state,
                role,
                task_org(where, plan.org),
                sign,
            )
        for task in tasks:
            signers = list(session.exec(select(TaskSigner).where(TaskSigner.task_id == task.id)))
            if task.sign not in ("all", "sequence"):
                assert signers == [], f"signers on a sign: {task.sign} task"
                continue
            by_position = sorted(signers, key=lambda s: s.position)
            assert tuple(self.username[s.user_id] for s in by_position) == COUNTERSIGNERS
            if task.status == TaskStatus.OPEN:
                decided = {self.username[s.user_id] for s in signers if s.decision is not None}
                assert decided == plan.signed

        if plan.state not in LIVE_STATES:
            pending = session.exec(
                select(Reminder.id).where(
                    Reminder.plan_id == plan.plan_id,
                    col(Reminder.item_id).is_not(None),
                    col(Reminder.status).in_([ReminderStatus.PLANNED, ReminderStatus.FAILED]),
                )
            ).all()
            assert pending == [], f"item reminders still pending in {plan.state}"


def test_the_model_of_scope_matches_the_world() -> None:
    """The scope model, spelled out for the three plans (a check on the model itself)."""
    expected = {
        ("annual-work-plan", "zishan-middle-school"): {
            "chen-school": {"drafter"},
            "zhao-zishan": {"township_reviewer"},
            "wang-county": {"county_approver"},
            "li-county": {"county_approver"},
        },
        ("annual-work-plan", "songshan-hospital"): {
            "zhou-hospital": {"drafter"},
            "sun-songshan": {"township_reviewer"},
            "wang-county": {"county_approver"},
            "li-county": {"county_approver"},
        },
        ("township-annual-plan", "zishan-town"): {
            "zhao-zishan": {"drafter"},
            "wang-county": {"county_approver"},
            "li-county": {"county_approver"},
        },
    }
    for (template, org), roles in expected.items():
        got = {user: set(reach(template, org, user)) for user in USERNAMES}
        assert {user: r for user, r in got.items() if r} == roles


def test_random_actions_keep_every_invariant(world_file: WorldFile, tmp_path: Path) -> None:
    class Run(PlanWorld):
        world = world_file
        workdir = tmp_path

    run_state_machine_as_test(
        Run,
        settings=settings(
            max_examples=25,
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_moving_forward_closes_every_plan(world_file: WorldFile, tmp_path: Path) -> None:
    """The model, the forward steps and the invariants along one whole year, deterministically:
    the random run above relies on them to get past the first states."""

    class Run(PlanWorld):
        world = world_file
        workdir = tmp_path

    machine = Run()
    try:
        for index in range(len(PLANS)):
            for _ in range(40):
                if not machine.move_forward(index, lambda found: found[0]):
                    break
                machine.the_database_agrees_with_the_model()
                for user in USERNAMES:
                    machine.someone_opens_their_inbox(user)
        assert [plan.state for plan in machine.plans] == ["closed"] * len(PLANS)
        # create, submit, approvals (2 countersignatures on the annual plans), timer, 4 reports,
        # submit_evaluation, assess
        assert [len(plan.log) for plan in machine.plans] == [12, 12, 10]
    finally:
        machine.teardown()
