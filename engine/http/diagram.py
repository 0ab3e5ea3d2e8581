"""A template's workflow as a static SVG drawn on the server, for the plan page and the admin pages.

The pages may run no inline script (the Content-Security-Policy), so the diagram is not Mermaid
rendered in the browser but plain SVG markup put into the page: the states in the order the
template writes them, top to bottom, with their Chinese titles and who holds the task; an arrow
straight down for a transition to the next state, labelled beside it; every other transition
(a return, a skip) routed along a lane on the left, labelled beside its source state. The plan's
current state is filled and says 当前. No style attributes either (the CSP forbids inline
styles): only presentation attributes, and classes that planflow.css may refine.

Every text that comes from the template is escaped; the output depends only on the template
and the current state, so the same input always draws the same picture.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup, escape

from engine.core.durations import Duration, DurationUnit
from engine.core.template.model import SignMode, State, Template, Transition
from engine.http.action_titles import action_title

FONT = 14  # state titles
SMALL = 12  # the line under a title, and the transitions' labels
LINE = 16  # distance between two lines of labels
PAD = 12  # around the drawing and inside boxes
LANE_STEP = 14  # between two lanes on the left
MIN_BOX_WIDTH = 150
MIN_ROW = 48  # a state's box height
MIN_GAP = 40  # between two boxes
START_SPACE = 28  # above the first box, for the start dot
LABEL_WIDTH = 180  # a longer label wraps, so that the drawing stays narrow enough for a phone

INK = "#1f2937"
LINE_INK = "#546e7a"
BOX_FILL = "#ffffff"
FINAL_FILL = "#eceff1"
CURRENT_FILL = "#fde68a"
CURRENT_INK = "#b45309"
BACKGROUND = "#fafafa"

SIGN_WORDS = {SignMode.ALL: "会签", SignMode.SEQUENCE: "依次签批"}
UNIT_WORDS = {
    DurationUnit.HOURS: "小时",
    DurationUnit.DAYS: "天",
    DurationUnit.WEEKS: "周",
    DurationUnit.WORKING_DAYS: "个工作日",
}


@dataclass(frozen=True)
class _Edge:
    source: int  # index of the state in the template's order
    dest: int
    label: str

    @property
    def straight(self) -> bool:
        """Drawn straight down: to the state written right after its source."""
        return self.dest == self.source + 1


@dataclass(frozen=True)
class _Port:
    edge: int
    lane: int
    goes_up: bool  # the lane leaves this box upwards


def workflow_svg(template: Template, current: str | None = None) -> Markup:
    """The template's states and transitions as an `<svg>` element; `current`, when given, must
    be one of the template's states and is marked."""
    if current is not None and current not in template.states:
        raise ValueError(f"template {template.name} has no state {current!r}")
    states = list(template.states.values())
    index = {state.name: i for i, state in enumerate(states)}
    edges = [
        _Edge(index[source], index[t.dest], _label(template, t))
        for t in template.transitions
        for source in t.sources
    ]
    lanes = _lanes(edges)
    lane_count = max(lanes.values(), default=-1) + 1
    box_left = PAD + lane_count * LANE_STEP + (PAD if lane_count else 0)
    box_width = max(
        [MIN_BOX_WIDTH]
        + [_width(s.title, FONT) + 2 * PAD for s in states]
        + [_width(_subtitle(template, s, s.name == current), SMALL) + 2 * PAD for s in states]
    )
    centre = box_left + box_width // 2

    side_labels = [
        _lines(e for e in edges if not e.straight and e.source == i) for i in index.values()
    ]
    down_labels = [_lines(e for e in edges if e.straight and e.source == i) for i in index.values()]
    rows = [max(MIN_ROW, PAD + LINE * len(labels)) for labels in side_labels]
    gaps = [max(MIN_GAP, PAD + LINE * len(labels)) for labels in down_labels]
    tops = []
    y = PAD + (START_SPACE if any(s.initial for s in states) else 0)
    for i in range(len(states)):
        tops.append(y)
        y += rows[i] + gaps[i]
    height = (tops[-1] + rows[-1] + PAD) if states else 2 * PAD
    right_text = max(
        [_width(label, SMALL) for labels in side_labels for label in labels]
        + [_width(label, SMALL) - box_width // 2 for labels in down_labels for label in labels]
        + [0]
    )
    width = box_left + box_width + PAD + right_text + PAD

    ports = _ports(edges, lanes, len(states))
    port_y: dict[tuple[int, bool], int] = {}  # (edge, is its source end) → y
    for i, box_ports in enumerate(ports):
        for n, (port, is_source) in enumerate(box_ports):
            port_y[(port.edge, is_source)] = tops[i] + rows[i] * (n + 1) // (len(box_ports) + 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="{SMALL}">',
        f"<title>{escape(_summary(template, current))}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" rx="8" fill="{BACKGROUND}"/>',
    ]
    for i, state in enumerate(states):
        if state.initial:
            parts += _start(centre, tops[i]) if i == 0 else []
        parts += _box(template, state, state.name == current, box_left, tops[i], box_width, rows[i])
        for n, label in enumerate(side_labels[i]):
            first = tops[i] + rows[i] // 2 - (len(side_labels[i]) - 1) * LINE // 2
            parts.append(_text(box_left + box_width + PAD, first + n * LINE, label, "side"))
    for number, edge in enumerate(edges):
        if edge.straight:
            top, bottom = tops[edge.source] + rows[edge.source], tops[edge.dest]
            parts.append(_line(centre, top, centre, bottom - 1))
            parts.append(_arrowhead(centre, bottom, "down"))
        else:
            x = box_left - PAD - lanes[number] * LANE_STEP
            y1, y2 = port_y[(number, True)], port_y[(number, False)]
            parts.append(
                f'<polyline points="{box_left},{y1} {x},{y1} {x},{y2} {box_left - 1},{y2}" '
                f'fill="none" stroke="{LINE_INK}" stroke-width="1.5"/>'
            )
            parts.append(_arrowhead(box_left, y2, "right"))
    for i, labels in enumerate(down_labels):
        first = tops[i] + rows[i] + gaps[i] // 2 - (len(labels) - 1) * LINE // 2
        for n, label in enumerate(labels):
            parts.append(_text(centre + 8, first + n * LINE, label, "down"))
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _label(template: Template, transition: Transition) -> str:
    """What a transition's arrow says: the action in Chinese, who takes it (or when it fires by
    itself), and what it asks for."""
    if transition.at is not None:
        who = f"{transition.at.month}月{transition.at.day}日自动"
    elif transition.after is not None:
        who = f"{_duration(transition.after)}后自动"
    else:
        who = "、".join(
            template.roles[r].title if r in template.roles else r for r in transition.roles
        )
    needs = [
        w
        for w, on in (
            ("须填意见", transition.comment_required),
            ("须评分", transition.score_required),
        )
        if on
    ]
    detail = "；".join([who, *needs]) if who else "；".join(needs)
    title = action_title(transition.trigger)
    return f"{title}（{detail}）" if detail else title


def _lines(edges: Iterable[_Edge]) -> list[str]:
    """The edges' labels, each wrapped to lines of at most about `LABEL_WIDTH`."""
    return [line for edge in edges for line in _wrap(edge.label)]


def _wrap(label: str) -> list[str]:
    """`label` in lines of at most about `LABEL_WIDTH`, broken before an opening bracket or
    after a list's punctuation."""
    pieces = re.findall(r"（?[^（、；]*[、；]?", label)
    lines = [""]
    for piece in filter(None, pieces):
        if lines[-1] and _width(lines[-1] + piece, SMALL) > LABEL_WIDTH:
            lines.append("")
        lines[-1] += piece
    return lines


def _duration(duration: Duration) -> str:
    return f"{duration.amount}{UNIT_WORDS[duration.unit]}"


def _subtitle(template: Template, state: State, current: bool) -> str:
    """The small line in a state's box: 当前 when it is, and who holds its task."""
    words = ["当前"] if current else []
    if state.task is not None:
        role = template.roles.get(state.task.role)
        words.append(role.title if role is not None else state.task.role)
        if state.task.sign in SIGN_WORDS:
            words.append(SIGN_WORDS[state.task.sign])
    elif state.final:
        words.append("结束")
    elif state.initial:
        words.append("开始")
    return " · ".join(words)


def _summary(template: Template, current: str | None) -> str:
    """The accessible name: the template and where the plan stands."""
    text = f"{template.title}（第{template.version}版）流程图"
    if current is not None:
        text += f"，当前：{template.states[current].title}"
    return text


def _lanes(edges: list[_Edge]) -> dict[int, int]:
    """A lane for each edge not drawn straight: shortest spans nearest the boxes, and no two
    edges whose spans overlap in one lane."""
    taken: list[list[tuple[int, int]]] = []
    lanes: dict[int, int] = {}
    jumps = sorted(
        (n for n, e in enumerate(edges) if not e.straight),
        key=lambda n: (abs(edges[n].dest - edges[n].source), n),
    )
    for n in jumps:
        low, high = sorted((edges[n].source, edges[n].dest))
        lane = next(
            (k for k, spans in enumerate(taken) if all(high < lo or hi < low for lo, hi in spans)),
            len(taken),
        )
        if lane == len(taken):
            taken.append([])
        taken[lane].append((low, high))
        lanes[n] = lane
    return lanes


def _ports(edges: list[_Edge], lanes: dict[int, int], count: int) -> list[list[tuple[_Port, bool]]]:
    """Where lanes meet each box's left side, ordered top to bottom so that they do not cross:
    lanes leaving upwards above those leaving downwards, inner lanes innermost."""
    ports: list[list[tuple[_Port, bool]]] = [[] for _ in range(count)]
    for n, lane in lanes.items():
        edge = edges[n]
        up = edge.dest < edge.source
        ports[edge.source].append((_Port(n, lane, goes_up=up), True))
        ports[edge.dest].append((_Port(n, lane, goes_up=not up), False))
    for box in ports:
        box.sort(key=lambda p: (not p[0].goes_up, p[0].lane if p[0].goes_up else -p[0].lane))
    return ports


def _width(text: str, size: int) -> int:
    """An estimate of the text's width: Chinese characters are square, others about half."""
    wide = sum(1 for c in text if unicodedata.east_asian_width(c) in "WF")
    return int(wide * size + (len(text) - wide) * size * 0.6) + 1


def _start(centre: int, top: int) -> list[str]:
    return [
        f'<circle class="start" cx="{centre}" cy="{top - START_SPACE + 6}" r="6" fill="{INK}"/>',
        _line(centre, top - START_SPACE + 12, centre, top - 1),
        _arrowhead(centre, top, "down"),
    ]


def _box(
    template: Template, state: State, current: bool, left: int, top: int, width: int, height: int
) -> list[str]:
    classes = "state" + (" current" if current else "") + (" final" if state.final else "")
    fill = CURRENT_FILL if current else FINAL_FILL if state.final else BOX_FILL
    stroke, stroke_width = (CURRENT_INK, 3) if current else (LINE_INK, 1.5)
    centre = left + width // 2
    middle = top + height // 2
    parts = [
        f'<g class="{classes}" data-state="{escape(state.name)}">',
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>',
    ]
    if state.final:
        parts.append(
            f'<rect x="{left + 3}" y="{top + 3}" width="{width - 6}" height="{height - 6}" '
            f'rx="4" fill="none" stroke="{stroke}" stroke-width="1"/>'
        )
    subtitle = _subtitle(template, state, current)
    title_y = middle - 3 if subtitle else middle + FONT // 3
    parts.append(
        f'<text x="{centre}" y="{title_y}" text-anchor="middle" font-size="{FONT}" '
        f'font-weight="bold" fill="{INK}">{escape(state.title)}</text>'
    )
    if subtitle:
        parts.append(
            f'<text x="{centre}" y="{middle + SMALL + 1}" text-anchor="middle" '
            f'fill="{CURRENT_INK if current else LINE_INK}">{escape(subtitle)}</text>'
        )
    parts.append("</g>")
    return parts


def _text(x: int, y: int, text: str, kind: str) -> str:
    return (
        f'<text class="transition {kind}" x="{x}" y="{y + SMALL // 3}" fill="{INK}">'
        f"{escape(text)}</text>"
    )


def _line(x1: int, y1: int, x2: int, y2: int) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{LINE_INK}" stroke-width="1.5"/>'


def _arrowhead(x: int, y: int, pointing: str) -> str:
    """A filled triangle whose tip is at (x, y)."""
    if pointing == "down":
        points = f"{x},{y} {x - 5},{y - 8} {x + 5},{y - 8}"
    else:
        points = f"{x},{y} {x - 8},{y - 5} {x - 8},{y + 5}"
    return f'<polygon points="{points}" fill="{LINE_INK}"/>'
