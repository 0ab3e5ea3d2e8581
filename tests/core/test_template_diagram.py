"""The Mermaid diagram of a template: exact, deterministic text; titles stay inside quotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.template.diagram import mermaid
from engine.core.template.model import Template
from engine.core.template.validate import load_template, load_template_file
from workflows import bundled_templates

TEMPLATE = """\
planflow: 1
name: review-flow
version: 2
title: 审核 "简易" 流程
roles:
  drafter: {title: 起草人, scope: own}
  reviewer: {title: 审核人, scope: children}
states:
  draft: {title: 草稿, initial: true}
  review:
    title: 审核
    task: {role: reviewer, due: 5wd}
  waiting: {title: '等待 "复核"'}
  closed: {title: 归档, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: return, from: [review, waiting], to: draft, roles: [reviewer, drafter]}
  - {trigger: approve, from: review, to: waiting, roles: [reviewer]}
  - {trigger: archive, from: waiting, to: closed, after: 3d}
  - {trigger: year_end, from: draft, to: closed, at: "12-31"}
"""

EXPECTED = """\
stateDiagram-v2
    %% review-flow v2: 审核 '简易' 流程
    state "草稿" as draft
    state "审核 (reviewer)" as review
    state "等待 '复核'" as waiting
    state "归档" as closed
    [*] --> draft
    draft --> review : submit (drafter)
    review --> draft : return (reviewer, drafter)
    waiting --> draft : return (reviewer, drafter)
    review --> waiting : approve (reviewer)
    waiting --> closed : archive (after 3d)
    draft --> closed : year_end (on 12-31)
    closed --> [*]
"""


def template() -> Template:
    return load_template(TEMPLATE, source="review-flow.yaml")


def test_the_diagram_is_exactly_this() -> None:
    assert mermaid(template()) == EXPECTED


def test_the_current_state_is_highlighted_with_a_class() -> None:
    drawn = mermaid(template(), current_state="review")
    assert drawn.startswith(EXPECTED)
    assert drawn.endswith(
        "    classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px\n"
        "    class review current\n"
    )


def test_an_unknown_current_state_is_refused() -> None:
    with pytest.raises(ValueError, match="no state 'nowhere'"):
        mermaid(template(), current_state="nowhere")


@pytest.mark.parametrize("path", bundled_templates(), ids=lambda p: p.stem)
def test_bundled_workflows_draw_deterministically(path: Path) -> None:
    first, again = load_template_file(path), load_template_file(path)
    drawn = mermaid(first, current_state="executing")
    assert drawn == mermaid(again, current_state="executing")
    assert "    [*] --> draft\n" in drawn and "    closed --> [*]\n" in drawn
    assert "    executing --> self_evaluation : begin_evaluation (on 12-01)\n" in drawn
    assert drawn.count("-->") == 2 + sum(len(t.sources) for t in first.transitions)
