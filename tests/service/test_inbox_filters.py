"""The inbox's filters (state, township, year), its countersign progress, and the plan
listing's organisation and template filters: what each keeps, and an unknown value refused."""

from __future__ import annotations

import pytest

from engine.core.errors import NotFound
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, REVIEWER
from engine.service.actions import act
from engine.service.inbox import inbox, inbox_page
from engine.service.plan_views import list_plans
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.world import setup_world, small_plan


def _at_county(rt: Runtime, org: str, *, year: int = 2027) -> int:
    """A plan of `org` approved by its township, waiting for the county's countersign."""
    plan_id = create_plan(rt, spec=small_plan(org, year=year), actor=DRAFTER[org]).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER[org])
    township = "zishan-town" if org.startswith("zishan") else "songshan-town"
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER[township])
    return plan_id


@pytest.fixture
def plans(rt: Runtime) -> dict[str, int]:
    setup_world(rt)
    return {
        "school": _at_county(rt, "zishan-middle-school"),
        "hospital": _at_county(rt, "songshan-hospital"),
        "factory-2028": _at_county(rt, "zishan-bike-factory", year=2028),
    }


def _ids(rt: Runtime, **filters: object) -> set[int]:
    return {e.plan.id for e in inbox(rt, actor=COUNTY_APPROVERS[0], **filters)}  # type: ignore[arg-type]


def test_each_filter_keeps_only_what_it_names(rt: Runtime, plans: dict[str, int]) -> None:
    everything = set(plans.values())
    assert _ids(rt) == everything
    assert _ids(rt, township="zishan-town") == {plans["school"], plans["factory-2028"]}
    assert _ids(rt, township="songshan-hospital") == {plans["hospital"]}
    assert _ids(rt, year=2028) == {plans["factory-2028"]}
    assert _ids(rt, state="county_approval") == everything
    assert _ids(rt, state="县总工会审批") == everything  # a state's title works as its name
    assert _ids(rt, state="draft") == set()
    assert _ids(rt, township="zishan-town", year=2027) == {plans["school"]}


@pytest.mark.parametrize(
    ("filters", "code"),
    [({"township": "nowhere-town"}, "org.not_found"), ({"state": "limbo"}, "state.unknown")],
)
def test_an_unknown_filter_value_is_refused(
    rt: Runtime, plans: dict[str, int], filters: dict[str, str], code: str
) -> None:
    with pytest.raises(NotFound) as raised:
        inbox(rt, actor=COUNTY_APPROVERS[0], **filters)  # type: ignore[arg-type]
    assert raised.value.code == code


def test_a_countersigned_step_shows_its_progress(rt: Runtime, plans: dict[str, int]) -> None:
    first, second = COUNTY_APPROVERS
    [entry] = [e for e in inbox(rt, actor=second) if e.plan.id == plans["school"]]
    assert (entry.signed, entry.asked) == (0, 2)
    act(rt, plan_id=plans["school"], trigger="approve", actor=first)
    [entry] = [e for e in inbox(rt, actor=second) if e.plan.id == plans["school"]]
    assert (entry.signed, entry.asked) == (1, 2)
    # A step one holder decides has no progress to show.
    drafted = create_plan(
        rt, spec=small_plan("songshan-agri-college"), actor=DRAFTER["songshan-agri-college"]
    ).plan_id
    act(rt, plan_id=drafted, trigger="submit", actor=DRAFTER["songshan-agri-college"])
    [review] = [e for e in inbox(rt, actor=REVIEWER["songshan-town"]) if e.plan.id == drafted]
    assert (review.signed, review.asked) == (None, None)


def test_the_listing_filters_by_organisation_and_template(
    rt: Runtime, plans: dict[str, int]
) -> None:
    def listed(**filters: str) -> set[int]:
        return {p.id for p, _ in list_plans(rt, actor=COUNTY_APPROVERS[0], **filters)}  # type: ignore[arg-type]

    assert listed(org="songshan-town") == {plans["hospital"]}
    assert listed(org="zishan-middle-school") == {plans["school"]}
    assert listed(template="annual-work-plan") == set(plans.values())
    with pytest.raises(NotFound):
        listed(template="no-such-template")
    with pytest.raises(NotFound):
        listed(org="nowhere-town")


def test_an_organisation_out_of_reach_is_refused_as_unknown(
    rt: Runtime, plans: dict[str, int]
) -> None:
    """Filtering by another township's organisation answers as an unknown one would: the filter
    must not tell a reviewer which organisations exist beyond their reach."""
    reviewer = REVIEWER["zishan-town"]
    for filtered in (
        lambda org: inbox(rt, actor=reviewer, township=org),
        lambda org: list_plans(rt, actor=reviewer, org=org),
    ):
        with pytest.raises(NotFound) as out_of_reach:
            filtered("songshan-town")
        with pytest.raises(NotFound) as unknown:
            filtered("nowhere-town")
        assert out_of_reach.value.code == unknown.value.code == "org.not_found"
        assert out_of_reach.value.template == unknown.value.template


def test_a_page_of_the_inbox_is_its_slice_in_order_and_counts_them_all(
    rt: Runtime, plans: dict[str, int]
) -> None:
    for year in (2029, 2030):
        _at_county(rt, "zishan-middle-school", year=year)
    whole = inbox(rt, actor=COUNTY_APPROVERS[0])
    assert len(whole) == 5
    pages = [
        inbox_page(rt, actor=COUNTY_APPROVERS[0], limit=2, offset=offset) for offset in (0, 2, 4, 6)
    ]
    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [e for p in pages for e in p.entries] == whole
    assert [len(p.entries) for p in pages] == [2, 2, 1, 0]
    filtered = inbox_page(rt, actor=COUNTY_APPROVERS[0], year=2027, limit=1)
    assert filtered.total == 2 and len(filtered.entries) == 1
