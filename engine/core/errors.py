"""The one error hierarchy of Planflow.

Every error a user can cause is a `PlanflowError` whose message is written for the person who must
act on it. Edges map them once: the CLI to exit code 1 and a line on stderr, HTTP to a status code,
workers to retry-or-not through `retryable`.
"""

from __future__ import annotations

from dataclasses import dataclass


class PlanflowError(Exception):
    """Root of every error Planflow reports to a user."""

    retryable: bool = False
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

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

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateError(InputError):
    """A workflow template is malformed or inconsistent."""


class PlanFileError(InputError):
    """A plan file (DESIGN.md §4) is malformed or names things that do not exist."""


class NotFound(PlanflowError):
    """A named object does not exist, or is outside the caller's scope (we do not say which)."""

    http_status = 404


class AlreadyExists(PlanflowError):
    """Creating something whose identity is already taken."""

    http_status = 409


class PermissionDenied(PlanflowError):
    """The actor holds no role that allows this action on this plan."""

    http_status = 403


class ActionRefused(PlanflowError):
    """The action is not possible now: wrong state, a guard said no, a comment is missing."""

    http_status = 422


class Conflict(PlanflowError):
    """Someone else changed the plan first; reload and decide again."""

    http_status = 409
    retryable = True


class PlanBusy(Conflict):
    """Another transaction held the plan's lock for longer than the lock timeout.

    Nothing was written; the same request may simply be sent again.
    """

    def __init__(self, plan_id: int) -> None:
        super().__init__(f"plan #{plan_id} is being changed by someone else; try again")
        self.plan_id = plan_id


class ConfigurationError(PlanflowError):
    """The deployment's settings are unusable (bad URL, unknown time zone, …)."""


class DeliveryError(PlanflowError):
    """A channel could not deliver a message.

    `retryable` tells the dispatcher whether trying again later can help: a timeout, a refused
    connection or a server error can; a refused recipient, a missing address or a request the
    receiver rejects as malformed cannot, and go straight to the dead-letter state.
    """

    http_status = 502

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def first_line(error: BaseException | None) -> str:
    """A driver's message without its indented hints: our errors are one line."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__
