"""Plan files (DESIGN.md §4): YAML or JSON text → PlanSpec, every invalid field located."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.errors import PlanFileError
from engine.core.planfile import (
    Comparator,
    GoalSpec,
    ItemSpec,
    PlanSpec,
    SectionSpec,
    parse_plan,
    parse_plan_file,
)

PLAN = """\
org: 城关镇总工会
year: 2026
title: 城关镇总工会2026年工作计划
template: {name: annual-work-plan, version: 1}
sections:
  - heading: 指导思想
    body: |
      坚持以职工为中心。
goals:
  - {key: new-members, title: 发展新会员, target: 300, unit: 人}
  - {key: complaints, title: 职工投诉, target: 5, unit: 件, comparator: "<="}
  - {key: coverage_rate, title: 建会率, target: 98.5, unit: "%", comparator: "="}
items:
  - {month: 3, title: 庆祝三八国际劳动妇女节活动, detail: 组织女职工座谈会, due_day: 8}
  - {month: 12, title: "  年终总结  "}
"""

EXPECTED = PlanSpec(
    org="城关镇总工会",
    year=2026,
    title="城关镇总工会2026年工作计划",
    template_name="annual-work-plan",
    template_version=1,
    sections=(SectionSpec("指导思想", "坚持以职工为中心。\n"),),
    goals=(
        GoalSpec("new-members", "发展新会员", Decimal("300"), "人", Comparator.AT_LEAST),
        GoalSpec("complaints", "职工投诉", Decimal("5"), "件", Comparator.AT_MOST),
        GoalSpec("coverage_rate", "建会率", Decimal("98.5"), "%", Comparator.EQUAL),
    ),
    items=(
        ItemSpec(3, "庆祝三八国际劳动妇女节活动", "组织女职工座谈会", 8),
        ItemSpec(12, "年终总结"),
    ),
)


def problems(text: str, source: str = "plan.yaml") -> list[str]:
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source=source)
    return [str(p).removeprefix(f"{source}:") for p in caught.value.problems]


def test_a_yaml_plan_parses_into_frozen_specs() -> None:
    spec = parse_plan(PLAN, source="plan.yaml")
    assert spec == EXPECTED
    with pytest.raises(AttributeError):
        spec.year = 2027  # type: ignore[misc]


def test_a_json_plan_parses_the_same_even_with_tabs() -> None:
    document = {
        "org": "城关镇总工会",
        "year": 2026,
        "title": "城关镇总工会2026年工作计划",
        "template": {"name": "annual-work-plan", "version": 1},
        "sections": [{"heading": "指导思想", "body": "坚持以职工为中心。\n"}],
        "goals": [
            {"key": "new-members", "title": "发展新会员", "target": 300, "unit": "人"},
            {
                "key": "complaints",
                "title": "职工投诉",
                "target": 5,
                "unit": "件",
                "comparator": "<=",
            },
            {
                "key": "coverage_rate",
                "title": "建会率",
                "target": "98.5",
                "unit": "%",
                "comparator": "=",
            },
        ],
        "items": [
            {
                "month": 3,
                "title": "庆祝三八国际劳动妇女节活动",
                "detail": "组织女职工座谈会",
                "due_day": 8,
            },
            {"month": 12, "title": "年终总结", "detail": "", "due_day": None},
        ],
    }
    text = json.dumps(document, ensure_ascii=False, indent="\t")
    assert parse_plan(text, source="plan.json") == EXPECTED


def test_defaults_template_by_name_and_empty_lists() -> None:
    spec = parse_plan(
        "org: o\nyear: 2026\ntitle: t\ntemplate: township-annual-plan\n", source="p.yaml"
    )
    assert (spec.template_name, spec.template_version) == ("township-annual-plan", None)
    assert (spec.sections, spec.goals, spec.items) == ((), (), ())


@pytest.mark.parametrize(
    ("written", "target"),
    [
        ("300", Decimal("300")),
        ("0.1", Decimal("0.1")),
        ('"98.50"', Decimal("98.50")),
        ("1e3", Decimal("1000.0")),
    ],
)
def test_targets_are_exact_decimals(written: str, target: Decimal) -> None:
    goal = f"  - {{key: k, title: g, target: {written}, unit: 人}}\n"
    text = f"org: o\nyear: 2026\ntitle: t\ntemplate: x\ngoals:\n{goal}"
    assert parse_plan(text, source="p.yaml").goals[0].target == target


def test_item_label_names_the_month_and_title() -> None:
    assert ItemSpec(3, "庆祝三八国际劳动妇女节活动").label == "3月 庆祝三八国际劳动妇女节活动"


def test_comparator_values() -> None:
    assert [c.value for c in Comparator] == [">=", "<=", "="]


HEAD = "org: 城关镇总工会\nyear: 2026\ntitle: 计划\ntemplate: annual-work-plan\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD.replace("2026", "1999"), ["2:7: 'year' must be between 2000 and 2100, got 1999"]),
        (HEAD.replace("2026", '"2026"'), ["2:7: 'year' must be a whole number, got '2026'"]),
        (HEAD.replace("title: 计划", "title: '  '"), ["3:8: 'title' must not be empty"]),
        (
            HEAD.replace("org: 城关镇总工会", "org: 310101"),
            ["1:6: 'org' must be text, got 310101; put it in quotes: \"310101\""],
        ),
        (
            HEAD.replace(
                "template: annual-work-plan", "template: {name: annual-work-plan, verison: 2}"
            ),
            ["4:36: unknown key 'verison' in 'template'; did you mean 'version'?"],
        ),
        (
            HEAD.replace(
                "template: annual-work-plan", "template: {name: annual-work-plan, version: 0}"
            ),
            ["4:45: 'version' must be 1 or more, got 0"],
        ),
        (
            HEAD.replace("template: annual-work-plan", "template: 3"),
            ["4:11: 'template' must be a template name or {name, version}, got 3"],
        ),
        (HEAD.replace("year: 2026\n", ""), ["1:1: missing key 'year' at the top level"]),
        (
            HEAD + "owner: 张三\n",
            [
                "5:1: unknown key 'owner' at the top level; "
                "allowed keys: org, year, title, template, sections, goals, items"
            ],
        ),
        (
            HEAD + "items:\n"
            "  - {month: 13, title: 职工书屋建设, due_day: 32}\n"
            "  - {month: 0, title: x}\n",
            [
                "6:13: 'month' must be between 1 and 12, got 13",
                "6:41: 'due_day' must be between 1 and 31, got 32",
                "7:13: 'month' must be between 1 and 12, got 0",
            ],
        ),
        (
            HEAD + "items:\n  - {month: 5, titel: 劳模表彰}\n",
            ["6:16: unknown key 'titel' in item 1; did you mean 'title'?"],
        ),
        (
            HEAD + "items:\n  - {month: 5, title: 劳模表彰, detail: 3}\n",
            ["6:37: 'detail' must be text, got 3; put it in quotes: \"3\""],
        ),
        (
            HEAD + "goals:\n  - {key: New Members, title: 发展新会员, target: 300, unit: 人}\n",
            ["6:11: 'key' must be lowercase letters, digits, '_' and '-', got 'New Members'"],
        ),
        (
            HEAD + "goals:\n"
            "  - {key: a, title: 建会, target: 三百, unit: 个}\n"
            "  - {key: b, title: x, target: true, unit: 个}\n",
            [
                "6:33: 'target' must be a number like 300 or 98.5, got '三百'",
                "7:32: 'target' must be a number like 300 or 98.5, got true",
            ],
        ),
        (
            HEAD + "goals:\n  - {key: a, title: 建会, target: .nan, unit: 个}\n",
            ["6:33: 'target' must be a number like 300 or 98.5, got nan"],
        ),
        (
            HEAD + "goals:\n  - {key: a, title: 建会, target: 3, unit: ''}\n",
            ["6:42: 'unit' must not be empty"],
        ),
        (
            HEAD + "goals:\n  - {key: a, title: 建会, target: 3}\n",
            ["6:5: missing key 'unit' in goal 1 (a)"],
        ),
        (
            HEAD + "goals:\n  - {key: a, title: 建会, target: 3, unit: 个, comparator: '>'}\n",
            ["6:57: 'comparator' must be '>=', '<=' or '=', got '>'; did you mean '>='?"],
        ),
        (
            HEAD + "goals:\n  comparator: >=\n",
            ["6:15: YAML syntax: a value starting with '>' or '|' must be quoted, e.g. \">=\""],
        ),
        (HEAD + "sections:\n  - {heading: '', body: x}\n", ["6:15: 'heading' must not be empty"]),
        (
            HEAD + "sections: 总体要求\n",
            ["5:11: 'sections' must be a list, like [a, b], got '总体要求'"],
        ),
    ],
)
def test_every_invalid_field_is_named_with_its_line(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_allow_negative_is_false_unless_the_goal_sets_it() -> None:
    text = HEAD + (
        "goals:\n"
        "  - {key: members, title: 发展新会员, target: 300, unit: 人}\n"
        "  - {key: surplus, title: 经费结余, target: 0, unit: 万元, allow_negative: true}\n"
        "  - {key: homes, title: 职工之家, target: 10, unit: 个, allow_negative: false}\n"
    )
    goals = parse_plan(text, source="p.yaml").goals
    assert [g.allow_negative for g in goals] == [False, True, False]
    assert goals[1] == GoalSpec(
        "surplus", "经费结余", Decimal(0), "万元", Comparator.AT_LEAST, allow_negative=True
    )


@pytest.mark.parametrize(
    ("written", "got"),
    [("yes", "'yes'"), ('"true"', "'true'"), ("1", "1"), ("null", "an empty value")],
)
def test_allow_negative_must_be_true_or_false(written: str, got: str) -> None:
    goal = f"  - {{key: k, title: g, target: 1, unit: 人, allow_negative: {written}}}\n"
    assert problems(HEAD + "goals:\n" + goal) == [
        f"6:60: 'allow_negative' must be true or false, got {got}"
    ]


def test_duplicate_goal_keys_say_where_the_first_one_is() -> None:
    text = HEAD + (
        "goals:\n"
        "  - {key: members, title: 发展新会员, target: 300, unit: 人}\n"
        "  - {key: homes, title: 职工之家, target: 10, unit: 个}\n"
        "  - {key: members, title: 会员实名制, target: 95, unit: '%'}\n"
    )
    assert problems(text) == ["8:11: duplicate goal key 'members' (first used at line 6)"]


def test_all_problems_are_reported_together() -> None:
    text = (
        "org: 城关镇总工会\nyear: 1999\ntitle: 计划\ntemplate: annual-work-plan\n"
        "goals:\n"
        "  - {key: a, title: x, target: abc, unit: 个}\n"
        "  - {key: a, title: y, target: 1, unit: 个}\n"
        "items:\n  - {month: 13, title: 活动}\n"
        "year: 2026\n"
    )
    assert problems(text) == [
        "2:7: 'year' must be between 2000 and 2100, got 1999",
        "6:32: 'target' must be a number like 300 or 98.5, got 'abc'",
        "7:11: duplicate goal key 'a' (first used at line 6)",
        "9:13: 'month' must be between 1 and 12, got 13",
        "10:1: duplicate key 'year' (first written at line 2, column 1)",
    ]


def test_unreadable_files_are_plan_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="the file is empty"):
        parse_plan("# nothing\n", source="p.yaml")
    with pytest.raises(PlanFileError, match="binary data"):
        parse_plan(b"org: \x00", source="p.yaml")
    with pytest.raises(PlanFileError, match="cannot read the file"):
        parse_plan_file(tmp_path / "missing.yaml")


def test_parse_plan_file_names_the_file_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    assert parse_plan_file(path) == EXPECTED
    path.write_text(PLAN.replace("year: 2026", "year: 3000"), encoding="utf-8")
    with pytest.raises(PlanFileError) as caught:
        parse_plan_file(path)
    assert str(caught.value) == f"{path}:2:7: 'year' must be between 2000 and 2100, got 3000"
