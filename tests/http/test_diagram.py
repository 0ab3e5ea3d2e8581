"""The workflow diagram is well-formed static SVG: every state and transition, in Chinese, the
current state marked, template text escaped, and nothing a strict CSP would refuse."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.core.template.model import Template
from engine.core.template.validate import load_template
from engine.http.action_titles import action_title
from engine.http.diagram import workflow_svg

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"

HOSTILE = """\
planflow: 1
name: hostile
version: 1
title: "<script>alert(1)</script> & 计划"
roles:
  drafter: {title: "起草人<b>", scope: own}
  reviewer: {title: "审核人\\"onload=\\"x", scope: children}
states:
  draft: {title: "<img src=x onerror=alert(1)>草稿", initial: true}
  review:
    title: "审核]]></text><script>x</script>"
    task: {role: reviewer}
  done: {title: 完成 & 结束, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: return, from: review, to: draft, roles: [reviewer], comment: required}
  - {trigger: approve, from: review, to: done, roles: [reviewer]}
"""


def bundled(name: str) -> Template:
    path = ROOT / "workflows" / f"{name}.yaml"
    return load_template(path.read_bytes(), source=path.name)


def parse(template: Template, current: str | None = None) -> ET.Element:
    return ET.fromstring(str(workflow_svg(template, current)))


def states_drawn(root: ET.Element) -> dict[str, ET.Element]:
    return {g.attrib["data-state"]: g for g in root.iter(f"{SVG}g") if "data-state" in g.attrib}


def texts(element: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["annual-work-plan", "township-annual-plan"])
def test_every_state_is_drawn_with_its_chinese_title(name: str) -> None:
    template = bundled(name)
    drawn = states_drawn(parse(template))
    assert list(drawn) == list(template.states)
    for state in template.states.values():
        assert state.title in texts(drawn[state.name])


def test_every_transition_is_labelled_with_its_action_and_who_takes_it() -> None:
    template = bundled("annual-work-plan")
    labels = "".join(
        "".join(t.itertext())
        for t in parse(template).iter(f"{SVG}text")
        if "transition" in t.attrib.get("class", "")
    )
    for transition in template.transitions:
        assert action_title(transition.trigger) in labels
        for role in transition.roles:
            assert template.roles[role].title in labels
    assert "12月1日自动" in labels  # the year-end timer says when it fires by itself
    assert "须填意见" in labels and "须评分" in labels
    assert "return" not in labels and "approve" not in labels  # the pages' words are Chinese


def test_an_arrow_for_every_transition_from_every_source() -> None:
    template = bundled("annual-work-plan")
    root = parse(template)
    edges = sum(len(t.sources) for t in template.transitions)
    start_arrows = 1
    assert len(list(root.iter(f"{SVG}polygon"))) == edges + start_arrows
    # returns and withdrawals go back up along lanes on the left
    backwards = sum(
        1
        for t in template.transitions
        for s in t.sources
        if list(template.states).index(t.dest) != list(template.states).index(s) + 1
    )
    assert len(list(root.iter(f"{SVG}polyline"))) == backwards


@pytest.mark.parametrize("current", ["draft", "county_approval", "closed"])
def test_the_current_state_and_only_it_is_marked(current: str) -> None:
    template = bundled("annual-work-plan")
    root = parse(template, current)
    marked = [name for name, g in states_drawn(root).items() if "current" in g.attrib["class"]]
    assert marked == [current]
    assert "当前" in " ".join(texts(states_drawn(root)[current]))
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.endswith(f"当前：{template.states[current].title}")


def test_without_a_current_state_nothing_is_marked() -> None:
    root = parse(bundled("annual-work-plan"))
    assert not [g for g in states_drawn(root).values() if "current" in g.attrib["class"]]
    assert "当前" not in "".join(root.itertext())


def test_a_state_the_template_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="no state 'nowhere'"):
        workflow_svg(bundled("annual-work-plan"), "nowhere")


def test_template_text_is_escaped_and_shown_verbatim() -> None:
    template = load_template(HOSTILE, source="hostile.yaml")
    svg = str(workflow_svg(template, "review"))
    root = ET.fromstring(svg)  # still well-formed: nothing closed an element early
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    shown = "".join(root.itertext())
    assert "<img src=x onerror=alert(1)>草稿" in shown
    assert "审核]]></text><script>x</script>" in shown
    assert "完成 & 结束" in shown
    assert "起草人<b>" in shown
    assert root.find(f"{SVG}title") is not None
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None and title.text.startswith("<script>")


@pytest.mark.parametrize("name", ["annual-work-plan", "township-annual-plan"])
def test_nothing_a_strict_csp_refuses_and_the_same_picture_every_time(name: str) -> None:
    template = bundled(name)
    svg = workflow_svg(template, "executing")
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        assert element.tag.removeprefix(SVG) not in ("script", "style", "foreignObject")
        assert "style" not in element.attrib
        assert not [a for a in element.attrib if a.lower().startswith("on")]
        assert not [v for v in element.attrib.values() if "javascript:" in v.lower()]
    assert str(workflow_svg(template, "executing")) == str(svg)
    width, height = (int(root.attrib[a]) for a in ("width", "height"))
    assert root.attrib["viewBox"] == f"0 0 {width} {height}"
    assert width <= 480  # narrow enough to be legible scaled down to a 390 px phone


def test_long_labels_wrap_instead_of_widening_the_drawing() -> None:
    template = bundled("annual-work-plan")
    root = parse(template)
    # "退回（镇工会审核人、县总工会审批人；须填意见）" is too long for one line
    side = [t for t in texts(root) if t.startswith("退回（")]
    assert side and all(not t.endswith("）") for t in side)
    assert any(t.startswith("县总工会审批人；须填意见") for t in texts(root))
