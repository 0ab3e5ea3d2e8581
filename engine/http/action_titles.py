"""The Chinese words the pages show for a template's triggers (`submit` → 提交).

Templates name their transitions by trigger only; the pages, which are written in Chinese, show
these words instead: on the workflow diagram, on action buttons and in the confirmation after
acting. A trigger with no entry here is shown as written, so a new template still reads, only
less nicely.
"""

from __future__ import annotations

ACTION_TITLES: dict[str, str] = {
    "submit": "提交",
    "withdraw": "撤回",
    "approve": "同意",
    "return": "退回",
    "begin_evaluation": "开始年终自评",
    "submit_evaluation": "提交自评",
    "reopen_evaluation": "退回重新自评",
    "assess": "考核",
    "close": "归档",
    "archive": "归档",
    "reopen": "重新打开",
    # The pages' own writes, not a template's triggers: for a confirmation after them (the plan
    # page says "已{title}。" for `?done=…`), the same words the history uses for their audit
    # actions (templates/plan/words.html).
    "create": "创建",
    "edit": "修改",
    "amend": "调整月度安排",
    "report": "填报完成情况",
    "report_goal": "填报目标完成情况",
    "report_item": "填报事项完成情况",
}


def action_title(trigger: str) -> str:
    """The Chinese title of `trigger`, or the trigger itself when it has none."""
    return ACTION_TITLES.get(trigger, trigger)
