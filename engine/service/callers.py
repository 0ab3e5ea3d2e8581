"""Who is asking: the user an HTTP request was authenticated as, never a name the client sent.

A `Caller` is made only by `web_sessions.session_caller` (a page's cookie) or
`api_tokens.token_caller` (an API bearer token); the edge passes its `username` to the service's
use cases as their `actor`, and those filter every read and write by that user's roles and scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.service.directory import ADMIN_ROLE
from engine.store.people import Person


@dataclass(frozen=True)
class Caller:
    person: Person
    roles: tuple[str, ...]
    # A page's session (its id and its forms' CSRF token); None for an API token.
    session_id: int | None = None
    csrf_token: str | None = None
    token_id: int | None = None  # the API token the request carried

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles
