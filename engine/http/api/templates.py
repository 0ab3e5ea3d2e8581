"""The JSON API's templates routes (under /api)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
