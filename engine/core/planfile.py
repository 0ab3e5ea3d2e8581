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

from engine.core import limits
from engine.core.errors import PlanFileError, Problem
from engine.core.i18n import N_, Message
from engine.core.yamlschema import (
    Complaint,
    Describer,
    DocModel,
    Text,
    at_least,
    at_most,
    at_most_entries,
    between,
    complain,
    fits,
    show,
    validate,
)
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
    # Whether actuals may be below zero: a goal that measures a change or a balance, not a count.
    allow_negative: bool = False


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
        raise complain(
            "must be lowercase letters, digits, '_' and '-', got {value}", value=show(value)
        )
    return value


def _number(value: Any) -> Decimal:
    """Targets are exact decimals: 300, 98.5 or "98.5" (floats go through their shortest text)."""
    number: Decimal | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # 1e400 reads as an infinite float: too large, like the infinity it became.
        number = None if isinstance(value, float) and math.isnan(value) else Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
    if number is None or number.is_nan():
        raise complain("must be a number like 300 or 98.5, got {value}", value=show(value))
    complaint = limits.target_complaint(number)
    if complaint is not None:
        raise Complaint(complaint)
    return number


class TemplateRefDoc(DocModel):
    name: Annotated[Text, AfterValidator(fits(limits.TEMPLATE_NAME))]
    version: (
        Annotated[int, AfterValidator(at_least(1)), AfterValidator(at_most(limits.MAX_VERSION))]
        | None
    ) = None


class SectionDoc(DocModel):
    heading: Annotated[Text, AfterValidator(fits(limits.SECTION_HEADING))]
    body: Annotated[str, AfterValidator(fits(limits.SECTION_BODY))] = ""


class GoalDoc(DocModel):
    key: Annotated[str, AfterValidator(fits(limits.GOAL_KEY)), AfterValidator(_goal_key)]
    title: Annotated[Text, AfterValidator(fits(limits.GOAL_TITLE))]
    target: Annotated[Decimal, PlainValidator(_number)]
    unit: Annotated[Text, AfterValidator(fits(limits.GOAL_UNIT))]
    comparator: Literal[">=", "<=", "="] = ">="
    allow_negative: bool = False


class ItemDoc(DocModel):
    month: Annotated[int, AfterValidator(between(1, 12))]
    title: Annotated[Text, AfterValidator(fits(limits.ITEM_TITLE))]
    detail: Annotated[str, AfterValidator(fits(limits.ITEM_DETAIL))] = ""
    due_day: Annotated[int, AfterValidator(between(1, 31))] | None = None


class PlanDoc(DocModel):
    org: Annotated[Text, AfterValidator(fits(limits.ORG_CODE))]
    year: Annotated[int, AfterValidator(between(2000, 2100))]
    title: Annotated[Text, AfterValidator(fits(limits.PLAN_TITLE))]
    template: TemplateRefDoc
    sections: Annotated[
        list[SectionDoc], AfterValidator(at_most_entries(limits.MAX_SECTIONS, N_("sections")))
    ] = Field(default_factory=list)
    goals: Annotated[
        list[GoalDoc], AfterValidator(at_most_entries(limits.MAX_GOALS, N_("goals")))
    ] = Field(default_factory=list)
    items: Annotated[
        list[ItemDoc], AfterValidator(at_most_entries(limits.MAX_ITEMS, N_("items")))
    ] = Field(default_factory=list)

    @field_validator("template", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        """`template: annual-work-plan` means `template: {name: annual-work-plan}`."""
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, dict):
            raise complain(
                "must be a template name or {{name, version}}, got {value}", value=show(value)
            )
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
                GoalSpec(
                    g.key, g.title, g.target, g.unit, Comparator(g.comparator), g.allow_negative
                )
                for g in self.goals
            ),
            items=tuple(ItemSpec(i.month, i.title, i.detail, i.due_day) for i in self.items),
        )


DESCRIBE = Describer(
    entries={"sections": N_("section"), "goals": N_("goal"), "items": N_("item")},
    labels={"sections": "heading", "goals": "key", "items": "title"},
)


def _checked(loaded: LoadedYaml) -> PlanSpec:
    doc, schema_problems = validate(loaded, PlanDoc, describe=DESCRIBE)
    problems = [
        *loaded.problems,
        *schema_problems,
        *_duplicate_goal_keys(loaded),
        *_targets_that_decide_nothing(loaded),
        *_duplicate_items(loaded),
    ]
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
            message = Message.of(
                "duplicate goal key '{key}' (first used at line {line})",
                key=key,
                line=first_line[key],
            )
            problems.append(loaded.problem(("goals", i, "key"), message))
        else:
            first_line[key] = line
    return problems


def _targets_that_decide_nothing(loaded: LoadedYaml) -> list[Problem]:
    """A target every actual meets, or none can: actuals are 0 or more unless `allow_negative`.

    `>=` needs a target above 0 (`>= 0` and below are met by any actual); `<=` and `=` need a
    target of 0 or more (`<= 0` is "none at all", below 0 is never met). A goal that allows
    negative actuals takes any finite actual, so every target splits them into met and not met:
    none is refused. When the flag itself is invalid the schema reports it, and the target, whose
    verdict depends on it, is not judged.
    """
    goals = loaded.data.get("goals")
    problems = []
    for i, goal in enumerate(goals if isinstance(goals, list) else ()):
        if not isinstance(goal, dict) or loaded.is_unreadable(("goals", i, "target")):
            continue
        if goal.get("allow_negative", False) is not False:
            continue  # true: any target decides something; not a boolean: the schema reports it
        comparator = goal.get("comparator", Comparator.AT_LEAST.value)
        try:
            target = _number(goal.get("target"))
        except ValueError:
            continue  # the schema reports it
        if comparator == Comparator.AT_LEAST and target <= 0:
            message = Message.of(
                "'target' {target} with comparator '{comparator}' is met by every actual "
                "(actuals are 0 or more unless the goal sets 'allow_negative: true'); "
                "set a target above 0",
                target=str(target),
                comparator=comparator,
            )
        elif comparator in (Comparator.AT_MOST, Comparator.EQUAL) and target < 0:
            message = Message.of(
                "'target' {target} with comparator '{comparator}' can never be met "
                "(actuals are 0 or more unless the goal sets 'allow_negative: true')",
                target=str(target),
                comparator=comparator,
            )
        else:
            continue
        problems.append(loaded.problem(("goals", i, "target"), message))
    return problems


def _duplicate_items(loaded: LoadedYaml) -> list[Problem]:
    """Amending a live plan matches items by month and title, so no two may share both."""
    items = loaded.data.get("items")
    first_line: dict[tuple[int, str], int] = {}
    problems = []
    for i, item in enumerate(items if isinstance(items, list) else ()):
        month, title = (item.get("month"), item.get("title")) if isinstance(item, dict) else (0, 0)
        if not isinstance(month, int) or not isinstance(title, str) or not title.strip():
            continue
        identity = (month, title.strip())
        if identity in first_line:
            message = Message.of(
                "duplicate item '{item}' (first at line {line}); items are matched by month "
                "and title when a plan is amended, so no two may share both",
                item=ItemSpec(*identity).label,
                line=first_line[identity],
            )
            problems.append(loaded.problem(("items", i, "title"), message))
        else:
            first_line[identity] = loaded.where(("items", i)).line
    return problems
