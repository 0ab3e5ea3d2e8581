"""Audit details in words: known actions read as phrases, anything else still shows."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.audit_detail import describe


@pytest.mark.parametrize(
    ("action", "detail", "said"),
    [
        ("create", None, ""),
        ("assess", {"score": 87.5}, "score 87.5"),
        ("assess", {"score": 90.0}, "score 90"),
        (
            "approve",
            {"escalation_task": 9, "as_role": "county_approver"},
            "as county_approver (escalation task #9)",
        ),
        ("approve", {"signed": 1, "of": 3}, "signed 1 of 3"),
        (
            "report_goal",
            {"goal": "members", "title": "发展会员", "actual": 320, "target": 300.0, "unit": "人"},
            "goal members (发展会员): actual 320人 (target 300人)",
        ),
        ("report_goal", {"goal": "g", "actual": 1.5}, "goal g: actual 1.5"),
        (
            "report_item",
            {"item": 2, "month": 3, "title": "春季运动会", "status": "partly"},
            "item 2 (3月 春季运动会): partly",
        ),
        ("report_item", {"item": 2, "status": "done"}, "item 2: done"),
        (
            "amend",
            {
                "added": 1,
                "changed": 0,
                "removed": 1,
                "removed_items": ["3月 3月活动"],
                "cancelled_reminders": 4,
            },
            "items: 1 added, 0 changed, 1 removed (3月 3月活动); 4 reminders cancelled",
        ),
        (
            "escalate",
            {
                "task": 4,
                "escalation_task": 7,
                "role": "county_approver",
                "org": "county",
                "org_name": "县总工会",
            },
            "task #4 overdue: escalated to county_approver at 县总工会 (task #7)",
        ),
        (
            "retry_reminder",
            {"reminder": 12, "from": "dead", "to": "failed", "deliveries": 2, "reason": "x"},
            "reminder #12 dead → failed, 2 deliveries again (it had: x)",
        ),
        (
            "retry_reminder",
            {"reminder": 3, "from": "missed", "to": "planned", "deliveries": 0, "reason": None},
            "reminder #3 missed → planned, planned again",
        ),
    ],
)
def test_known_details_read_as_phrases(
    action: str, detail: dict[str, Any] | None, said: str
) -> None:
    assert describe(action, detail) == said


def test_an_unknown_action_or_key_is_shown_as_key_value() -> None:
    detail = {"to_user": "li-county", "tasks": [3, 4], "from_user": "wang-county"}
    assert describe("reassign", detail) == (
        "from_user=wang-county; tasks=[3, 4]; to_user=li-county"
    )
    # A key added to a known action later is not hidden either.
    assert describe("assess", {"score": 80, "scale": "0-100"}) == "score 80; scale=0-100"
    # A known key on an action whose phrase lacks its partner falls back to key=value.
    assert describe("report_item", {"item": 1}) == "item=1"
