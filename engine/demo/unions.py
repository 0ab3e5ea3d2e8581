"""The unions whose plans `planflow simulate` replays: the demo's six, then generated ones.

A run of more plans than the demo has adds grassroots unions under the two townships, each with
a drafter of its own and a plan that reuses a demo grassroots plan's goals and items.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.core.planfile import PlanSpec, parse_plan_file
from engine.demo import plan_files
from engine.demo.world import DRAFTER, GRASSROOTS, REVIEWER, TOWNSHIPS
from engine.service import directory
from engine.service.runtime import Runtime

DRAFTER_NAMES = ["张敏", "李强", "王芳", "刘洋", "陈晨", "杨帆", "黄磊", "赵丽", "周杰", "吴婷"]


@dataclass(frozen=True)
class SimulatedUnion:
    """A union with a plan to simulate, and who drafts and reviews it."""

    spec: PlanSpec
    drafter: str
    reviewer: str | None  # the township's reviewer; None for a township's own plan


def simulated_unions(rt: Runtime, year: int, count: int) -> list[SimulatedUnion]:
    """`count` unions with their plans for `year`: the demo's first, then generated grassroots
    unions (created in `rt`'s directory) cycling the demo grassroots plans' content."""
    demo = [dataclasses.replace(parse_plan_file(path), year=year) for path in plan_files()]
    unions = [
        SimulatedUnion(
            spec,
            DRAFTER[spec.org],
            REVIEWER[GRASSROOTS[spec.org][1]] if spec.org in GRASSROOTS else None,
        )
        for spec in demo[:count]
    ]
    grassroots = [spec for spec in demo if spec.org in GRASSROOTS]
    towns = list(TOWNSHIPS.items())
    for number in range(len(unions) + 1, count + 1):
        town, town_name = towns[number % len(towns)]
        code = f"{town.removesuffix('-town')}-union-{number:03d}"
        name = f"{town_name.removesuffix('工会')}第{number}基层工会"
        directory.create_org(rt, code=code, name=name, parent=town)
        drafter = f"drafter-{code}"
        directory.create_user(
            rt,
            username=drafter,
            name=DRAFTER_NAMES[number % len(DRAFTER_NAMES)],
            org=code,
            roles=["drafter"],
        )
        model = grassroots[number % len(grassroots)]
        spec = dataclasses.replace(model, org=code, title=f"{name}{year}年工作计划")
        unions.append(SimulatedUnion(spec, drafter, REVIEWER[town]))
    return unions
