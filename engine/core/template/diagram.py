"""A template as a Mermaid `stateDiagram-v2`, for administrators and for a plan's page.

Pure text from a `Template`: states with their titles, one arrow per (source, transition) labelled
with the trigger and who may take it (or when the timer fires), the initial and final markers, and
optionally the plan's current state highlighted. The output depends only on the template, so the
same template always draws the same diagram (and tests can compare it as text).
"""

from __future__ import annotations

from engine.core.template.model import State, Template, Transition

CURRENT_STYLE = "fill:#fde68a,stroke:#b45309,stroke-width:3px"


def mermaid(template: Template, current_state: str | None = None) -> str:
    """The diagram's Mermaid source; `current_state`, when given, must be one of its states."""
    if current_state is not None and current_state not in template.states:
        raise ValueError(f"template {template.name} has no state {current_state!r}")
    lines = [
        "stateDiagram-v2",
        f"    %% {template.name} v{template.version}: {_text(template.title)}",
        *(_declaration(state) for state in template.states.values()),
        *(f"    [*] --> {s.name}" for s in template.states.values() if s.initial),
        *(_arrow(source, t) for t in template.transitions for source in t.sources),
        *(f"    {s.name} --> [*]" for s in template.states.values() if s.final),
    ]
    if current_state is not None:
        lines += [f"    classDef current {CURRENT_STYLE}", f"    class {current_state} current"]
    return "\n".join(lines) + "\n"


def _declaration(state: State) -> str:
    title = _text(state.title)
    if state.task is not None:
        title += f" ({state.task.role})"
    return f'    state "{title}" as {state.name}'


def _arrow(source: str, transition: Transition) -> str:
    return f"    {source} --> {transition.dest} : {_label(transition)}"


def _label(transition: Transition) -> str:
    if transition.at is not None:
        who = f"on {transition.at}"
    elif transition.after is not None:
        who = f"after {transition.after}"
    else:
        who = ", ".join(transition.roles)
    return f"{transition.trigger} ({who})"


def _text(text: str) -> str:
    """Titles are free text: keep them on one line and from closing a Mermaid string."""
    return " ".join(text.split()).replace('"', "'")
