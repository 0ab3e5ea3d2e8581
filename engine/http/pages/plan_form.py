"""The plan editor's form as data: its fields ⇄ a plan file's document, and each problem of a
submitted form put next to the field it is about.

The editor posts the plan's own fields once (`title`, `year`, `org`, `template`) and one row per
section, goal and monthly item: repeated fields such as `goal_key`, `goal_title` in row order,
each row with a random `row` token that its 删除 button names. A submitted form becomes the very
document a plan file holds and goes through the plan file's own validation
(`planfile.parse_plan`), so a form accepts exactly what a file would. The document is written as
JSON with one value a line: the line of each located problem then says which value it is about.
Rows left wholly blank are no rows (an added row not filled in); nothing a person typed is dropped.
A goal given no key gets one (`goal-1`, …).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.core.errors import PlanFileError, PlanflowError
from engine.core.i18n import use_language
from engine.core.planfile import PlanSpec, parse_plan
from engine.core.yamlsource import YamlPath, load_yaml
from engine.http.pages.errors import PAGE_LANGUAGE

SOURCE = "表单"  # how messages name the form, where a file's would name the file

# The fields of each kind of row (form field `goal_key` is field `key` of group `goal`).
GROUPS: dict[str, tuple[str, ...]] = {
    "section": ("row", "heading", "body"),
    "goal": ("row", "key", "title", "target", "unit", "comparator", "allow_negative"),
    "item": ("row", "month", "title", "detail", "due_day"),
}
DOCUMENT_KEY = {"section": "sections", "goal": "goals", "item": "items"}
GROUP_OF = {key: group for group, key in DOCUMENT_KEY.items()}
# A row whose fields are all blank is no row; choices that always have a value do not count.
TYPED = {
    "section": ("heading", "body"),
    "goal": ("key", "title", "target", "unit"),
    "item": ("title", "detail", "due_day"),
}
DEFAULTS = {"goal": {"comparator": ">=", "allow_negative": "no"}, "item": {"month": "1"}}
HEAD = ("title", "year", "org", "template")
ROW_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")
INTEGER = re.compile(r"[+-]?[0-9]+")
COMPARATORS = ((">=", "不少于 ≥"), ("<=", "不超过 ≤"), ("=", "等于 ="))


@dataclass
class PlanForm:
    """What the editor shows: the values as typed and, after a refused submit, the problems.

    `errors` is keyed by field: `title`, `goal.2.target` (the third goal row's target),
    `goal.2` (the row as a whole), `goal` (the list); `general` holds the rest.
    """

    head: dict[str, str]
    rows: dict[str, list[dict[str, str]]]
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def error(self, key: str) -> str | None:
        return self.errors.get(key)

    def add_problem(self, key: str | None, message: str) -> None:
        if key is None:
            self.general.append(message)
        elif key in self.errors:
            self.errors[key] = f"{self.errors[key]}；{message}"
        else:
            self.errors[key] = message

    def refuse(self, error: PlanflowError) -> None:
        """Show a refusal of the service next to the field it names, else above the form."""
        with use_language(PAGE_LANGUAGE):
            message = error.message
        named = error.fields.get("field")
        self.add_problem(named if named in self.head else None, message)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.general)


def new_row(group: str) -> dict[str, str]:
    row = {name: "" for name in GROUPS[group]}
    row.update(DEFAULTS.get(group, {}))
    row["row"] = secrets.token_hex(6)
    return row


def form_of_spec(spec: PlanSpec) -> PlanForm:
    """The editor filled in with a plan's content (from `export_plan`)."""
    rows: dict[str, list[dict[str, str]]] = {"section": [], "goal": [], "item": []}
    for section in spec.sections:
        rows["section"].append({**new_row("section"), "heading": section.heading})
        rows["section"][-1]["body"] = section.body
    for goal in spec.goals:
        rows["goal"].append(
            {
                **new_row("goal"),
                "key": goal.key,
                "title": goal.title,
                "target": _decimal_text(goal.target),
                "unit": goal.unit,
                "comparator": goal.comparator.value,
                "allow_negative": "yes" if goal.allow_negative else "no",
            }
        )
    for item in spec.items:
        rows["item"].append(
            {
                **new_row("item"),
                "month": str(item.month),
                "title": item.title,
                "detail": item.detail,
                "due_day": "" if item.due_day is None else str(item.due_day),
            }
        )
    head = {
        "title": spec.title,
        "year": str(spec.year),
        "org": spec.org,
        "template": spec.template_name,
    }
    return PlanForm(head=head, rows=rows)


def posted_form(head: Mapping[str, str], rows: Mapping[str, list[dict[str, str]]]) -> PlanForm:
    """The editor as posted (`form_fields.read_form`); a row token that is not one the editor
    makes is replaced (it only names the row for its 删除 button)."""
    for group_rows in rows.values():
        for row in group_rows:
            if not ROW_TOKEN.fullmatch(row["row"]):
                row["row"] = secrets.token_hex(6)
    return PlanForm(head=dict(head), rows={group: list(value) for group, value in rows.items()})


def add_row(form: PlanForm, group: str) -> bool:
    """The no-script 添加 button: one more empty row of `group`; False for an unknown group."""
    if group not in form.rows:
        return False
    form.rows[group].append(new_row(group))
    return True


def remove_row(form: PlanForm, target: str) -> bool:
    """The 删除 button (`goal:TOKEN`): drop that row; False when no row has the token."""
    group, _, token = target.partition(":")
    rows = form.rows.get(group)
    if rows is None:
        return False
    kept = [row for row in rows if row["row"] != token]
    if len(kept) == len(rows):
        return False
    form.rows[group] = kept
    return True


def spec_of(form: PlanForm, *, base: PlanSpec | None = None) -> PlanSpec | None:
    """The plan the form describes, or None with `form`'s errors set.

    `base` is the stored plan when editing: what the form does not post (the organisation, year
    and template; all but the items when amending) is taken from it.
    """
    document = _document_of_spec(base) if base is not None else {}
    kept: dict[str, list[int]] = {}  # per group: the form row each document entry comes from
    for name in HEAD:
        if name in form.head:
            document.update(_head_value(name, form.head[name]))
    for group, rows in form.rows.items():
        entries = []
        kept[group] = []
        for index, row in enumerate(rows):
            if all(not row[name].strip() for name in TYPED[group]):
                continue
            entries.append(_entry(group, row))
            kept[group].append(index)
        document[DOCUMENT_KEY[group]] = entries
    _number_goals(document["goals"] if "goal" in form.rows else [])
    text = json.dumps(document, ensure_ascii=False, indent=1)
    try:
        return parse_plan(text, source=SOURCE)
    except PlanFileError as error:
        paths = _paths_by_line(text)
        for problem in error.problems:
            key = _field_key(paths.get(problem.line, ()), kept, form)
            form.add_problem(key, problem.said(PAGE_LANGUAGE))
        return None


def _number_goals(goals: list[dict[str, Any]]) -> None:
    """A goal left without a key gets the first free one of goal-1, goal-2, …: a drafter need
    not invent names (keys only tell the goals apart in reports)."""
    taken = {goal["key"] for goal in goals}
    free = (f"goal-{n}" for n in itertools.count(1) if f"goal-{n}" not in taken)
    for goal in goals:
        if not goal["key"]:
            goal["key"] = next(free)


def _head_value(name: str, text: str) -> dict[str, Any]:
    text = text.strip()
    if name == "year":
        return {"year": _integer(text)}
    if name == "template":
        return {"template": {"name": text}}
    return {name: text}


def _entry(group: str, row: dict[str, str]) -> dict[str, Any]:
    if group == "section":
        return {"heading": row["heading"].strip(), "body": row["body"]}
    if group == "goal":
        allow = {"yes": True, "no": False}.get(row["allow_negative"], row["allow_negative"])
        return {
            "key": row["key"].strip(),
            "title": row["title"].strip(),
            "target": row["target"].strip(),
            "unit": row["unit"].strip(),
            "comparator": row["comparator"],
            "allow_negative": allow,
        }
    due_day = row["due_day"].strip()
    return {
        "month": _integer(row["month"].strip()),
        "title": row["title"].strip(),
        "detail": row["detail"],
        "due_day": _integer(due_day) if due_day else None,
    }


def _integer(text: str) -> int | str:
    """A whole number typed as digits, else the text itself (the schema then says what is
    wrong with it, quoting it)."""
    return int(text) if INTEGER.fullmatch(text) and len(text) <= 12 else text


def _document_of_spec(spec: PlanSpec) -> dict[str, Any]:
    return {
        "org": spec.org,
        "year": spec.year,
        "title": spec.title,
        "template": {"name": spec.template_name, "version": spec.template_version},
        "sections": [{"heading": s.heading, "body": s.body} for s in spec.sections],
        "goals": [
            {
                "key": g.key,
                "title": g.title,
                "target": _decimal_text(g.target),
                "unit": g.unit,
                "comparator": g.comparator.value,
                "allow_negative": g.allow_negative,
            }
            for g in spec.goals
        ],
        "items": [
            {"month": i.month, "title": i.title, "detail": i.detail, "due_day": i.due_day}
            for i in spec.items
        ],
    }


def _decimal_text(value: Decimal) -> str:
    """300 rather than 3E+2, and 98.5 as written."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _paths_by_line(text: str) -> dict[int, YamlPath]:
    """Which value each line of the JSON document holds (the innermost one starting there)."""
    loaded = load_yaml(text, source=SOURCE)
    by_line: dict[int, YamlPath] = {}
    for path, where in loaded.values.items():
        if len(path) >= len(by_line.get(where.line, ())):
            by_line[where.line] = path
    return by_line


def _field_key(path: YamlPath, kept: dict[str, list[int]], form: PlanForm) -> str | None:
    """The editor's name for the value at `path`, or None when the problem is the whole form's."""
    if not path:
        return None
    head = str(path[0])
    if head in HEAD:
        return head if head in form.head else None
    group = GROUP_OF.get(head)
    if group is None or group not in kept:
        return None
    if len(path) < 2 or not isinstance(path[1], int) or path[1] >= len(kept[group]):
        return group
    row = kept[group][path[1]]
    if len(path) < 3:
        return f"{group}.{row}"
    return f"{group}.{row}.{path[2]}"
