"""Which time zone a plan lives in: its template's, else the deployment's."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from engine.core.template.model import Template
from engine.service.runtime import Runtime


def plan_timezone(rt: Runtime, template: Template) -> ZoneInfo:
    return ZoneInfo(template.timezone) if template.timezone else rt.default_timezone
