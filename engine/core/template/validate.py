"""Loading a workflow template: YAML → schema → consistency checks → a frozen `Template`.

Every problem is collected and raised once as a `TemplateError`, each at the YAML node the
administrator must change. Consistency checks (DESIGN.md §3, last bullet) run on whatever parts of
the file could be read, so a typo in one state does not hide a broken reference in another. The
graph checks (reachability, ways out) wait until names resolve: a misspelt state would otherwise
also show up as an unreachable one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from engine.core.durations import Duration, DurationUnit
from engine.core.errors import Problem, TemplateError
from engine.core.guards import GUARDS, ITEM_CONDITIONS
from engine.core.i18n import N_, Message
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode, Template
from engine.core.template.schema import (
    IDENTIFIER,
    IDENTIFIER_RULE,
    ReminderDoc,
    RoleDoc,
    StateDoc,
    TemplateDoc,
    TransitionDoc,
)
from engine.core.yamlschema import Describer, suggestion, validate
from engine.core.yamlsource import LoadedYaml, YamlPath, load_yaml, load_yaml_file

DESCRIBE = Describer(
    entries={
        "roles": N_("role"),
        "states": N_("state"),
        "transitions": N_("transition"),
        "reminders": N_("reminder"),
    },
    labels={"transitions": "trigger"},
)


def load_template(text: str | bytes, *, source: str) -> Template:
    """Parse and check a template; `source` names the file in messages."""
    return _checked(load_yaml(text, source=source, error=TemplateError))


def load_template_file(path: str | Path) -> Template:
    return _checked(load_yaml_file(path, error=TemplateError))


def _checked(loaded: LoadedYaml) -> Template:
    doc, schema_problems = validate(loaded, TemplateDoc, describe=DESCRIBE)
    problems = [*loaded.problems, *schema_problems, *_Checks(loaded).problems()]
    if problems:
        raise TemplateError(problems)
    assert doc is not None  # no problems means the schema accepted it
    return doc.to_template(loaded.source)


# --------------------------------------------------------------------------- readable parts

Key = TypeVar("Key", str, int)
Doc = TypeVar("Doc", bound=BaseModel)


@dataclass(frozen=True)
class _Section(Generic[Key, Doc]):
    """One top-level collection: every name written, and the entries that passed the schema."""

    names: tuple[Key, ...] | None  # None: the section is missing, or not a mapping/list at all
    readable: dict[Key, Doc]

    @property
    def complete(self) -> bool:
        return self.names is not None and len(self.readable) == len(self.names)


def _section(loaded: LoadedYaml, key: str, model: type[Doc], *, named: bool) -> _Section[Any, Doc]:
    """Read a section of named entries (a mapping) or of numbered ones (a list)."""
    raw = loaded.data.get(key)
    entries: Iterable[tuple[Any, Any]]
    if named and isinstance(raw, dict):
        entries = raw.items()
    elif not named and isinstance(raw, list):
        entries = enumerate(raw)
    else:
        return _Section(None, {})  # the schema says what is wrong with it
    names: list[Any] = []
    readable: dict[Any, Doc] = {}
    for name, value in entries:
        names.append(name)
        # A broken entry is reported by the whole-document validation, at the right place.
        with suppress(ValidationError):
            readable[name] = model.model_validate(value)
    return _Section(tuple(names), readable)


# --------------------------------------------------------------------------- consistency


class _Checks:
    """The checks that need more than one key, each problem located at the node to change."""

    def __init__(self, loaded: LoadedYaml) -> None:
        self.loaded = loaded
        self.roles: tuple[str, ...] | None = _section(loaded, "roles", RoleDoc, named=True).names
        self.states: _Section[str, StateDoc] = _section(loaded, "states", StateDoc, named=True)
        self.transitions: _Section[int, TransitionDoc] = _section(
            loaded, "transitions", TransitionDoc, named=False
        )
        self.reminders: _Section[int, ReminderDoc] = _section(
            loaded, "reminders", ReminderDoc, named=False
        )
        self.initials = [n for n, state in self.states.readable.items() if state.initial]
        self.finals = {n for n, state in self.states.readable.items() if state.final}

    def problems(self) -> list[Problem]:
        references = [*self._state_references(), *self._role_references(), *self._other_names()]
        problems = [
            *references,
            *self._names(),
            *self._initial_and_final(),
            *self._escalations(),
            *self._timers(),
            *self._score_ranges(),
            *self._duplicates(),
            *self._leaving_finals(),
        ]
        graph_ready = (
            self.states.complete
            and self.transitions.complete
            and not references
            and len(self.initials) == 1
        )
        if graph_ready:
            problems += [*self._reachability(), *self._ways_out()]
        return problems

    def _at(self, path: YamlPath, message: Message, *, at_key: bool = False) -> Problem:
        return self.loaded.problem(path, message, at_key=at_key)

    def _unknown(
        self, path: YamlPath, kind: str, name: str, known: Iterable[str] | None
    ) -> Iterator[Problem]:
        """A problem when `name` is not among `known` (None: the list itself is unreadable)."""
        if known is None:
            return
        known = list(known)
        if name not in known:
            listing = Message.of("known {kind}s", kind=Message(kind))
            hint = suggestion(name, known, listing=listing)
            message = Message.of(
                "unknown {kind} '{name}'{hint}", kind=Message(kind), name=name, hint=hint
            )
            yield self._at(path, message)

    # ---- references

    def _state_references(self) -> Iterator[Problem]:
        for i, transition in self.transitions.readable.items():
            for j, source in enumerate(transition.sources):
                yield from self._unknown(
                    ("transitions", i, "from", j), "state", source, self.states.names
                )
            yield from self._unknown(
                ("transitions", i, "to"), "state", transition.to, self.states.names
            )

    def _role_references(self) -> Iterator[Problem]:
        for name, state in self.states.readable.items():
            task = state.task
            if task is not None:
                yield from self._unknown(
                    ("states", name, "task", "role"), "role", task.role, self.roles
                )
            for level, escalation in enumerate(task.escalate if task is not None else ()):
                path = (*self._escalation_path(name, level), "to")
                yield from self._unknown(path, "role", escalation.to, self.roles)
        for i, transition in self.transitions.readable.items():
            for j, role in enumerate(transition.roles):
                yield from self._unknown(("transitions", i, "roles", j), "role", role, self.roles)
        for i, reminder in self.reminders.readable.items():
            for j, role in enumerate(reminder.to):
                yield from self._unknown(("reminders", i, "to", j), "role", role, self.roles)

    def _other_names(self) -> Iterator[Problem]:
        for i, transition in self.transitions.readable.items():
            for j, guard in enumerate(transition.guards):
                yield from self._unknown(
                    ("transitions", i, "guards", j), N_("guard"), guard, sorted(GUARDS)
                )
        for i, reminder in self.reminders.readable.items():
            if reminder.unless is not None:
                path = ("reminders", i, "unless")
                yield from self._unknown(
                    path, N_("condition"), reminder.unless, sorted(ITEM_CONDITIONS)
                )

    def _names(self) -> Iterator[Problem]:
        for kind, names in (("role", self.roles), ("state", self.states.names)):
            for name in names or ():
                if not IDENTIFIER.fullmatch(name):
                    message = Message.of(
                        "{kind} name '{name}' must be {rule}",
                        kind=Message(kind),
                        name=name,
                        rule=Message(IDENTIFIER_RULE),
                    )
                    yield self._at((f"{kind}s", name), message, at_key=True)

    # ---- states

    def _escalation_path(self, state: str, level: int) -> YamlPath:
        """Where a level is written: `escalate: {…}` is the only level, a list holds several."""
        path: YamlPath = ("states", state, "task", "escalate")
        return path if isinstance(self.loaded.get(path), dict) else (*path, level)

    def _escalations(self) -> Iterator[Problem]:
        """Each level must reach new people, later than the level before it."""
        for name, state in self.states.readable.items():
            if state.task is None:
                continue
            # The task and each level go to the nearest holders of their role: the same role
            # twice would find the same people.
            reached = {state.task.role: Message.of("the task's own role")}
            previous: Duration | None = None
            for level, escalation in enumerate(state.task.escalate):
                path = self._escalation_path(name, level)
                this = Message.of("as level {level} does", level=level + 1)
                earlier = reached.setdefault(escalation.to, this)
                if earlier is not this:
                    message = Message.of(
                        "escalation level {level} goes to '{role}', {earlier}; "
                        "it would reach the same people again, so name another role",
                        level=level + 1,
                        role=escalation.to,
                        earlier=earlier,
                    )
                    yield self._at((*path, "to"), message)
                if previous is not None:
                    yield from self._later(path, level, previous, escalation.after)
                previous = escalation.after

    def _later(
        self, path: YamlPath, level: int, previous: Duration, after: Duration
    ) -> Iterator[Problem]:
        working = {d.unit is DurationUnit.WORKING_DAYS for d in (previous, after)}
        if len(working) > 1:
            message = Message.of(
                "escalation level {level} waits {after} and level {previous_level} waits "
                "{previous}; working days cannot be compared with h, d or w, so write both in "
                "wd, or both in h, d or w",
                level=level + 1,
                after=str(after),
                previous_level=level,
                previous=str(previous),
            )
            yield self._at((*path, "after"), message)
        elif _hours(after) <= _hours(previous):
            message = Message.of(
                "escalation level {level} waits {after}, but level {previous_level} already "
                "waits {previous}; each level must wait longer than the one before it",
                level=level + 1,
                after=str(after),
                previous_level=level,
                previous=str(previous),
            )
            yield self._at((*path, "after"), message)

    def _initial_and_final(self) -> Iterator[Problem]:
        if self.states.names is None:
            return
        if not self.initials and self.states.complete:
            message = Message.of("no initial state; mark one with 'initial: true'")
            yield self._at(("states",), message, at_key=True)
        for extra in self.initials[1:]:
            message = Message.of(
                "state '{state}' is initial too, but '{initial}' already is; keep one",
                state=extra,
                initial=self.initials[0],
            )
            yield self._at(("states", extra, "initial"), message, at_key=True)
        if not self.finals and self.states.complete:
            message = Message.of("no final state; mark at least one with 'final: true'")
            yield self._at(("states",), message, at_key=True)
        for name in self.finals.intersection(self.initials):
            message = Message.of("state '{state}' cannot be both initial and final", state=name)
            yield self._at(("states", name, "final"), message, at_key=True)

    # ---- transitions

    def _timers(self) -> Iterator[Problem]:
        for i, transition in self.transitions.readable.items():
            trigger, path = transition.trigger, ("transitions", i)
            if transition.at is not None and transition.after is not None:
                message = Message.of(
                    "transition '{trigger}' has both 'at' and 'after'; a timer takes one",
                    trigger=trigger,
                )
                yield self._at((*path, "after"), message, at_key=True)
            if not transition.is_timer and not transition.roles:
                message = Message.of(
                    "transition '{trigger}' needs 'roles' (who may take it), "
                    "or 'at'/'after' to make it a timer",
                    trigger=trigger,
                )
                yield self._at((*path, "roles"), message, at_key=True)
            if transition.is_timer:
                for key in _ACTION_ONLY_KEYS:
                    if getattr(transition, key):
                        message = Message.of(
                            "timer transition '{trigger}' takes no '{key}'; it fires by itself",
                            trigger=trigger,
                            key=key,
                        )
                        yield self._at((*path, key), message, at_key=True)

    def _score_ranges(self) -> Iterator[Problem]:
        for i, transition in self.transitions.readable.items():
            score = transition.score
            if score is not None and score.min >= score.max:
                message = Message.of(
                    "transition '{trigger}' accepts scores from {min} to {max}; "
                    "'max' must be greater than 'min'",
                    trigger=transition.trigger,
                    min=f"{score.min:g}",
                    max=f"{score.max:g}",
                )
                path: YamlPath = ("transitions", i, "score")
                written = self.loaded.get(path)
                bound = "max" if isinstance(written, dict) and "max" in written else "min"
                yield self._at((*path, bound), message)

    def _duplicates(self) -> Iterator[Problem]:
        first: dict[tuple[str, str], int] = {}
        for i, transition in self.transitions.readable.items():
            for source in dict.fromkeys(transition.sources):
                seen = first.setdefault((transition.trigger, source), i)
                if seen != i:
                    line = self.loaded.where(("transitions", seen)).line
                    message = Message.of(
                        "transition '{trigger}' from state '{state}' "
                        "is already defined at line {line}",
                        trigger=transition.trigger,
                        state=source,
                        line=line,
                    )
                    yield self._at(("transitions", i, "trigger"), message)

    def _leaving_finals(self) -> Iterator[Problem]:
        for i, transition in self.transitions.readable.items():
            for j, source in enumerate(transition.sources):
                if source in self.finals:
                    message = Message.of(
                        "final state '{state}' cannot have outgoing transitions", state=source
                    )
                    yield self._at(("transitions", i, "from", j), message)

    # ---- the graph (only once every name resolves)

    def _edges(self) -> Iterator[tuple[str, str]]:
        for transition in self.transitions.readable.values():
            for source in transition.sources:
                yield source, transition.to

    def _reachability(self) -> Iterator[Problem]:
        initial = self.initials[0]
        forward = _reachable({initial}, _adjacency(self._edges()))
        backward = _reachable(self.finals, _adjacency((to, fro) for fro, to in self._edges()))
        for name in self.states.readable:
            if name not in forward:
                message = Message.of(
                    "state '{state}' cannot be reached from the initial state '{initial}'",
                    state=name,
                    initial=initial,
                )
                yield self._at(("states", name), message, at_key=True)
            elif self.finals and name not in backward:
                message = Message.of(
                    "no final state can be reached from state '{state}'", state=name
                )
                yield self._at(("states", name), message, at_key=True)

    def _ways_out(self) -> Iterator[Problem]:
        for name, state in self.states.readable.items():
            if state.task is None:
                continue
            role = state.task.role
            exits = [t for t in self.transitions.readable.values() if _lets_out(t, name, role)]
            if not exits:
                message = Message.of(
                    "the task in state '{state}' is for '{role}', "
                    "but no transition out of it lists that role",
                    state=name,
                    role=role,
                )
                yield self._at(("states", name, "task", "role"), message)
            elif SignMode(state.task.sign) is not SignMode.ANY and not any(
                t.trigger == COUNTERSIGN_TRIGGER for t in exits
            ):
                message = Message.of(
                    "sign: {sign} collects signatures on '{trigger}', "
                    "but no '{trigger}' transition leaves state '{state}' for '{role}'",
                    sign=state.task.sign,
                    trigger=COUNTERSIGN_TRIGGER,
                    state=name,
                    role=role,
                )
                yield self._at(("states", name, "task", "sign"), message)


# Hours per unit, for ordering escalation levels. A working day counts as one: levels are only
# compared in wd with wd (how long N working days last depends on the calendar).
_HOURS = {
    DurationUnit.HOURS: 1,
    DurationUnit.DAYS: 24,
    DurationUnit.WEEKS: 7 * 24,
    DurationUnit.WORKING_DAYS: 1,
}


def _hours(duration: Duration) -> int:
    return duration.amount * _HOURS[duration.unit]


# Keys that only make sense when a person acts; a timer fires on its own.
_ACTION_ONLY_KEYS = ("roles", "guards", "comment", "score")


def _lets_out(transition: TransitionDoc, state: str, role: str) -> bool:
    """A person holding `role` can move a plan out of `state` with this transition."""
    return (
        not transition.is_timer
        and state in transition.sources
        and transition.to != state
        and role in transition.roles
    )


def _adjacency(edges: Iterable[tuple[str, str]]) -> Mapping[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for source, dest in edges:
        graph.setdefault(source, set()).add(dest)
    return graph


def _reachable(start: Iterable[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    frontier = list(seen)
    while frontier:
        for following in graph.get(frontier.pop(), ()):
            if following not in seen:
                seen.add(following)
                frontier.append(following)
    return seen
