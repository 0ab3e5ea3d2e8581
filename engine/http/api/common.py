"""What every route of the JSON API shares: strict input models, and the answer to a list.

Input models are strict (`false` is not the integer 0, `"3"` is not 3) and forbid unknown fields:
a field the API cannot honour is refused (`request.invalid`, naming it), never ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """The base of every request body of the API."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Answer(BaseModel):
    """The base of every response body of the API (read-only, so extra fields never occur)."""

    model_config = ConfigDict(from_attributes=True)
