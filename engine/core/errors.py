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

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.core.i18n import Language, render


class PlanflowError(Exception):
    """Root of every error Planflow reports to a user.

    `message` is an English `str.format` template whose placeholders are among `fields`; give the
    code of the case (`code="action.comment_required"`) unless the class's own says it all.
    """

    code: str = "planflow.error"
    retryable: bool = False
    http_status: ClassVar[int] = 400

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
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}: {self.message}"


class InputError(PlanflowError):
    """An input file (template or plan) has one or more problems; all of them are listed."""

    code = "input.invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateError(InputError):
    """A workflow template is malformed or inconsistent."""


class PlanFileError(InputError):
    """A plan file (DESIGN.md §4) is malformed or names things that do not exist."""


class NotFound(PlanflowError):
    """A named object does not exist, or is outside the caller's scope (we do not say which)."""

    code = "not_found"
    http_status = 404


class AlreadyExists(PlanflowError):
    """Creating something whose identity is already taken."""

    code = "already_exists"
    http_status = 409


class PermissionDenied(PlanflowError):
    """The actor holds no role that allows this action on this plan."""

    code = "permission_denied"
    http_status = 403


class ActionRefused(PlanflowError):
    """The action is not possible now: wrong state, a guard said no, a comment is missing."""

    code = "action.refused"
    http_status = 422


class Conflict(PlanflowError):
    """Someone else changed the plan first; reload and decide again."""

    code = "conflict"
    http_status = 409
    retryable = True


class PlanBusy(Conflict):
    """Another transaction held the plan's lock for longer than the lock timeout.

    Nothing was written; the same request may simply be sent again.
    """

    code = "plan.busy"

    def __init__(self, plan_id: int) -> None:
        super().__init__(
            "plan #{plan_id} is being changed by someone else; try again", plan_id=plan_id
        )
        self.plan_id = plan_id


class ConfigurationError(PlanflowError):
    """The deployment's settings are unusable (bad URL, unknown time zone, …)."""

    code = "configuration.invalid"


class DeliveryError(PlanflowError):
    """A channel could not deliver a message.

    `retryable` tells the dispatcher whether trying again later can help: a timeout, a refused
    connection or a server error can; a refused recipient, a missing address or a request the
    receiver rejects as malformed cannot, and go straight to the dead-letter state.
    """

    code = "delivery.failed"
    http_status = 502

    def __init__(self, message: str, /, *, retryable: bool, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retryable = retryable


def first_line(error: BaseException | None) -> str:
    """A driver's message without its indented hints: our errors are one line."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__
