"""An audit row's detail in words, for `plan history` and the pages.

The detail is a small JSON object whose keys depend on the action. The known ones read as a
phrase (a score, a goal's actual against its target, an item's status, who stood in for which
role, a reminder retry); every key no phrase used is still shown as `key=value`, so an action
added later, or a key added to a known action, is never hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Phrase = Callable[[dict[str, Any]], str | None]  # takes the keys it uses out of the dict


def describe(action: str, detail: Mapping[str, Any] | None) -> str:
    """The detail of an `action` row as one line ("" when it has none)."""
    if not detail:
        return ""
    rest = dict(detail)
    parts = [
        text
        for phrase in (*_BY_ACTION.get(action, ()), *_ANY_ACTION)
        if (text := phrase(rest)) is not None
    ]
    parts.extend(f"{key}={_value(rest[key])}" for key in sorted(rest))
    return "; ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _take(rest: dict[str, Any], *keys: str) -> list[Any] | None:
    """The values of `keys`, taken out of `rest`, if all are there; else None (and none taken)."""
    if not all(key in rest for key in keys):
        return None
    return [rest.pop(key) for key in keys]


def _score(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "score")
    return None if found is None else f"score {_value(found[0])}"


def _stand_in(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "as_role", "escalation_task")
    if found is None:
        return None
    role, task = found
    return f"as {role} (escalation task #{task})"


def _signatures(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "signed", "of")
    return None if found is None else f"signed {found[0]} of {found[1]}"


def _goal(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "goal", "actual")
    if found is None:
        return None
    key, actual = found
    title = rest.pop("title", None)
    unit = rest.pop("unit", "")
    target = rest.pop("target", None)
    name = f"goal {key}" + (f" ({title})" if title else "")
    against = f" (target {_value(target)}{unit})" if target is not None else ""
    return f"{name}: actual {_value(actual)}{unit}{against}"


def _item(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "item", "status")
    if found is None:
        return None
    number, status = found
    month, title = rest.pop("month", None), rest.pop("title", None)
    name = f"item {number}" + (f" ({month}月 {title})" if month and title else "")
    return f"{name}: {status}"


def _amendment(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "added", "changed", "removed")
    if found is None:
        return None
    added, changed, removed = found
    text = f"items: {added} added, {changed} changed, {removed} removed"
    names = rest.pop("removed_items", None)
    if names:
        text += f" ({', '.join(str(name) for name in names)})"
    cancelled = rest.pop("cancelled_reminders", None)
    if cancelled:
        text += f"; {cancelled} reminders cancelled"
    return text


def _escalation(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "task", "escalation_task", "role")
    if found is None:
        return None
    task, escalation_task, role = found
    org, org_name = rest.pop("org", None), rest.pop("org_name", None)
    at = f" at {org_name or org}" if org or org_name else ""
    return f"task #{task} overdue: escalated to {role}{at} (task #{escalation_task})"


def _retry(rest: dict[str, Any]) -> str | None:
    found = _take(rest, "reminder", "from", "to")
    if found is None:
        return None
    reminder, before, after = found
    deliveries = rest.pop("deliveries", 0)
    reason = rest.pop("reason", None)
    again = f", {deliveries} deliveries again" if deliveries else ", planned again"
    why = f" (it had: {reason})" if reason else ""
    return f"reminder #{reminder} {before} → {after}{again}{why}"


_ANY_ACTION: tuple[Phrase, ...] = (_score, _stand_in, _signatures)
_BY_ACTION: dict[str, tuple[Phrase, ...]] = {
    "report_goal": (_goal,),
    "report_item": (_item,),
    "amend": (_amendment,),
    "escalate": (_escalation,),
    "retry_reminder": (_retry,),
}
