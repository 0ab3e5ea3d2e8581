"""Template loading: the bundled workflows, the frozen model they become, and every way to fail.

The malformed corpus (`malformed_templates/*.yaml`) carries its expectations in leading comments,
one `# expect: LINE:COLUMN: message` per problem (just `# expect: message` for a whole-file one);
the test asserts the file yields exactly those problems, no more and no fewer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from engine.core.durations import Duration, DurationUnit
from engine.core.errors import InputError, Problem, TemplateError
from engine.core.template.model import (
    Escalation,
    MonthDay,
    ReminderAnchor,
    Scope,
    ScoreRange,
    SignMode,
    Template,
    TimeOfDay,
)
from engine.core.template.schema import (
    EscalationDoc,
    ReminderDoc,
    RoleDoc,
    ScoreDoc,
    StateDoc,
    TaskDoc,
    TemplateDoc,
    TransitionDoc,
)
from engine.core.template.validate import load_template, load_template_file
from workflows import bundled_templates

CORPUS = Path(__file__).parent / "malformed_templates"
CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def render(problem: Problem) -> str:
    return (
        f"{problem.line}:{problem.column}: {problem.message}" if problem.line else problem.message
    )


def problems(text: str | bytes, source: str = "t.yaml") -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load_template(text, source=source)
    assert all(p.file == source for p in caught.value.problems)
    return [render(p) for p in caught.value.problems]


def bundled_path(name: str) -> Path:
    return next(p for p in bundled_templates() if p.stem == name)


def bundled(name: str) -> Template:
    return load_template_file(bundled_path(name))


# --------------------------------------------------------------------------- the malformed corpus


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS_FILES) >= 30


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_each_malformed_template_reports_exactly_its_expected_problems(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = EXPECT.findall(text)
    assert expected, f"{path.name} has no '# expect:' line"
    assert sorted(problems(text, source=path.name)) == sorted(expected)


def test_a_file_with_three_independent_problems_lists_all_three() -> None:
    path = CORPUS / "three_problems.yaml"
    with pytest.raises(TemplateError) as caught:
        load_template_file(path)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{path}:19:33: 'due' must be a duration like 7d or 5wd, got 7",
        f"{path}:20:27: unknown key 'item' in state 'executing'; did you mean 'items'?",
        f"{path}:26:72: unknown role 'reviwer'; did you mean 'reviewer'?",
    ]


def test_a_binary_file_is_refused() -> None:
    assert problems(b"planflow: 1\nname: \x00\x00") == [
        "binary data: NUL byte at byte offset 18; save the file as UTF-8 text"
    ]


def test_a_huge_file_is_refused() -> None:
    text = bundled_path("annual-work-plan").read_text(encoding="utf-8")
    padding = "# " + "填充" * 100 + "\n"
    huge = text + padding * (1024 * 1024 // len(padding.encode()) + 1)
    assert problems(huge) == ["the file is larger than the limit of 1 MiB"]


def test_a_missing_file_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read the file"):
        load_template_file(tmp_path / "nope.yaml")


def test_template_errors_are_input_errors_with_sorted_problems() -> None:
    with pytest.raises(InputError) as caught:
        load_template((CORPUS / "unknown_guard.yaml").read_text(), source="g.yaml")
    assert isinstance(caught.value, TemplateError)
    assert caught.value.problems == sorted(caught.value.problems)


# --------------------------------------------------------------------------- the bundled workflows


@pytest.mark.parametrize("path", bundled_templates(), ids=lambda p: p.stem)
def test_bundled_workflows_load_without_problems(path: Path) -> None:
    template = load_template_file(path)
    assert template.name == path.stem
    assert template.source_name == str(path)


def test_annual_work_plan_round_trip_facts() -> None:
    t = bundled("annual-work-plan")
    assert (t.name, t.version, t.format_version) == ("annual-work-plan", 1, 1)
    assert t.title == "基层工会年度工作计划审批"
    assert t.timezone == "Asia/Shanghai"
    assert list(t.states) == [
        "draft",
        "township_review",
        "county_approval",
        "executing",
        "self_evaluation",
        "county_assessment",
        "closed",
    ]
    assert t.initial_state.name == "draft"
    assert [s.name for s in t.states.values() if s.final] == ["closed"]
    assert t.roles["township_reviewer"].scope is Scope.CHILDREN
    assert t.roles["county_approver"].title == "县总工会审批人"

    county = t.states["county_approval"].task
    assert county is not None and county.sign is SignMode.ALL
    assert county.due == Duration(10, DurationUnit.WORKING_DAYS)
    township = t.states["township_review"].task
    assert township is not None
    assert township.remind == (Duration(3, DurationUnit.DAYS), Duration(6, DurationUnit.DAYS))
    assert [level.to for level in township.escalate] == ["county_approver"]
    assert t.states["executing"].items_live and not t.states["draft"].items_live

    back = t.transition("county_approval", "return")
    assert back is not None and back.sources == ("township_review", "county_approval")
    assert back.comment_required and not back.score_required
    assess = t.transition("county_assessment", "assess")
    assert assess is not None and assess.score_required and assess.dest == "closed"
    timer = t.transition("executing", "begin_evaluation")
    assert timer is not None and timer.is_timer and timer.at == MonthDay(12, 1)
    assert timer.roles == ()
    submit = t.transition("draft", "submit")
    assert submit is not None and submit.guards == ("has_items", "has_goals")

    first, _, last = t.reminders
    assert first.at is ReminderAnchor.MONTH_START and first.offset == Duration(
        -3, DurationUnit.DAYS
    )
    assert first.time == TimeOfDay(9, 0)
    assert last.unless == "item_done" and last.to == ("drafter", "township_reviewer")


def test_township_plan_round_trip_facts() -> None:
    t = bundled("township-annual-plan")
    task = t.states["county_approval"].task
    assert task is not None and task.sign is SignMode.ANY and task.escalate == ()
    assert [tr.trigger for tr in t.transitions_from("county_approval")] == [
        "withdraw",
        "return",
        "approve",
    ]


# --------------------------------------------------------------------------- accepted forms

MINIMAL = """\
planflow: 1
name: mini
version: 3
title: 最小流程
roles:
  drafter: {title: 起草人, scope: own}
states:
  draft: {title: 草稿, initial: true}
  done: {title: 完成, final: true}
transitions:
  - {trigger: finish, from: draft, to: done, roles: [drafter]}
"""


def test_a_minimal_template_needs_no_timezone_and_no_reminders() -> None:
    t = load_template(MINIMAL, source="mini.yaml")
    assert t.timezone is None and t.reminders == () and t.version == 3
    assert t.transitions[0].sources == ("draft",)


def test_from_may_be_a_list_and_on_is_a_word() -> None:
    text = MINIMAL.replace(
        "  - {trigger: finish, from: draft, to: done, roles: [drafter]}",
        "  - {trigger: on, from: [draft], to: done, roles: [drafter]}",
    )
    t = load_template(text, source="mini.yaml")
    assert t.transitions[0].trigger == "on" and t.transitions[0].sources == ("draft",)


def test_timers_reminder_times_offsets_and_sign_modes() -> None:
    text = MINIMAL.replace(
        "  draft: {title: 草稿, initial: true}",
        "  draft: {title: 草稿, initial: true}\n"
        "  review:\n"
        "    title: 审核\n"
        "    task: {role: drafter, sign: sequence, escalate: {after: 2w, to: chair}}",
    ).replace("roles:\n", "roles:\n  chair: {title: 主席, scope: own}\n") + (
        '  - {trigger: leap, from: draft, to: review, at: "02-29"}\n'
        "  - {trigger: lapse, from: review, to: done, after: 36h}\n"
        "  - {trigger: approve, from: review, to: done, roles: [drafter]}\n"
        "reminders:\n"
        "  - {at: month_start, offset: -5wd, to: [drafter], time: 8:30}\n"
        "  - {at: due, offset: 0d, to: [drafter], time: '17:05'}\n"
    )
    t = load_template(text, source="mini.yaml")
    leap, lapse = t.transition("draft", "leap"), t.transition("review", "lapse")
    assert leap is not None and leap.at == MonthDay(2, 29)
    assert lapse is not None and lapse.after == Duration(36, DurationUnit.HOURS)
    task = t.states["review"].task
    assert task is not None and task.sign is SignMode.SEQUENCE
    assert task.escalate == (Escalation(after=Duration(2, DurationUnit.WEEKS), to="chair"),)
    assert [r.time for r in t.reminders] == [TimeOfDay(8, 30), TimeOfDay(17, 5)]
    assert t.reminders[0].offset == Duration(-5, DurationUnit.WORKING_DAYS)


def test_bytes_with_a_byte_order_mark_load_like_text() -> None:
    t = load_template(b"\xef\xbb\xbf" + MINIMAL.encode(), source="mini.yaml")
    assert t == load_template(MINIMAL, source="other.yaml")


def test_templates_are_frozen() -> None:
    t = load_template(MINIMAL, source="mini.yaml")
    with pytest.raises(AttributeError):
        t.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- the format reference

README = Path(__file__).parents[2] / "workflows" / "README.md"


def test_the_complete_example_in_the_reference_is_the_bundled_template() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    example = load_template(blocks[-1], source="README.md")
    assert example == bundled("annual-work-plan")


@pytest.mark.parametrize(
    "model",
    [
        TemplateDoc,
        RoleDoc,
        StateDoc,
        TaskDoc,
        EscalationDoc,
        TransitionDoc,
        ScoreDoc,
        ReminderDoc,
    ],
    ids=lambda m: m.__name__,
)
def test_the_reference_documents_every_key(model: type[BaseModel]) -> None:
    reference = README.read_text(encoding="utf-8")
    for name, field in model.model_fields.items():
        assert f"`{field.alias or name}`" in reference, f"{model.__name__}.{name}"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("score: required", ScoreRange(0, 100)),
        ("score: {required: true}", ScoreRange(0, 100)),
        ("score: {required: true, min: 1, max: 5}", ScoreRange(1, 5)),
        ("score: {required: true, min: -10, max: 10.5}", ScoreRange(-10, 10.5)),
    ],
)
def test_a_score_range_is_read_into_the_transition(written: str, expected: ScoreRange) -> None:
    source = bundled_path("annual-work-plan").read_text(encoding="utf-8")
    template = load_template(source.replace("score: required", written), source="t.yaml")
    [assess] = [t for t in template.transitions if t.score_required]
    assert (assess.trigger, assess.score_range) == ("assess", expected)
    assert all(t.score_range == ScoreRange() for t in template.transitions if t is not assess)


# --------------------------------------------------------------------------- robustness

SOURCE_LINES = bundled_path("annual-work-plan").read_text(encoding="utf-8").splitlines()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(SOURCE_LINES),
            st.text(alphabet="abc :-[]{}&*!#'\"\t\n,0123456789", max_size=20),
        ),
        max_size=40,
    )
)
def test_any_text_gives_a_template_or_a_template_error(lines: list[str]) -> None:
    """Shuffled and mangled templates never crash the loader: they load or say what is wrong."""
    try:
        load_template("\n".join(lines), source="fuzz.yaml")
    except TemplateError as error:
        assert error.problems
        assert all(p.file == "fuzz.yaml" and "\n" not in p.message for p in error.problems)


def test_a_tag_on_the_whole_document_is_a_problem_not_a_crash() -> None:
    """Found by the fuzz test above: a tagged root mapping used to trip an assertion."""
    with pytest.raises(TemplateError) as raised:
        load_template("!0\nplanflow: 1\n", source="t.yaml")
    assert (
        str(raised.value.problems[0]) == "t.yaml:1:1: tags that build objects are not allowed: !0"
    )
