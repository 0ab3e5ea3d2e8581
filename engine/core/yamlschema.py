"""Validate loaded YAML against pydantic models, reporting each problem at its YAML node.

`validate` checks `LoadedYaml.data` against a model and turns every `ValidationError` entry into a
`Problem` located where the administrator must look, worded so they can fix it: unknown keys with
"did you mean", missing keys, wrong types naming the key and the bad value. Templates and plan
files share this one mechanism; their models derive from `DocModel`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from engine.core.errors import Problem
from engine.core.i18n import N_, Message
from engine.core.limits import text_complaint
from engine.core.yamlsource import LoadedYaml, YamlPath


class DocModel(BaseModel):
    """Base of every raw-document model: unknown keys are errors, types are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def show(value: Any) -> Message | str:
    """A value as an administrator would recognise it in the file, for "got …" in messages."""
    if value is None:
        return Message.of("an empty value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(_shortened(value))
    if isinstance(value, dict):
        return Message.of("a mapping")
    if isinstance(value, list):
        return Message.of("a list") if value else Message.of("an empty list")
    return str(value)


class Complaint(ValueError):
    """A validator's refusal as a sentence to translate ("must be …, got …").

    Pydantic keeps the exception in the error's context; `_complaint` reads the `Message` back.
    """

    def __init__(self, message: Message) -> None:
        super().__init__(message.render("en"))
        self.message = message


def complain(template: str, **values: Any) -> Complaint:
    """`raise complain("must be {low} or more, got {value}", low=…, value=…)`."""
    return Complaint(Message.of(template, **values))


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def did_you_mean(word: str, choices: Iterable[str]) -> Message | str:
    """The hint "; did you mean 'x'?" when one of `choices` is close to `word`, else "".

    A `Message` (a field value of an error, read in the reader's language), or the empty string,
    which is falsy: `hint or …` still works.
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return Message.of("; did you mean '{choice}'?", choice=close[0]) if close else ""


def suggestion(word: str, choices: Iterable[str], *, listing: str | Message) -> Message | str:
    """`did_you_mean`, else "; {listing}: a, b, c" while that list is short enough to read.

    `listing` is an English phrase ("allowed keys"), translated when read: mark it `N_("…")`.
    """
    options = list(dict.fromkeys(choices))
    near = did_you_mean(word, options)
    if near or not options or len(options) > 12:
        return near
    return Message.of(
        "; {listing}: {options}",
        listing=Message(listing) if isinstance(listing, str) else listing,
        options=", ".join(options),
    )


def _stripped_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise complain("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_stripped_text)]  # stripped; empty after stripping is an error


def fits(max_chars: int) -> Callable[[str], str]:
    """An after-validator keeping a text storable in a column of `max_chars` characters."""

    def check(value: str) -> str:
        complaint = text_complaint(value, max_chars)
        if complaint is not None:
            raise Complaint(complaint)
        return value

    return check


def at_most_entries(limit: int, noun: str) -> Callable[[list[Any]], list[Any]]:
    """An after-validator keeping a list to `limit` entries (`noun`: what entries are, plural,
    marked `N_("…")` for the catalogue)."""

    def check(value: list[Any]) -> list[Any]:
        if len(value) > limit:
            raise complain(
                "holds {count} {noun}; the limit is {limit}",
                count=len(value),
                noun=Message(noun),
                limit=limit,
            )
        return value

    return check


def between(low: int, high: int) -> Callable[[int], int]:
    """An after-validator keeping a whole number within [low, high]."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise complain(
                "must be between {low} and {high}, got {value}", low=low, high=high, value=value
            )
        return value

    return check


def at_least(low: int) -> Callable[[int], int]:
    """An after-validator keeping a whole number at `low` or above."""

    def check(value: int) -> int:
        if value < low:
            raise complain("must be {low} or more, got {value}", low=low, value=value)
        return value

    return check


def at_most(high: int) -> Callable[[int], int]:
    """An after-validator keeping a whole number at `high` or below."""

    def check(value: int) -> int:
        if value > high:
            raise complain(
                "must be {high} or less, got {value}",
                high=f"{high:,}",
                value=_shortened(str(value)),
            )
        return value

    return check


@dataclass(frozen=True)
class Describer:
    """Names places in a document for messages: "in state 'draft'", "transition 3 (approve)".

    `entries` maps each top-level collection to the noun for one of its entries (English, marked
    `N_("…")` for the catalogue); `labels` names the field that identifies a list entry (a
    transition by its trigger, a goal by its key).
    """

    entries: Mapping[str, str]
    labels: Mapping[str, str]

    def _entry(self, data: Mapping[str, Any], path: YamlPath) -> Message | None:
        if len(path) < 2 or path[0] not in self.entries:
            return None
        noun, name = Message(self.entries[str(path[0])]), path[1]
        if isinstance(name, str):
            return Message.of("{noun} '{name}'", noun=noun, name=name)
        entries = data.get(str(path[0]))
        entry = entries[name] if isinstance(entries, list) and name < len(entries) else None
        label = entry.get(self.labels.get(str(path[0]), "")) if isinstance(entry, dict) else None
        if isinstance(label, str) and label.strip():
            return Message.of(
                "{noun} {position} ({label})",
                noun=noun,
                position=name + 1,
                label=_shortened(label.strip()),
            )
        return Message.of("{noun} {position}", noun=noun, position=name + 1)

    def context(self, data: Mapping[str, Any], path: YamlPath) -> Message:
        """Where a key lives: "at the top level", "in state 'x'", "in 'task' of state 'x'"."""
        if not path:
            return Message.of("at the top level")
        entry = self._entry(data, path)
        if entry is None:
            return Message.of("in '{key}'", key=_dotted(path))
        if path[2:]:
            return Message.of("in '{key}' of {entry}", key=_dotted(path[2:]), entry=entry)
        return Message.of("in {entry}", entry=entry)

    def subject(self, data: Mapping[str, Any], path: YamlPath) -> Message | str:
        """What a value is called: "'due'", "state 'x'", "value 2 of 'remind'"."""
        entry = self._entry(data, path)
        if entry is not None and len(path) == 2:
            return entry
        if path and isinstance(path[-1], int) and len(path) > 1:
            return Message.of("value {position} of '{key}'", position=path[-1] + 1, key=path[-2])
        if path and not isinstance(path[-1], int):
            return f"'{path[-1]}'"
        return Message.of("the document")


def _dotted(path: YamlPath) -> str:
    return ".".join(str(part) for part in path)


M = TypeVar("M", bound=BaseModel)


def validate(
    loaded: LoadedYaml, model: type[M], *, describe: Describer, path: YamlPath = ()
) -> tuple[M | None, list[Problem]]:
    """Validate the value at `path` against `model`; on failure, one located problem per error.

    Errors inside values already refused while loading (a forbidden tag) are dropped: the file
    says so once, where the tag is. So is "missing key 'role'" next to "unknown key 'rol'; did
    you mean 'role'?": one fix, one message.
    """
    try:
        return model.model_validate(loaded.get(path)), []
    except ValidationError as failure:
        details = failure.errors(include_url=False)
        misspelt = {_misspelling_of(model, detail) for detail in details}
        problems = (
            _located(loaded, model, describe, path, detail)
            for detail in details
            if not (detail["type"] == "missing" and tuple(detail["loc"]) in misspelt)
        )
        return None, sorted(problem for problem in problems if problem is not None)


def _allowed_keys(model: type[BaseModel], mapping: Sequence[str | int]) -> list[str]:
    """The keys the model accepts in the mapping at `mapping` (relative to the model)."""
    return _field_names(_annotation_at(model, mapping))


def _misspelling_of(model: type[BaseModel], detail: ErrorDetails) -> YamlPath | None:
    """For an unknown key close to an allowed one, the location of that allowed key."""
    if detail["type"] != "extra_forbidden":
        return None
    *parent, key = detail["loc"]
    close = difflib.get_close_matches(str(key), _allowed_keys(model, parent), n=1)
    return (*parent, close[0]) if close else None


def _located(
    loaded: LoadedYaml,
    model: type[BaseModel],
    describe: Describer,
    base: YamlPath,
    detail: ErrorDetails,
) -> Problem | None:
    inner = tuple(detail["loc"])
    path = (*base, *inner)
    if loaded.is_unreadable(path):
        return None
    data, kind = loaded.data, detail["type"]
    if kind == "extra_forbidden":
        key, parent = str(path[-1]), path[:-1]
        hint = suggestion(key, _allowed_keys(model, inner[:-1]), listing=N_("allowed keys"))
        message = Message.of(
            "unknown key '{key}' {where}{hint}",
            key=key,
            where=describe.context(data, parent),
            hint=hint,
        )
        return loaded.problem(path, message, at_key=True)
    if kind == "missing":
        message = Message.of(
            "missing key '{key}' {where}", key=path[-1], where=describe.context(data, path[:-1])
        )
        return loaded.problem(path[:-1], message, at_key=True)
    complaint = _complaint(detail, _annotation_at(model, inner))
    subject = describe.subject(data, path)
    return loaded.problem(
        path, Message.of("{subject} {complaint}", subject=subject, complaint=complaint)
    )


_EXPECTED = {
    "string_type": N_("must be text"),
    "int_type": N_("must be a whole number"),
    "bool_type": N_("must be true or false"),
    "float_type": N_("must be a number"),
    "decimal_type": N_("must be a number"),
    "finite_number": N_("must be a finite number"),
    "dict_type": N_("must be a mapping of 'key: value' entries"),
    "model_type": N_("must be a mapping of 'key: value' entries"),
    "list_type": N_("must be a list, like [a, b]"),
}


def _complaint(detail: ErrorDetails, annotation: Any) -> Message | str:
    """The "must be …, got …" part of a message."""
    kind, got = detail["type"], detail["input"]
    ctx = detail.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        error = ctx["error"]
        return error.message if isinstance(error, Complaint) else str(error)
    if kind == "literal_error":
        choices = [str(choice) for choice in get_args(annotation)]
        hint = did_you_mean(got, choices) if isinstance(got, str) else ""
        expected = ctx.get("expected")
        return Message.of(
            "must be {expected}, got {value}{hint}",
            expected=expected if expected is not None else Message.of("one of the listed words"),
            value=show(got),
            hint=hint,
        )
    if kind in ("too_short", "string_too_short"):
        return Message.of("must not be empty")
    expected = _EXPECTED.get(kind)
    if expected is None:
        return Message.of(
            "is not valid ({reason}), got {value}", reason=detail["msg"], value=show(got)
        )
    if kind == "string_type" and isinstance(got, int | float) and not isinstance(got, bool):
        return Message.of(
            '{expected}, got {value}; put it in quotes: "{quoted}"',
            expected=Message(expected),
            value=show(got),
            quoted=got,
        )
    return Message.of("{expected}, got {value}", expected=Message(expected), value=show(got))


def _unwrap(annotation: Any) -> Any:
    """`Annotated[T, …]` and `T | None` → T, so a field's annotation can be walked."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            arms = [arm for arm in get_args(annotation) if arm is not type(None)]
            if len(arms) != 1:
                return annotation
            annotation = arms[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _annotation_at(root: type[BaseModel], loc: Sequence[str | int]) -> Any:
    """The annotation that validated the value at `loc` (relative to `root`), or None."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if _is_model(current):
            current = next(
                (f.annotation for n, f in current.model_fields.items() if (f.alias or n) == part),
                None,
            )
        elif get_origin(current) in (list, tuple) and get_args(current):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _field_names(annotation: Any) -> list[str]:
    if get_origin(annotation) in (list, tuple) and get_args(annotation):
        annotation = _unwrap(get_args(annotation)[0])  # one mapping given for a list of them
    if not _is_model(annotation):
        return []
    return [field.alias or name for name, field in annotation.model_fields.items()]
