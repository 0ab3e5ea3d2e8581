"""The compiled rules of both bundled templates, checked against tables written out by hand.

Every (state, trigger, actor) of each template is tried with `Workflow.permit`: it must allow
exactly the moves the table below lists, refuse a move that does not exist with `ActionRefused`
and a move for someone else with `PermissionDenied`. The tables are deliberately not derived from
the template: a changed template has to change them too, or these tests fail. Then: required
comments and scores, the named guards through `Workflow.fire`, and the machine itself (no
`to_<state>` jumps, built once per workflow, no plan ever registered on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from transitions import Machine

import engine.core.template.compile as compile_module
from engine.core.errors import ActionRefused, PermissionDenied
from engine.core.guards import PlanFacts
from engine.core.template.compile import Workflow
from engine.core.template.model import Transition
from engine.core.template.validate import load_template_file
from workflows import bundled_templates

SYSTEM = "system"  # the scheduler: fires timers only
NONSENSE = ("to_closed", "fly_away")  # an auto-transition name and a made-up trigger


@dataclass(frozen=True)
class Rules:
    """One template's rules, as the team wrote them down."""

    states: tuple[str, ...]
    roles: tuple[str, ...]
    triggers: tuple[str, ...]
    # (state, trigger) → (destination, who may fire it: roles, or {SYSTEM} for a timer)
    moves: dict[tuple[str, str], tuple[str, frozenset[str]]]
    comment_required: frozenset[str]
    score_required: frozenset[str]


def _who(*names: str) -> frozenset[str]:
    return frozenset(names)


ANNUAL = Rules(
    states=(
        "draft",
        "township_review",
        "county_approval",
        "executing",
        "self_evaluation",
        "county_assessment",
        "closed",
    ),
    roles=("drafter", "township_reviewer", "county_approver"),
    triggers=(
        "submit",
        "withdraw",
        "approve",
        "return",
        "begin_evaluation",
        "submit_evaluation",
        "reopen_evaluation",
        "assess",
    ),
    moves={
        ("draft", "submit"): ("township_review", _who("drafter")),
        ("township_review", "withdraw"): ("draft", _who("drafter")),
        ("township_review", "approve"): ("county_approval", _who("township_reviewer")),
        ("township_review", "return"): ("draft", _who("township_reviewer", "county_approver")),
        ("county_approval", "return"): ("draft", _who("township_reviewer", "county_approver")),
        ("county_approval", "approve"): ("executing", _who("county_approver")),
        ("executing", "begin_evaluation"): ("self_evaluation", _who(SYSTEM)),
        ("self_evaluation", "submit_evaluation"): ("county_assessment", _who("drafter")),
        ("county_assessment", "reopen_evaluation"): ("self_evaluation", _who("county_approver")),
        ("county_assessment", "assess"): ("closed", _who("county_approver")),
    },
    comment_required=frozenset({"return", "reopen_evaluation", "assess"}),
    score_required=frozenset({"assess"}),
)

TOWNSHIP = Rules(
    states=(
        "draft",
        "county_approval",
        "executing",
        "self_evaluation",
        "county_assessment",
        "closed",
    ),
    roles=("drafter", "county_approver"),
    triggers=(
        "submit",
        "withdraw",
        "return",
        "approve",
        "begin_evaluation",
        "submit_evaluation",
        "reopen_evaluation",
        "assess",
    ),
    moves={
        ("draft", "submit"): ("county_approval", _who("drafter")),
        ("county_approval", "withdraw"): ("draft", _who("drafter")),
        ("county_approval", "return"): ("draft", _who("county_approver")),
        ("county_approval", "approve"): ("executing", _who("county_approver")),
        ("executing", "begin_evaluation"): ("self_evaluation", _who(SYSTEM)),
        ("self_evaluation", "submit_evaluation"): ("county_assessment", _who("drafter")),
        ("county_assessment", "reopen_evaluation"): ("self_evaluation", _who("county_approver")),
        ("county_assessment", "assess"): ("closed", _who("county_approver")),
    },
    comment_required=frozenset({"return", "reopen_evaluation", "assess"}),
    score_required=frozenset({"assess"}),
)

RULES = {"annual-work-plan": ANNUAL, "township-annual-plan": TOWNSHIP}

# Facts under which every guard of the bundled templates is satisfied.
GOOD_FACTS = PlanFacts(item_count=3, goal_count=2)


def _load_workflows() -> dict[str, Workflow]:
    loaded = {}
    for path in bundled_templates():
        template = load_template_file(path)
        loaded[template.name] = Workflow(template)
    return loaded


WORKFLOWS = _load_workflows()


def _cases() -> list[Any]:
    cases = []
    for name, rules in RULES.items():
        for state in rules.states:
            for trigger in (*rules.triggers, *NONSENSE):
                for actor in (*rules.roles, SYSTEM):
                    cases.append(
                        pytest.param(
                            name, state, trigger, actor, id=f"{name}-{state}-{trigger}-{actor}"
                        )
                    )
    return cases


def _permit(workflow: Workflow, state: str, trigger: str, actor: str, **extra: Any) -> Transition:
    by_system = actor == SYSTEM
    return workflow.permit(
        state,
        trigger,
        actor_roles=() if by_system else (actor,),
        by_system=by_system,
        **extra,
    )


def test_the_tables_cover_exactly_the_bundled_templates() -> None:
    assert set(WORKFLOWS) == set(RULES)
    for name, workflow in WORKFLOWS.items():
        rules, template = RULES[name], workflow.template
        assert tuple(template.states) == rules.states
        assert set(template.roles) == set(rules.roles)
        assert {t.trigger for t in template.transitions} == set(rules.triggers)


@pytest.mark.parametrize(("name", "state", "trigger", "actor"), _cases())
def test_permit_allows_exactly_the_listed_moves(
    name: str, state: str, trigger: str, actor: str
) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    move = rules.moves.get((state, trigger))
    # Requirements on comment and score are satisfied here; they have their own tests below.
    extra = {"comment": "理由", "score": 90.0}
    if move is None:
        with pytest.raises(ActionRefused) as refused:
            _permit(workflow, state, trigger, actor, **extra)
        assert type(refused.value) is ActionRefused
        assert f"'{trigger}' is not possible" in refused.value.message
    elif actor not in move[1]:
        with pytest.raises(PermissionDenied) as denied:
            _permit(workflow, state, trigger, actor, **extra)
        assert type(denied.value) is PermissionDenied
    else:
        transition = _permit(workflow, state, trigger, actor, **extra)
        assert (transition.trigger, transition.dest) == (trigger, move[0])
        assert state in transition.sources
        assert transition.is_timer == (actor == SYSTEM)


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_person_holding_several_roles_needs_just_one_that_fits(name: str) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    for (state, trigger), (dest, who) in rules.moves.items():
        if SYSTEM in who:
            with pytest.raises(PermissionDenied, match="not for a person"):
                workflow.permit(state, trigger, actor_roles=rules.roles, by_system=False)
            continue
        transition = workflow.permit(
            state, trigger, actor_roles=rules.roles, by_system=False, comment="理由", score=1.0
        )
        assert transition.dest == dest
        with pytest.raises(PermissionDenied, match="not for the scheduler"):
            workflow.permit(state, trigger, actor_roles=rules.roles, by_system=True)
        with pytest.raises(PermissionDenied, match="needs the role"):
            workflow.permit(state, trigger, actor_roles=(), by_system=False)


def _human_moves() -> list[Any]:
    return [
        pytest.param(name, state, trigger, sorted(who)[0], id=f"{name}-{state}-{trigger}")
        for name, rules in RULES.items()
        for (state, trigger), (_, who) in rules.moves.items()
        if SYSTEM not in who
    ]


@pytest.mark.parametrize(("name", "state", "trigger", "actor"), _human_moves())
@pytest.mark.parametrize("comment", [None, "", "  \n\t"])
def test_comment_required_exactly_where_listed(
    name: str, state: str, trigger: str, actor: str, comment: str | None
) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    if trigger in rules.comment_required:
        with pytest.raises(ActionRefused, match="needs a comment") as refused:
            _permit(workflow, state, trigger, actor, comment=comment, score=50.0)
        assert type(refused.value) is ActionRefused
    else:
        assert _permit(workflow, state, trigger, actor, comment=comment, score=None).dest


@pytest.mark.parametrize(("name", "state", "trigger", "actor"), _human_moves())
def test_score_required_exactly_where_listed(
    name: str, state: str, trigger: str, actor: str
) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    if trigger in rules.score_required:
        with pytest.raises(ActionRefused, match="needs a score") as refused:
            _permit(workflow, state, trigger, actor, comment="完成较好", score=None)
        assert type(refused.value) is ActionRefused
        # Zero is a score, not a missing one.
        assert _permit(workflow, state, trigger, actor, comment="完成较好", score=0.0).dest
    else:
        assert _permit(workflow, state, trigger, actor, comment="理由", score=None).dest


@pytest.mark.parametrize("name", sorted(RULES))
def test_assess_asks_for_the_comment_before_the_score(name: str) -> None:
    with pytest.raises(ActionRefused, match="needs a comment"):
        _permit(WORKFLOWS[name], "county_assessment", "assess", "county_approver")


# (state, trigger, facts that fail, words of the reason); every guard of both templates.
_GUARD_REFUSALS = [
    ("draft", "submit", PlanFacts(item_count=0, goal_count=2), "no monthly items"),
    ("draft", "submit", PlanFacts(item_count=3, goal_count=0), "no goals"),
    (
        "self_evaluation",
        "submit_evaluation",
        PlanFacts(item_count=3, goal_count=2, unreported_goals=("目标1", "目标2")),
        "2 goal(s) not reported yet: 目标1、目标2",
    ),
    (
        "self_evaluation",
        "submit_evaluation",
        PlanFacts(item_count=3, goal_count=2, unreported_items=("3月 活动",)),
        "1 monthly item(s) not reported yet: 3月 活动",
    ),
]


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize(("state", "trigger", "facts", "reason"), _GUARD_REFUSALS)
def test_guards_refuse_with_a_reason(
    name: str, state: str, trigger: str, facts: PlanFacts, reason: str
) -> None:
    with pytest.raises(ActionRefused) as refused:
        WORKFLOWS[name].fire(state, trigger, facts)
    assert type(refused.value) is ActionRefused
    assert reason in refused.value.message
    assert refused.value.message.startswith(f"'{trigger}' refused: ")


@pytest.mark.parametrize(
    ("name", "state"),
    [("annual-work-plan", "township_review"), ("township-annual-plan", "county_approval")],
)
def test_untouched_guards_withdraw(name: str, state: str) -> None:
    workflow = WORKFLOWS[name]
    touched = PlanFacts(item_count=3, goal_count=2, current_task_touched=True)
    with pytest.raises(ActionRefused, match="can no longer be withdrawn"):
        workflow.fire(state, "withdraw", touched)
    assert workflow.fire(state, "withdraw", GOOD_FACTS).dest.name == "draft"


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_listed_move_fires_to_its_destination_when_guards_hold(name: str) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    for (state, trigger), (dest, _) in rules.moves.items():
        step = workflow.fire(state, trigger, GOOD_FACTS)
        assert (step.source.name, step.dest.name, step.transition.trigger) == (
            state,
            dest,
            trigger,
        )


@pytest.mark.parametrize("name", sorted(RULES))
def test_fire_refuses_moves_that_do_not_exist(name: str) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    for state in rules.states:
        for trigger in (*rules.triggers, *NONSENSE):
            if (state, trigger) in rules.moves:
                continue
            with pytest.raises(ActionRefused):
                workflow.fire(state, trigger, GOOD_FACTS)


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_machine_has_no_auto_transitions_and_no_models(name: str) -> None:
    workflow, rules = WORKFLOWS[name], RULES[name]
    machine = workflow._machine
    assert set(machine.events) == set(rules.triggers)
    for state in rules.states:
        assert f"to_{state}" not in machine.events
        assert not hasattr(machine, f"to_{state}")
    for (state, trigger), _ in rules.moves.items():
        workflow.fire(state, trigger, GOOD_FACTS)
    assert machine.models == []  # plans are never registered on the shared machine


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_machine_is_built_once_per_workflow(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    def counting_machine(*args: Any, **kwargs: Any) -> Any:
        machine = Machine(*args, **kwargs)
        built.append(machine)
        return machine

    monkeypatch.setattr(compile_module, "Machine", counting_machine)
    workflow = Workflow(WORKFLOWS[name].template)
    assert len(built) == 1
    rules = RULES[name]
    for _ in range(3):
        for (state, trigger), (_, who) in rules.moves.items():
            _permit(workflow, state, trigger, sorted(who)[0], comment="理由", score=1.0)
            workflow.fire(state, trigger, GOOD_FACTS)
    assert len(built) == 1
    assert workflow._machine is built[0]


@pytest.mark.parametrize("name", sorted(RULES))
def test_only_return_is_a_return_not_withdraw_nor_reopening(name: str) -> None:
    """A return sends the plan back to its drafters with a reason: into the initial state, from
    another, with a required comment. The drafters' own `withdraw` needs no reason."""
    template = WORKFLOWS[name].template
    returns = {t.trigger for t in template.transitions if template.is_return(t)}
    assert returns == {"return"}
    withdraw = next(t for t in template.transitions if t.trigger == "withdraw")
    assert withdraw.dest == template.initial_state.name and not template.is_return(withdraw)


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_missing_trigger_lists_what_the_actors_roles_allow_there(name: str) -> None:
    """The first review step: not every trigger of the state, only those of the actor's roles."""
    workflow = WORKFLOWS[name]
    annual = name == "annual-work-plan"
    state = "township_review" if annual else "county_approval"
    approver = "return" if annual else "return, approve"
    for roles, listed in (({"drafter"}, "withdraw"), ({"county_approver"}, approver)):
        with pytest.raises(ActionRefused, match=f"possible now: {listed}$"):
            workflow.permit(state, "bogus", actor_roles=roles, by_system=False)
