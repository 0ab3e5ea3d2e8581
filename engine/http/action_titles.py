"""The Chinese words the pages show for a template's triggers (`submit` → 提交).

Templates name their transitions by trigger only; the pages, which are written in Chinese, show
these words instead: on the workflow diagram and on action buttons. A trigger with no entry here
is shown as written, so a new template still reads, only less nicely.
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
}


def action_title(trigger: str) -> str:
    """The Chinese title of `trigger`, or the trigger itself when it has none."""
    return ACTION_TITLES.get(trigger, trigger)
