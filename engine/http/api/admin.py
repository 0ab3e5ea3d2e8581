"""The dependency of every administrator's route of the API: anyone else gets 404 before the
route reads its input (the service checks the realm again for each object it is given)."""

from __future__ import annotations

from fastapi import Depends, Request

from engine.http.auth import ApiCaller, runtime_of
from engine.service import admin_realm


def admin_only(request: Request, caller: ApiCaller) -> None:
    admin_realm.require_admin(runtime_of(request), actor=caller.username)


ADMIN = Depends(admin_only)
