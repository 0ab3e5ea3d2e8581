"""The JSON API's inbox routes (under /api)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
