"""Messages read in the reader's language: errors, located problems, guard reasons."""

from __future__ import annotations

import pytest

from engine.core.errors import ActionRefused, TemplateError
from engine.core.guards import GUARDS, PlanFacts
from engine.core.i18n import Message, render, translate, use_language
from engine.core.template.compile import Workflow
from engine.core.template.validate import load_template, load_template_file
from workflows import bundled_templates


def test_an_error_reads_in_chinese_and_in_english() -> None:
    error = ActionRefused(
        "'{trigger}' needs a comment saying why (--comment)",
        code="action.comment_required",
        trigger="return",
    )
    assert error.render("zh_CN") == "执行“return”须填写理由（--comment）"
    assert error.render("en") == "'return' needs a comment saying why (--comment)"


def test_a_template_without_values_is_not_formatted() -> None:
    assert render("keep {braces}", {}, "en") == "keep {braces}"
    assert translate("", "zh_CN") == ""  # never gettext's catalogue header


def test_a_located_problem_reads_in_chinese_but_prints_english() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template("name: x\nname: y\n", source="t.yaml")
    problem = next(p for p in caught.value.problems if p.line == 2)
    assert str(problem) == "t.yaml:2:1: duplicate key 'name' (first written at line 1, column 1)"
    assert problem.render("zh_CN") == "t.yaml:2:1: 键 'name' 重复（第 1 行第 1 列已写过）"
    with use_language("zh_CN"):
        assert "t.yaml:2:1: 键 'name' 重复" in caught.value.message


def test_a_did_you_mean_hint_is_translated_inside_its_sentence() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template("name: x\nversion: 1\nformat: 1\nstaets: {}\n", source="t.yaml")
    said = [p.render("zh_CN") for p in caught.value.problems]
    assert "t.yaml:4:1: 未知的键 'staets'（在最外层）；是不是要写 'states'？" in said


def test_a_guard_failure_carries_the_guard_and_reads_in_chinese() -> None:
    workflow = Workflow(load_template_file(bundled_templates()[0]))
    transition = next(t for t in workflow.template.transitions if "has_items" in t.guards)
    state = transition.sources[0]
    with pytest.raises(ActionRefused) as refused:
        workflow.fire(state, transition.trigger, PlanFacts(item_count=0, goal_count=1))
    error = refused.value
    assert (error.code, error.fields["guard"], error.fields["trigger"]) == (
        "action.guard_failed",
        "has_items",
        transition.trigger,
    )
    assert error.render("zh_CN") == (
        f"无法执行“{transition.trigger}”：计划中还没有月度工作事项，请至少添加一项"
    )


def test_every_guard_reason_is_a_message() -> None:
    facts = PlanFacts(
        item_count=0,
        goal_count=0,
        unreported_goals=("a",),
        unreported_items=("b",),
        current_task_touched=True,
    )
    assert all(isinstance(guard(facts), Message) for guard in GUARDS.values())
