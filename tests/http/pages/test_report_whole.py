"""The self-evaluation page writes its reports in one transaction: a failure at the last report
leaves none of the earlier ones (it once wrote them one by one, each its own write)."""

from __future__ import annotations

import sys

import pytest
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused
from engine.service.plan_views import show_plan
from engine.service.runtime import Runtime
from engine.store import plan_content
from tests.http.pages.test_forms import (  # the forms tests' world and helpers
    DRAFTER,
    audit_of,
    client,  # noqa: F401 (a fixture)
    in_self_evaluation,
    post,
    report_fields,
    sign_in,
    world,  # noqa: F401 (a fixture)
)


def fail_item_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every item report fail inside its write, wherever the store's function is used."""
    original = plan_content.record_item_status

    def failing(*args: object, **kwargs: object) -> None:
        raise ActionRefused("the store refused the report", code="test.refused")

    for module in list(sys.modules.values()):
        if getattr(module, "record_item_status", None) is original:
            monkeypatch.setattr(module, "record_item_status", failing)


def test_a_failure_partway_writes_none_of_the_reports(
    world: Runtime,  # noqa: F811
    client: TestClient,  # noqa: F811
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan_id = in_self_evaluation(world, clock)
    before = audit_of(world, plan_id)
    version = show_plan(world, plan_id=plan_id, actor=DRAFTER).plan.version
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report").text
    fields = report_fields(csrf, page, item_status_1="done")
    fields.update({"goal_actual_goal-1": "120", "goal_actual_goal-2": "250"})
    fail_item_reports(monkeypatch)

    answer = post(client, f"/plans/{plan_id}/report", fields)

    assert answer.status_code == 422
    view = show_plan(world, plan_id=plan_id, actor=DRAFTER)
    assert [g.actual for g in view.goals] == [None, None]  # the goals came first: not kept
    assert view.plan.version == version
    assert audit_of(world, plan_id) == before


def test_the_history_names_the_report(
    world: Runtime,  # noqa: F811
    client: TestClient,  # noqa: F811
    clock: SimulatedClock,
) -> None:
    plan_id = in_self_evaluation(world, clock)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report").text
    fields = report_fields(csrf, page, item_status_1="done", item_status_2="done")
    fields.update({"goal_actual_goal-1": "120"})
    assert post(client, f"/plans/{plan_id}/report", fields).status_code == 303
    assert audit_of(world, plan_id)[-1] == "report_year_end"
    shown = client.get(f"/plans/{plan_id}").text
    assert "填报年终自评 · 目标 1 项 事项 2 项" in " ".join(shown.split())
