"""Plan files that do not fit the database are refused in the pure core, naming the field.

Hostile and unusual files: texts longer than their column, NUL characters, surrogate escapes,
numbers that overflow, targets that decide nothing, duplicate items, too many entries, and files
far larger than the limit (refused without reading them whole).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core import limits
from engine.core.errors import PlanFileError
from engine.core.planfile import parse_plan, parse_plan_file
from engine.core.yamlsource import MAX_BYTES


def document(**changes: Any) -> dict[str, Any]:
    """A valid plan file as data, with `changes` applied at the top level."""
    plan: dict[str, Any] = {
        "org": "zishan-middle-school",
        "year": 2027,
        "title": "梓山中学工会2027年工作计划",
        "template": {"name": "annual-work-plan"},
        "sections": [{"heading": "指导思想", "body": "以职工为中心。"}],
        "goals": [{"key": "members", "title": "发展新会员", "target": 30, "unit": "人"}],
        "items": [{"month": 3, "title": "三八节活动", "detail": "座谈会"}],
    }
    plan.update(changes)
    return plan


def json_problems(plan: dict[str, Any], **dumps: Any) -> list[str]:
    """The problems of `plan` written as JSON (one value per line), without the file name."""
    with pytest.raises(PlanFileError) as caught:
        parse_plan(json.dumps(plan, indent=1, **dumps), source="p.json")
    return [problem.message for problem in caught.value.problems]


def with_field(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    plan = document()
    target: Any = plan
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return plan


# (path in the document, limit, a valid character to repeat)
TEXT_FIELDS = [
    (("org",), limits.ORG_CODE, "z"),
    (("title",), limits.PLAN_TITLE, "计"),
    (("template", "name"), limits.TEMPLATE_NAME, "a"),
    (("sections", 0, "heading"), limits.SECTION_HEADING, "指"),
    (("sections", 0, "body"), limits.SECTION_BODY, "职"),
    (("goals", 0, "key"), limits.GOAL_KEY, "k"),
    (("goals", 0, "title"), limits.GOAL_TITLE, "会"),
    (("goals", 0, "unit"), limits.GOAL_UNIT, "人"),
    (("items", 0, "title"), limits.ITEM_TITLE, "活"),
    (("items", 0, "detail"), limits.ITEM_DETAIL, "座"),
]


@pytest.mark.parametrize(("path", "limit", "char"), TEXT_FIELDS, ids=lambda p: str(p))
def test_each_text_is_refused_one_character_past_its_limit(
    path: tuple[str | int, ...], limit: int, char: str
) -> None:
    parse_plan(json.dumps(with_field(path, char * limit)), source="p.json")  # at the limit: fine
    assert json_problems(with_field(path, char * (limit + 1))) == [
        f"'{path[-1]}' is {limit + 1} characters long; the limit is {limit}"
    ]


def test_an_emoji_counts_as_one_character_however_it_is_written() -> None:
    title = "🎊" * limits.PLAN_TITLE
    for escaped in (True, False):
        text = json.dumps(document(title=title), ensure_ascii=escaped)
        assert parse_plan(text, source="p.json").title == title


def test_a_surrogate_pair_escape_is_read_as_the_character_it_stands_for() -> None:
    # json.dumps writes characters beyond U+FFFF as a surrogate pair by default.
    text = json.dumps(document(title="庆祝新年🎊"), ensure_ascii=True)
    assert "\\ud83c\\udf8a" in text
    spec = parse_plan(text, source="p.json")
    assert spec.title == "庆祝新年🎊"
    assert spec.title.encode("utf-8")  # storable: no surrogate is left
    yaml_text = 'org: o\nyear: 2027\ntitle: "\\ud83c\\udf8a \\U0001F38A"\ntemplate: x\n'
    assert parse_plan(yaml_text, source="p.yaml").title == "🎊 🎊"


@pytest.mark.parametrize(
    ("escape", "where"),
    [("\\ud83c", "\\ud83c"), ("\\udf8a", "\\udf8a"), ("\\udf8a\\ud83c", "\\udf8a")],
)
def test_a_lone_surrogate_is_refused_naming_the_field(escape: str, where: str) -> None:
    text = json.dumps(document(), ensure_ascii=False).replace("三八节活动", f"三八节{escape}")
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.json")
    assert [p.message for p in caught.value.problems] == [
        f"'title' contains a lone UTF-16 surrogate ({where}), which is not a character; "
        "write the character itself or its full surrogate pair"
    ]


@pytest.mark.parametrize("path", [field[0] for field in TEXT_FIELDS], ids=str)
def test_a_nul_character_is_refused_naming_the_field(path: tuple[str | int, ...]) -> None:
    value = "a\0b" if path[-1] != "key" else "k\0"
    assert json_problems(with_field(path, value)) == [
        f"'{path[-1]}' contains a NUL character (\\u0000), which cannot be stored; remove it"
    ]


def test_a_nul_written_as_a_yaml_escape_or_in_a_key_is_refused() -> None:
    text = 'org: "o\\0"\nyear: 2027\ntitle: t\ntemplate: x\n"ex\\x00tra": 1\n'
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:1:6: 'org' contains a NUL character (\\u0000), which cannot be stored; remove it",
        "p.yaml:5:1: a key contains a NUL character (\\u0000), which cannot be stored; remove it",
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1e400", "must be at most 1,000,000,000,000 in size, got Infinity"),
        ('"1e400"', "must be at most 1,000,000,000,000 in size, got 1e+400"),
        ("1" + "0" * 400, "must be at most 1,000,000,000,000 in size, got 1.00000e+400"),
        ("-1e400", "must be at most 1,000,000,000,000 in size, got -Infinity"),
        ('"Infinity"', "must be at most 1,000,000,000,000 in size, got Infinity"),
        (".inf", "must be at most 1,000,000,000,000 in size, got Infinity"),
        ("1000000000001", "must be at most 1,000,000,000,000 in size, got 1.00000e+12"),
        ('"NaN"', "must be a number like 300 or 98.5, got 'NaN'"),
        (
            '"3.14159265358979323846"',
            "has 21 significant digits; a stored target keeps 15, so round it",
        ),
    ],
)
def test_targets_that_overflow_or_lose_digits_are_refused(written: str, message: str) -> None:
    text = "org: o\nyear: 2027\ntitle: t\ntemplate: x\ngoals:\n  - key: k\n    title: g\n"
    text += f"    unit: 人\n    target: {written}\n"
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.yaml")
    assert [str(p) for p in caught.value.problems] == [f"p.yaml:9:13: 'target' {message}"]


def test_the_largest_target_is_stored_exactly() -> None:
    goal = {"key": "k", "title": "g", "target": "999999999999.999", "unit": "元"}
    [parsed] = parse_plan(json.dumps(document(goals=[goal])), source="p.json").goals
    assert float(parsed.target) == 999999999999.999
    assert repr(float(parsed.target)) == "999999999999.999"


NON_NEGATIVE = "actuals are 0 or more unless the goal sets 'allow_negative: true'"


@pytest.mark.parametrize(
    ("comparator", "target", "outcome"),
    [
        (">=", -5, f"is met by every actual ({NON_NEGATIVE}); set a target above 0"),
        (">=", 0, f"is met by every actual ({NON_NEGATIVE}); set a target above 0"),
        ("<=", -1, f"can never be met ({NON_NEGATIVE})"),
        ("=", "-0.5", f"can never be met ({NON_NEGATIVE})"),
    ],
)
def test_a_target_that_decides_nothing_is_refused(
    comparator: str, target: int | str, outcome: str
) -> None:
    goal = {"key": "k", "title": "g", "target": target, "unit": "人", "comparator": comparator}
    assert json_problems(document(goals=[goal])) == [
        f"'target' {target} with comparator '{comparator}' {outcome}"
    ]


@pytest.mark.parametrize(("comparator", "target"), [(">=", "0.5"), ("<=", 0), ("=", 0)])
def test_targets_that_can_go_either_way_are_accepted(comparator: str, target: int | str) -> None:
    goal = {"key": "k", "title": "g", "target": target, "unit": "件", "comparator": comparator}
    assert parse_plan(json.dumps(document(goals=[goal])), source="p.json").goals


@pytest.mark.parametrize("comparator", [">=", "<=", "="])
@pytest.mark.parametrize("target", [-5, 0, "0.5"])
def test_a_goal_that_allows_negative_actuals_takes_any_target(
    comparator: str, target: int | str
) -> None:
    """Actuals may then be any finite number: every target splits them into met and not met."""
    goal = {
        "key": "k",
        "title": "经费结余变化",
        "target": target,
        "unit": "万元",
        "comparator": comparator,
        "allow_negative": True,
    }
    [parsed] = parse_plan(json.dumps(document(goals=[goal])), source="p.json").goals
    assert (parsed.target, parsed.allow_negative) == (Decimal(str(target)), True)


def test_a_goal_whose_allow_negative_is_invalid_gets_that_one_problem() -> None:
    """The verdict on the target depends on the flag, so only the flag is reported."""
    goal = {"key": "k", "title": "g", "target": -5, "unit": "人", "allow_negative": "yes"}
    assert json_problems(document(goals=[goal])) == [
        "'allow_negative' must be true or false, got 'yes'"
    ]


def test_two_items_with_the_same_month_and_title_are_refused() -> None:
    items = [
        {"month": 3, "title": "三八节活动"},
        {"month": 4, "title": "三八节活动"},  # another month: a different item
        {"month": 3, "title": " 三八节活动 "},  # the same once stripped
    ]
    text = "org: o\nyear: 2027\ntitle: t\ntemplate: x\nitems:\n"
    text += "".join(f"  - {json.dumps(item, ensure_ascii=False)}\n" for item in items)
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:8:27: duplicate item '3月 三八节活动' (first at line 6); items are matched by "
        "month and title when a plan is amended, so no two may share both"
    ]


@pytest.mark.parametrize(
    ("key", "limit", "entry"),
    [
        ("sections", limits.MAX_SECTIONS, lambda n: {"heading": f"第{n}部分"}),
        (
            "goals",
            limits.MAX_GOALS,
            lambda n: {"key": f"g{n}", "title": "g", "target": 1, "unit": "个"},
        ),
        ("items", limits.MAX_ITEMS, lambda n: {"month": n % 12 + 1, "title": f"活动{n}"}),
    ],
)
def test_a_plan_holds_a_bounded_number_of_entries(key: str, limit: int, entry: Any) -> None:
    at_limit = document(**{key: [entry(n) for n in range(limit)]})
    assert len(getattr(parse_plan(json.dumps(at_limit), source="p.json"), key)) == limit
    over = document(**{key: [entry(n) for n in range(limit + 1)]})
    noun = key.removesuffix("s")
    assert json_problems(over) == [f"'{key}' holds {limit + 1} {noun}s; the limit is {limit}"]


def test_ten_thousand_items_are_refused() -> None:
    plan = document(items=[{"month": n % 12 + 1, "title": f"活动{n}"} for n in range(10_000)])
    assert json_problems(plan) == [f"'items' holds 10000 items; the limit is {limits.MAX_ITEMS}"]


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as out:
        out.write(b"org: o\nyear: 2027\ntitle: t\ntemplate: x\nitems:\n")
        chunk = b"  - {month: 1, title: x}\n" * 40_000
        while out.tell() < 50 * 1024 * 1024:
            out.write(chunk)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PlanFileError) as caught:
            parse_plan_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == f"{path}: the file is larger than the limit of 1 MiB"
    assert time.perf_counter() - started < 2
    assert peak < 3 * MAX_BYTES  # it read at most the limit and one byte, not 50 MiB


def test_the_documented_limits_are_the_enforced_ones() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "plan-files.md").read_text("utf-8")
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| ")}
    expected = {
        "`org`": [limits.ORG_CODE],
        "`title`": [limits.PLAN_TITLE],
        "`template` name": [limits.TEMPLATE_NAME],
        "`sections`": [limits.MAX_SECTIONS, limits.SECTION_HEADING, limits.SECTION_BODY],
        "`goals`": [limits.MAX_GOALS, limits.GOAL_KEY, limits.GOAL_TITLE, limits.GOAL_UNIT],
        "`items`": [limits.MAX_ITEMS, limits.ITEM_TITLE, limits.ITEM_DETAIL],
        "`target`": [int(limits.MAX_TARGET), limits.SIGNIFICANT_DIGITS],
        "comments and notes (`act --comment`, `report … --note`)": [limits.COMMENT],
    }
    for what, numbers in expected.items():
        assert [f"{n:,}" for n in numbers if f"{n:,}" not in rows[what]] == [], what


def test_whole_numbers_past_what_a_database_integer_holds_are_refused() -> None:
    text = "org: o\nyear: 2027\ntitle: t\ntemplate: {name: x, version: 99999999999999999999}\n"
    text += "goals:\n  - {key: k, title: g, unit: u, target: 1" + "0" * 5000 + "}\n"
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:4:30: 'version' must be 1,000,000 or less, got 99999999999999999999",
        # Past Python's 4,300 digits for reading an integer; shortened in the message.
        f"p.yaml:6:41: cannot read '{'1' + '0' * 38}…' as !!int",
    ]
