"""The raw shape of a template document (DESIGN.md §3), as pydantic models.

These models check what one key can tell on its own: unknown and missing keys, types, durations,
days, times, the name and time zone. Checks that need several keys at once (references, the
graph, timer rules) live in `validate.py`, which knows where each node is written. `to_template`
turns a document that passed both into the frozen `Template` of `model.py`.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    TypeAdapter,
    field_validator,
)

from engine.core.durations import Duration, parse_duration
from engine.core.i18n import N_, Message
from engine.core.limits import MAX_VERSION
from engine.core.template.model import (
    Escalation,
    MonthDay,
    ReminderAnchor,
    ReminderRule,
    Role,
    Scope,
    ScoreRange,
    SignMode,
    State,
    TaskSpec,
    Template,
    TimeOfDay,
    Transition,
)
from engine.core.yamlschema import (
    DocModel,
    Text,
    at_least,
    at_most,
    complain,
    did_you_mean,
    show,
)

FORMAT_VERSION = 1
TEMPLATE_NAME = re.compile(r"[a-z0-9-]+")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")  # state, role and trigger names
IDENTIFIER_RULE = N_("lowercase letters, digits and '_', starting with a letter")


def _duration(*, signed: bool) -> Callable[[Any], Duration]:
    def check(value: Any) -> Duration:
        try:
            duration = parse_duration(value, allow_negative=True)
        except ValueError:
            raise complain(
                "must be a duration like 7d or 5wd, got {value}", value=show(value)
            ) from None
        if duration.is_negative and not signed:
            raise complain("must not be negative, got {value}", value=show(value))
        return duration

    return check


DurationField = Annotated[Duration, PlainValidator(_duration(signed=False))]
SignedDurationField = Annotated[Duration, PlainValidator(_duration(signed=True))]


def _month_day(value: Any) -> MonthDay:
    found = re.fullmatch(r"(\d{1,2})-(\d{1,2})", value) if isinstance(value, str) else None
    if found is None or not _is_calendar_day(int(found[1]), int(found[2])):
        raise complain(
            'must be a day of the year like "12-01" (MM-DD), got {value}', value=show(value)
        )
    return MonthDay(int(found[1]), int(found[2]))


def _is_calendar_day(month: int, day: int) -> bool:
    try:
        date(2000, month, day)  # a leap year, so "02-29" passes as a calendar day
    except ValueError:
        return False
    return True


def _time_of_day(value: Any) -> TimeOfDay:
    found = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        raise complain('must be a time of day like "09:00" (HH:MM), got {value}', value=show(value))
    return TimeOfDay(int(found[1]), int(found[2]))


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise complain(
            "must be {rule}, got {value}", rule=Message(IDENTIFIER_RULE), value=show(value)
        )
    return value


@cache
def _time_zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    # The same test as the deployment's setting (config/settings.py): can the zone be loaded?
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(value, _time_zone_names())
        raise complain(
            "must be a time zone like Asia/Shanghai, got {value}{hint}",
            value=show(value),
            hint=hint,
        ) from None
    return value


MonthDayField = Annotated[MonthDay, PlainValidator(_month_day)]
TimeOfDayField = Annotated[TimeOfDay, PlainValidator(_time_of_day)]
Identifier = Annotated[str, AfterValidator(_identifier)]


class RoleDoc(DocModel):
    title: Text
    scope: Literal["own", "children", "subtree"]


class EscalationDoc(DocModel):
    after: DurationField
    to: str


_ESCALATION_LEVELS = TypeAdapter(list[EscalationDoc])


class TaskDoc(DocModel):
    role: str
    due: DurationField | None = None
    sign: Literal["any", "all", "sequence"] = "any"
    remind: list[DurationField] = Field(default_factory=list)
    escalate: list[EscalationDoc] = Field(default_factory=list)

    @field_validator("escalate", mode="plain")
    @classmethod
    def _one_level_or_many(cls, value: Any) -> list[EscalationDoc]:
        """`escalate: {after, to}` is a chain of one level; a list gives several.

        Each form is validated on its own rather than as a union, whose errors would carry the
        union's arm names in their locations and point nowhere in the file.
        """
        if isinstance(value, dict):
            return [EscalationDoc.model_validate(value)]
        if isinstance(value, list):
            return _ESCALATION_LEVELS.validate_python(value)
        raise complain(
            "must be a mapping {{after: DURATION, to: ROLE}} or a list of them, got {value}",
            value=show(value),
        )


class StateDoc(DocModel):
    title: Text
    initial: bool = False
    final: bool = False
    task: TaskDoc | None = None
    items: Literal["live"] | None = None


FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]


def _true(value: bool) -> bool:
    if not value:
        raise complain("must be true; leave out 'score' for an action that takes none")
    return value


class ScoreDoc(DocModel):
    """`score: {required: true, min: 0, max: 100}`; `score: required` is this with the defaults."""

    # Written out, so that the mapping reads as "a required score" like `score: required` does.
    required: Annotated[bool, AfterValidator(_true)]
    min: FiniteNumber = ScoreRange.low
    max: FiniteNumber = ScoreRange.high


class TransitionDoc(DocModel):
    trigger: Identifier
    sources: list[str] = Field(alias="from", min_length=1)
    to: str
    roles: list[str] = Field(default_factory=list)
    guards: list[str] = Field(default_factory=list)
    comment: Literal["required"] | None = None
    score: ScoreDoc | None = None
    at: MonthDayField | None = None
    after: DurationField | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _from_one_or_many(cls, value: Any) -> Any:
        """`from: draft` means `from: [draft]`."""
        return [value] if isinstance(value, str) else value

    @field_validator("score", mode="plain")
    @classmethod
    def _required_or_range(cls, value: Any) -> ScoreDoc | None:
        """`score: required` (0 to 100), or a mapping that also sets the range.

        Validated form by form, as `escalate` is, so errors point into the file.
        """
        if value is None:
            return None
        if value == "required":
            return ScoreDoc(required=True)
        if isinstance(value, dict):
            return ScoreDoc.model_validate(value)
        raise complain(
            "must be required or a mapping {{required: true, min: NUMBER, max: NUMBER}}, "
            "got {value}",
            value=show(value),
        )

    @property
    def is_timer(self) -> bool:
        return self.at is not None or self.after is not None


class ReminderDoc(DocModel):
    at: Literal["month_start", "due"]
    offset: SignedDurationField | None = None
    to: list[str] = Field(min_length=1)
    unless: str | None = None
    time: TimeOfDayField = TimeOfDay(9, 0)


def _format_version(value: int) -> int:
    if value != FORMAT_VERSION:
        raise complain(
            "must be {version}, the only template format, got {value}",
            version=FORMAT_VERSION,
            value=value,
        )
    return value


def _template_name(value: str) -> str:
    if not TEMPLATE_NAME.fullmatch(value):
        raise complain("must be lowercase letters, digits and '-', got {value}", value=show(value))
    return value


class TemplateDoc(DocModel):
    planflow: Annotated[int, AfterValidator(_format_version)]
    name: Annotated[str, AfterValidator(_template_name)]
    version: Annotated[int, AfterValidator(at_least(1)), AfterValidator(at_most(MAX_VERSION))]
    title: Text
    timezone: Annotated[str, AfterValidator(_time_zone)] | None = None
    roles: dict[str, RoleDoc]
    states: dict[str, StateDoc]
    transitions: list[TransitionDoc]
    reminders: list[ReminderDoc] = Field(default_factory=list)

    def to_template(self, source_name: str) -> Template:
        return Template(
            name=self.name,
            version=self.version,
            title=self.title,
            roles={name: _role(name, doc) for name, doc in self.roles.items()},
            states={name: _state(name, doc) for name, doc in self.states.items()},
            transitions=tuple(_transition(doc) for doc in self.transitions),
            reminders=tuple(_reminder(doc) for doc in self.reminders),
            timezone=self.timezone,
            format_version=self.planflow,
            source_name=source_name,
        )


def _role(name: str, doc: RoleDoc) -> Role:
    return Role(name=name, title=doc.title, scope=Scope(doc.scope))


def _task(doc: TaskDoc) -> TaskSpec:
    return TaskSpec(
        role=doc.role,
        due=doc.due,
        sign=SignMode(doc.sign),
        remind=tuple(doc.remind),
        escalate=tuple(Escalation(after=level.after, to=level.to) for level in doc.escalate),
    )


def _state(name: str, doc: StateDoc) -> State:
    return State(
        name=name,
        title=doc.title,
        initial=doc.initial,
        final=doc.final,
        task=_task(doc.task) if doc.task else None,
        items_live=doc.items == "live",
    )


def _transition(doc: TransitionDoc) -> Transition:
    return Transition(
        trigger=doc.trigger,
        sources=tuple(doc.sources),
        dest=doc.to,
        roles=tuple(doc.roles),
        guards=tuple(doc.guards),
        comment_required=doc.comment == "required",
        score_required=doc.score is not None,
        score_range=ScoreRange(doc.score.min, doc.score.max) if doc.score else ScoreRange(),
        at=doc.at,
        after=doc.after,
    )


def _reminder(doc: ReminderDoc) -> ReminderRule:
    return ReminderRule(
        at=ReminderAnchor(doc.at),
        to=tuple(doc.to),
        offset=doc.offset,
        unless=doc.unless,
        time=doc.time,
    )
