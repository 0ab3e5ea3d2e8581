"""`write_plan_file`: a plan written back as a plan file reads back as the same plan."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.planfile import (
    Comparator,
    GoalSpec,
    ItemSpec,
    PlanSpec,
    SectionSpec,
    parse_plan,
    parse_plan_file,
)
from engine.core.planfile_export import write_plan_file
from engine.demo import plan_files


@pytest.mark.parametrize("path", plan_files(), ids=lambda p: p.stem)
def test_every_demo_plan_reads_back_unchanged(path: object) -> None:
    spec = parse_plan_file(str(path))
    text = write_plan_file(spec)
    assert parse_plan(text, source="export") == spec
    assert "\\u" not in text  # Chinese stays readable
    assert spec.title in text


def plan(**changes: object) -> PlanSpec:
    base = PlanSpec(
        org="zishan-middle-school",
        year=2027,
        title="梓山中学工会2027年工作计划",
        template_name="annual-work-plan",
        template_version=None,
        sections=(SectionSpec("指导思想", "第一行\n第二行"),),
        goals=(GoalSpec("new-members", "发展新会员", Decimal(300), "人"),),
        items=(ItemSpec(3, "庆祝三八国际劳动妇女节活动", "", 8), ItemSpec(6, "上半年总结")),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    # Text that PyYAML would write plain but the core-schema loader reads as something else, or
    # text that needs care in a block: each must come back as the same text.
    [
        "0o17",
        "0x1F",
        "TRUE",
        "null",
        "~",
        "yes",
        "08",
        "1e3",
        ".inf",
        "  前导空格",
        "末尾空格 ",
        "行一\n行二\n",
        "a: b",
        "# 不是注释",
        "- 列表",
        "'引号'",
        '"双引号"',
        "制表\t符",
        "NEL\x85行",  # line breaks YAML knows besides \n: found by the property test below
        "LS\u2028PS\u2029",
        "回车\r\n换行",
        "",
    ],
)
def test_awkward_text_survives(text: str) -> None:
    spec = plan(
        sections=(SectionSpec("标题", text),),
        items=(ItemSpec(1, "事项", text or "", None),),
    )
    assert parse_plan(write_plan_file(spec), source="export") == spec


def test_targets_are_exact_and_defaults_are_left_out() -> None:
    spec = plan(
        goals=(
            GoalSpec("rate", "入会率", Decimal("98.5"), "%", Comparator.AT_LEAST),
            GoalSpec("complaints", "投诉", Decimal("0.1"), "件", Comparator.AT_MOST),
        ),
        template_version=2,
    )
    text = write_plan_file(spec)
    assert "target: 98.5\n" in text and "target: 0.1\n" in text
    assert "comparator: <=" in text.replace("'", "")
    assert "version: 2" in text
    assert "detail" not in text  # every item's detail is empty
    assert text.count("due_day") == 1  # only the item that has one
    assert parse_plan(text, source="export") == spec


def test_allow_negative_is_written_only_where_it_is_true() -> None:
    spec = plan(
        goals=(
            GoalSpec("members", "发展新会员", Decimal(30), "人"),
            GoalSpec("surplus", "经费结余变化", Decimal(-2), "万元", allow_negative=True),
        )
    )
    text = write_plan_file(spec)
    assert text.count("allow_negative") == 1 and "allow_negative: true\n" in text
    assert parse_plan(text, source="export") == spec


# Titles are stored stripped (the format strips them); bodies and details are kept as written.
# No NUL and no lone surrogate: no database stores them, so no stored plan holds one.
_title = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
).map(str.strip)
_body = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60
)


@settings(max_examples=300, deadline=None, derandomize=True)  # the same cases every run
@given(title=_title.filter(bool), body=_body, item_title=_title.filter(bool), detail=_body)
def test_any_text_survives(title: str, body: str, item_title: str, detail: str) -> None:
    spec = plan(
        title=title,
        sections=(SectionSpec("h", body),),
        items=(ItemSpec(1, item_title, detail),),
    )
    assert parse_plan(write_plan_file(spec), source="export") == spec
