"""`planflow demo` drives every path it promises, through the real service code."""

from __future__ import annotations

from engine.cli.demo import run_demo
from engine.core.planfile import parse_plan_file
from engine.demo import plan_files


def test_the_demo_runs_the_whole_chain() -> None:
    lines: list[str] = []
    run_demo(echo=lines.append)
    text = "\n".join(lines)

    def rows(action: str) -> list[str]:
        return [line for line in lines if f"  {action} " in line]

    assert len(rows("create")) == 6
    assert any("镇工会审核 → 草稿" in row for row in rows("return"))  # returned with a comment
    assert any("请补充教职工健康体检安排" in row for row in rows("return"))
    assert any("镇工会审核 → 草稿" in row for row in rows("withdraw"))
    assert len(rows("edit")) == 2  # both amended plans were edited before resubmission
    countersigns = [row for row in rows("approve") if "仍在县总工会会签审批" in row]
    assert len(countersigns) == 4  # the first county signature on each grassroots plan waits
    assert len([r for r in rows("begin_evaluation") if "系统(定时)" in r]) == 6  # 1 December
    assert len([r for r in rows("assess") if "县总工会考核 → 已归档" in r]) == 6
    assert "Reports filed per month: 2027-01:" in text
    assert text.count(" closed ") == 6


def test_the_item_reminder_count_counts_item_reminders_only() -> None:
    """Both templates plan four rows per item (month start, due day, and an overdue notice to two
    roles); every item falls in 2027 and the plans went live in December 2026, so none is left
    out as past. Task reminders (review nudges in November 2026) are not item reminders."""
    lines: list[str] = []
    run_demo(echo=lines.append)
    counts = lines[lines.index(next(x for x in lines if x.startswith("Item reminders"))) + 1]
    per_month = dict(part.split(": ") for part in counts.strip().split(", "))
    items = sum(len(parse_plan_file(path).items) for path in plan_files()) + 2  # two added
    assert sum(int(n) for n in per_month.values()) == 4 * items
    assert min(per_month) == "2026-12"  # January's "starts in 3 days" notice, 29 December
