"""The JSON API's actions routes (under /api)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
