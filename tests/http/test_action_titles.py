"""The Chinese words for what a plan page confirms after a write (`?done=…`): every trigger of
the bundled templates and every write of the plan forms has one, and they agree with the words
the history uses for the same audit actions."""

from __future__ import annotations

import re
from pathlib import Path

from engine.http.action_titles import ACTION_TITLES, action_title
from engine.service.runtime import Runtime
from engine.service.templates import list_templates, load_bundled_templates, workflow_for

WORDS = Path(__file__).resolve().parents[2] / "engine/http/templates/plan/words.html"
FORM_WRITES = ("create", "edit", "amend", "report", "report_goal", "report_item")


def test_every_form_write_has_a_title_the_history_agrees_with() -> None:
    words = dict(re.findall(r'"([a-z_]+)": "([^"]+)"', WORDS.read_text(encoding="utf-8")))
    for action in FORM_WRITES:
        assert action_title(action) != action, action
        if action in words:
            assert words[action] == ACTION_TITLES[action], action


def test_every_bundled_trigger_has_a_title(sqlite_rt: Runtime) -> None:
    load_bundled_templates(sqlite_rt)
    triggers = {
        transition.trigger
        for row in list_templates(sqlite_rt)
        for transition in workflow_for(sqlite_rt, row).template.transitions
    }
    untitled = sorted(t for t in triggers if action_title(t) == t)
    assert triggers and not untitled, untitled
