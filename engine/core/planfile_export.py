"""A `PlanSpec` written back as a plan file (`planflow plan export`), in the form `planfile` reads.

The text is YAML with Chinese kept readable (not `\\u` escapes), keys in the order of DESIGN.md
§4, multi-line text as literal blocks, and defaults left out (an item's empty detail, a due day
that is the month's end). Parsing the text with `parse_plan` gives the same `PlanSpec` back:
`write_plan_file` checks that before it returns, so an export can always be edited and loaded
again unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml

from engine.core.planfile import Comparator, PlanSpec, parse_plan
from engine.core.yamlsource import reads_as_text

_STR = "tag:yaml.org,2002:str"


class _PlanDumper(yaml.SafeDumper):
    """Safe YAML whose text loads back as text under the core schema `yamlsource` reads."""


# Line breaks other than "\n" that YAML reads as one (NEL, LS, PS, CR): only the escapes of a
# double-quoted scalar keep them as they are.
_OTHER_BREAKS = frozenset("\x85\u2028\u2029\r")


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _OTHER_BREAKS.intersection(value):
        style: str | None = '"'
    elif "\n" in value:
        style = "|"  # PyYAML falls back to quotes where a block cannot hold it
    elif not reads_as_text(value):
        style = '"'  # e.g. "0o17" or "TRUE", which PyYAML's YAML 1.1 would write plain
    else:
        style = None
    return dumper.represent_scalar(_STR, value, style=style)


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    """Targets as written: 300, 98.5 (exact decimals, never a float's rounding)."""
    if value == value.to_integral_value():
        return dumper.represent_int(int(value))
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(value.normalize(), "f"))


_PlanDumper.add_representer(str, _text)
_PlanDumper.add_representer(Decimal, _decimal)


def plan_file_data(spec: PlanSpec) -> dict[str, Any]:
    """The plan file's mapping, keys in the documented order, defaults left out."""
    template: dict[str, Any] = {"name": spec.template_name}
    if spec.template_version is not None:
        template["version"] = spec.template_version
    goals = []
    for goal in spec.goals:
        entry: dict[str, Any] = {
            "key": goal.key,
            "title": goal.title,
            "target": goal.target,
            "unit": goal.unit,
        }
        if goal.comparator is not Comparator.AT_LEAST:
            entry["comparator"] = goal.comparator.value
        if goal.allow_negative:
            entry["allow_negative"] = True
        goals.append(entry)
    items = []
    for item in spec.items:
        entry = {"month": item.month, "title": item.title}
        if item.detail:
            entry["detail"] = item.detail
        if item.due_day is not None:
            entry["due_day"] = item.due_day
        items.append(entry)
    return {
        "org": spec.org,
        "year": spec.year,
        "title": spec.title,
        "template": template,
        "sections": [{"heading": s.heading, "body": s.body} for s in spec.sections],
        "goals": goals,
        "items": items,
    }


def write_plan_file(spec: PlanSpec, *, source: str = "<export>") -> str:
    """`spec` as plan-file YAML that `parse_plan` reads back to an equal `PlanSpec`."""
    text = yaml.dump(
        plan_file_data(spec),
        Dumper=_PlanDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    # A file that cannot be loaded back would betray whoever edits it: fail here instead.
    if parse_plan(text, source=source) != spec:
        raise ValueError(f"{source}: the exported plan file does not read back as the plan")
    return text
