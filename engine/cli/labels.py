"""How the CLI names states and roles for people: the template's title, with the id beside it.

`镇工会审核 (township_review)` in Chinese, the reader's language; in English (`PLANFLOW_LANG=en`,
operators and their scripts) the id alone, as `--json` always prints it. Titles come from the
compiled workflow of the plan's template, which the service hands out (`workflow_for`); the
CLI never reads them from the database itself.
"""

from __future__ import annotations

from engine.core.i18n import current_language
from engine.core.template.compile import Workflow
from engine.service import templates
from engine.service.runtime import Runtime


def named(title: str | None, name: str) -> str:
    """`title (name)` for people; `name` alone in English or where the title says no more."""
    if current_language() == "en" or not title or title == name:
        return name
    return f"{title} ({name})"


class Titles:
    """State and role names of one template as people read them (ids alone in English)."""

    def __init__(self, workflow: Workflow | None) -> None:
        self._workflow = workflow

    def state(self, name: str) -> str:
        found = self._workflow.template.states.get(name) if self._workflow else None
        return named(found.title if found else None, name)

    def role(self, name: str) -> str:
        found = self._workflow.template.roles.get(name) if self._workflow else None
        return named(found.title if found else None, name)


def titles(rt: Runtime, template: str, version: int) -> Titles:
    """The titles of `template` at `version`; none looked up when ids are shown alone."""
    if current_language() == "en":
        return Titles(None)
    return Titles(templates.workflow_for(rt, templates.get_template(rt, template, version)))
