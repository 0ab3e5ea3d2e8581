"""Plans as files (DESIGN.md §4): YAML or JSON text → a frozen `PlanSpec`.

`planflow plan create --file` and the API hand the text here. Reading goes through the same
located loader and validation as templates (`yamlsource`), so every invalid field is reported at
its line, all at once, as a `PlanFileError`. Whether the organisation and template exist is for the
service to decide; this module only knows the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, field_validator

from engine.core.errors import PlanFileError, Problem
from engine.core.yamlschema import Describer, DocModel, Text, at_least, between, show, validate
from engine.core.yamlsource import LoadedYaml, load_yaml, load_yaml_file


class Comparator(StrEnum):
    AT_LEAST = ">="
    AT_MOST = "<="
    EQUAL = "="


@dataclass(frozen=True)
class SectionSpec:
    heading: str
    body: str


@dataclass(frozen=True)
class GoalSpec:
    key: str
    title: str
    target: Decimal
    unit: str
    comparator: Comparator = Comparator.AT_LEAST


@dataclass(frozen=True)
class ItemSpec:
    month: int
    title: str
    detail: str = ""
    due_day: int | None = None  # None: the month's last day

    @property
    def label(self) -> str:
        """How people name an item: "3月 庆祝三八国际劳动妇女节活动"."""
        return f"{self.month}月 {self.title}"


@dataclass(frozen=True)
class PlanSpec:
    org: str
    year: int
    title: str
    template_name: str
    template_version: int | None  # None: the newest version when the plan is created
    sections: tuple[SectionSpec, ...]
    goals: tuple[GoalSpec, ...]
    items: tuple[ItemSpec, ...]


def parse_plan(text: str | bytes, *, source: str) -> PlanSpec:
    """Parse a plan file's text; `source` names it in messages."""
    return _checked(load_yaml(text, source=source, error=PlanFileError))


def parse_plan_file(path: str | Path) -> PlanSpec:
    return _checked(load_yaml_file(path, error=PlanFileError))


# --------------------------------------------------------------------------- the raw document

GOAL_KEY = re.compile(r"[a-z0-9_-]+")


def _goal_key(value: str) -> str:
    if not GOAL_KEY.fullmatch(value):
        raise ValueError(f"must be lowercase letters, digits, '_' and '-', got {show(value)}")
    return value


def _number(value: Any) -> Decimal:
    """Targets are exact decimals: 300, 98.5 or "98.5" (floats go through their shortest text)."""
    number: Decimal | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(repr(value)) if math.isfinite(value) else None
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        raise ValueError(f"must be a number like 300 or 98.5, got {show(value)}")
    return number


class TemplateRefDoc(DocModel):
    name: Text
    version: Annotated[int, AfterValidator(at_least(1))] | None = None


class SectionDoc(DocModel):
    heading: Text
    body: str = ""


class GoalDoc(DocModel):
    key: Annotated[str, AfterValidator(_goal_key)]
    title: Text
    target: Annotated[Decimal, PlainValidator(_number)]
    unit: Text
    comparator: Literal[">=", "<=", "="] = ">="


class ItemDoc(DocModel):
    month: Annotated[int, AfterValidator(between(1, 12))]
    title: Text
    detail: str = ""
    due_day: Annotated[int, AfterValidator(between(1, 31))] | None = None


class PlanDoc(DocModel):
    org: Text
    year: Annotated[int, AfterValidator(between(2000, 2100))]
    title: Text
    template: TemplateRefDoc
    sections: list[SectionDoc] = Field(default_factory=list)
    goals: list[GoalDoc] = Field(default_factory=list)
    items: list[ItemDoc] = Field(default_factory=list)

    @field_validator("template", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        """`template: annual-work-plan` means `template: {name: annual-work-plan}`."""
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, dict):
            raise ValueError(f"must be a template name or {{name, version}}, got {show(value)}")
        return value

    def to_spec(self) -> PlanSpec:
        return PlanSpec(
            org=self.org,
            year=self.year,
            title=self.title,
            template_name=self.template.name,
            template_version=self.template.version,
            sections=tuple(SectionSpec(s.heading, s.body) for s in self.sections),
            goals=tuple(
                GoalSpec(g.key, g.title, g.target, g.unit, Comparator(g.comparator))
                for g in self.goals
            ),
            items=tuple(ItemSpec(i.month, i.title, i.detail, i.due_day) for i in self.items),
        )


DESCRIBE = Describer(
    entries={"sections": "section", "goals": "goal", "items": "item"},
    labels={"sections": "heading", "goals": "key", "items": "title"},
)


def _checked(loaded: LoadedYaml) -> PlanSpec:
    doc, schema_problems = validate(loaded, PlanDoc, describe=DESCRIBE)
    problems = [*loaded.problems, *schema_problems, *_duplicate_goal_keys(loaded)]
    if problems:
        raise PlanFileError(problems)
    assert doc is not None  # no problems means the schema accepted it
    return doc.to_spec()


def _duplicate_goal_keys(loaded: LoadedYaml) -> list[Problem]:
    """Goal keys name the goals when actuals are reported, so each must be unique."""
    goals = loaded.data.get("goals")
    first_line: dict[str, int] = {}
    problems = []
    for i, goal in enumerate(goals if isinstance(goals, list) else ()):
        key = goal.get("key") if isinstance(goal, dict) else None
        if not isinstance(key, str):
            continue
        line = loaded.where(("goals", i, "key")).line
        if key in first_line:
            message = f"duplicate goal key '{key}' (first used at line {first_line[key]})"
            problems.append(loaded.problem(("goals", i, "key"), message))
        else:
            first_line[key] = line
    return problems
