"""The one error hierarchy of Planflow.

Every error a user can cause is a `PlanflowError`: data, not only a sentence. It has a stable
`code` (`plan.not_found`, `action.comment_required`, …) that clients branch on, the `fields` a
client needs (`plan_id`, `trigger`, `state`, `guard`, `field`, `value`, and what else its message
names) and `retryable`. Its message is an English template (the catalogue's message id, see
`engine.core.i18n`) filled from the fields and read in the reader's language, written for the
person who must act on it. Edges map errors once: the CLI to an exit code and a line on stderr,
HTTP to a status code and a JSON body, workers to retry-or-not through `retryable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core.i18n import N_, Language, Message, render


class PlanflowError(Exception):
    """Root of every error Planflow reports to a user.

    `message` is an English `str.format` template whose placeholders are among `fields`; give the
    code of the case (`code="action.comment_required"`) unless the class's own says it all.
    The template is a literal (a test checks every construction), so the catalogue's extraction
    finds it; how an edge answers (an HTTP status, an exit code) is the edge's mapping, not here.
    """

    code: str = "planflow.error"
    retryable: bool = False

    def __init__(self, message: str, /, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.template = message
        if code is not None:
            self.code = code
        self.fields = fields

    @property
    def message(self) -> str:
        """The message in the current language."""
        return self.render()

    def render(self, language: Language | None = None) -> str:
        return render(self.template, self.fields, language)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can.

    `message` is the English sentence (what problems are ordered and compared by, and what
    `str()` shows, as an operator's log reads it); `text`, when given, is the same sentence as a
    `Message` to read in another language (`render`). Build one with `Problem.of`.
    """

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    message: str
    text: Message | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, file: str, line: int, column: int, message: str | Message) -> Problem:
        if isinstance(message, Message):
            return cls(file, line, column, _one_line(message.render("en")), message)
        return cls(file, line, column, _one_line(message))

    def said(self, language: Language | None = None) -> str:
        """The sentence alone, in `language` (default: the current one)."""
        if self.text is None:
            return self.message
        return _one_line(self.text.render(language))

    def render(self, language: Language | None = None) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}: {self.said(language)}"
        return f"{self.file}: {self.said(language)}"

    def __str__(self) -> str:
        return self.render("en")


def _one_line(message: str) -> str:
    """Problems are printed one per line; a key or tag quoted in a message may hold a newline."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


class InputError(PlanflowError):
    """An input file (template or plan) has one or more problems; all of them are listed.

    Its message is the list, one located problem a line, each in the reader's language.
    """

    code = "input.invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(N_("the file has {count} problem(s)"), count=len(self.problems))

    def render(self, language: Language | None = None) -> str:
        return "\n".join(p.render(language) for p in self.problems)


class TemplateError(InputError):
    """A workflow template is malformed or inconsistent."""


class PlanFileError(InputError):
    """A plan file (DESIGN.md §4) is malformed or names things that do not exist."""


class NotFound(PlanflowError):
    """A named object does not exist, or is outside the caller's scope (we do not say which)."""

    code = "not_found"


class AlreadyExists(PlanflowError):
    """Creating something whose identity is already taken."""

    code = "already_exists"


class PermissionDenied(PlanflowError):
    """The actor holds no role that allows this action on this plan."""

    code = "permission_denied"


class NotAuthenticated(PlanflowError):
    """The caller is not logged in, or their login is over (expired, logged out, revoked), or the
    name and password given do not match (never saying which of the two was wrong)."""

    code = "auth.required"


class TooManyAttempts(PlanflowError):
    """Logins are refused for a while after too many failed ones (per username, per address)."""

    code = "auth.throttled"
    retryable = True


class ActionRefused(PlanflowError):
    """The action is not possible now: wrong state, a guard said no, a comment is missing."""

    code = "action.refused"


class Conflict(PlanflowError):
    """Someone else changed the plan first; reload and decide again."""

    code = "conflict"
    retryable = True


class PlanBusy(Conflict):
    """Another transaction held the plan's lock for longer than the lock timeout.

    Nothing was written; the same request may simply be sent again.
    """

    code = "plan.busy"

    def __init__(self, plan_id: int) -> None:
        super().__init__(
            N_("plan #{plan_id} is being changed by someone else; try again"), plan_id=plan_id
        )
        self.plan_id = plan_id


class ConfigurationError(PlanflowError):
    """The deployment's settings are unusable (bad URL, unknown time zone, …)."""

    code = "configuration.invalid"


class SettingsError(ConfigurationError):
    """One or more `PLANFLOW_*` settings are unusable; the message lists each, one a line.

    The lines name the variable, its value and the form expected; what pydantic says of a value
    stays English (the settings are read by operators).
    """

    def __init__(self, problems: list[str | Message]) -> None:
        self.problems = problems
        super().__init__(N_("{count} setting(s) cannot be used"), count=len(problems))

    def render(self, language: Language | None = None) -> str:
        return "\n".join(p.render(language) if isinstance(p, Message) else p for p in self.problems)


class DeliveryError(PlanflowError):
    """A channel could not deliver a message.

    `retryable` tells the dispatcher whether trying again later can help: a timeout, a refused
    connection or a server error can; a refused recipient, a missing address or a request the
    receiver rejects as malformed cannot, and go straight to the dead-letter state.
    """

    code = "delivery.failed"

    def __init__(self, message: str, /, *, retryable: bool, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retryable = retryable


def first_line(error: BaseException | None) -> str:
    """A driver's message without its indented hints: our errors are one line."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__
