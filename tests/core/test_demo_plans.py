"""The demo plan files: valid plan files for the six demo organisations, covering a whole year."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.planfile import parse_plan_file
from engine.core.planning import item_due_date
from engine.demo import plan_files

TOWNSHIPS = {"zishan-town", "songshan-town"}
GRASSROOTS = {
    "zishan-middle-school",
    "zishan-bike-factory",
    "songshan-hospital",
    "songshan-agri-college",
}
FILES = plan_files()


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_one_file_per_demo_organisation_in_name_order() -> None:
    assert [p.name for p in FILES] == sorted(f"{org}-2027.yaml" for org in TOWNSHIPS | GRASSROOTS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_top_level_keys_and_template(path: Path) -> None:
    document = load(path)
    assert set(document) == {"org", "year", "title", "template", "sections", "goals", "items"}
    assert f"{document['org']}-{document['year']}.yaml" == path.name
    expected = "township-annual-plan" if document["org"] in TOWNSHIPS else "annual-work-plan"
    assert document["template"] == expected


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_items_cover_every_month(path: Path) -> None:
    items = load(path)["items"]
    assert 12 <= len(items) <= 20
    assert {item["month"] for item in items} == set(range(1, 13))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_goals_have_unique_keys_and_numeric_targets(path: Path) -> None:
    goals = load(path)["goals"]
    assert 3 <= len(goals) <= 6
    keys = [goal["key"] for goal in goals]
    assert len(set(keys)) == len(keys)
    assert all(isinstance(goal["target"], int | float) for goal in goals)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_parses_as_a_plan_file(path: Path) -> None:
    spec = parse_plan_file(path)
    assert spec.year == 2027
    assert len(spec.items) == len(load(path)["items"])
    assert 2 <= len(spec.sections) <= 3


def test_demo_exercises_month_end_clamping() -> None:
    due_days = {
        (item["month"], item["due_day"])
        for path in FILES
        for item in load(path)["items"]
        if item.get("due_day") is not None
    }
    assert (2, 30) in due_days  # February 30 → 2027-02-28
    assert any(month in (4, 6, 9, 11) and day == 31 for month, day in due_days)
    for month, day in due_days:
        assert item_due_date(2027, month, day).month == month
