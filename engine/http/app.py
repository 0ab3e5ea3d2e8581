"""The FastAPI application that `planflow serve` runs.

It serves the JSON API (`engine.http.api`, under /api), the pages (`engine.http.pages`), their
static files and the health checks, and in its lifespan runs the scheduler in a background
thread (always in embedded mode, where that thread also delivers the reminders; in Celery mode
unless `planflow serve --no-scheduler`). Routes call `engine.service` with the `Runtime` kept
on `app.state`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from engine.core.i18n import set_language
from engine.http import api, docs, errors, pages, security
from engine.http.health import Health, SchedulerHealth, check_database, check_publishing
from engine.http.readiness import Readiness, readiness
from engine.service.cycle_failures import list_failures
from engine.service.runtime import Runtime

if TYPE_CHECKING:  # the app runs whatever scheduler it is given; it needs no Celery itself
    from workers.scheduler import Scheduler


def create_app(rt: Runtime, *, scheduler: Scheduler | None = None) -> FastAPI:
    """The app over `rt`; `scheduler`, if given, runs for as long as the app does."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Starting takes a Redis round trip and stopping waits for a running cycle: both block.
        if scheduler is not None:
            await run_in_threadpool(scheduler.start)
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)

    set_language(rt.settings.lang)  # the HTTP edge's language, for every request for now
    # /docs is ours (engine.http.docs: Swagger UI from /static); FastAPI's would load a CDN.
    app = FastAPI(title="Planflow", lifespan=lifespan, docs_url=None, redoc_url=None)
    errors.install(app)
    security.install(app, rt)
    app.state.runtime = rt
    app.state.scheduler = scheduler
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(docs.router)

    @app.get("/healthz", response_model=Health)
    def healthz(response: Response) -> Health:
        """Database schema, dispatch mode, publishing and this process's scheduler; 503 when
        degraded (the database unusable, or reminder batches that could not be published for a
        few cycles)."""
        database = check_database(rt.database)
        publishing = check_publishing(rt) if database.ok else None
        ok = database.ok and publishing is not None and not publishing.stalled
        health = Health(
            status="ok" if ok else "degraded",
            mode="embedded" if rt.settings.broker_url is None else "celery",
            database=database,
            publishing=publishing,
            scheduler=_scheduler_health(scheduler),
            stuck=len(list_failures(rt)) if database.ok else None,
        )
        if not ok:
            response.status_code = 503
        return health

    @app.get("/readyz", response_model=Readiness)
    def readyz(response: Response) -> Readiness:
        """Whether this process can serve now: the database answers with this schema and, in
        Celery mode, Redis answers; 503 when not."""
        ready = readiness(rt)
        if not ready.ready:
            response.status_code = 503
        return ready

    return app


def _scheduler_health(scheduler: Scheduler | None) -> SchedulerHealth | None:
    if scheduler is None:
        return None
    status = scheduler.status()
    last = status.last_cycle
    return SchedulerHealth(
        running=status.running,
        leader=status.active,
        lock=status.leadership.value,
        cycles=status.cycles,
        last_cycle_at=last.at if last else None,
        last_cycle=last.summary if last else None,
    )
