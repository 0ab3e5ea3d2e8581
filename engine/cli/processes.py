"""The long-running commands: `planflow worker`, `planflow scheduler` and `planflow serve`
(and `planflow cycle run`, one run of the scheduler's cycle).

Each one runs until stopped (SIGTERM or Ctrl-C) and logs to stderr. They start even when the
database or Redis cannot be reached yet, saying so in the log, because they are meant to outlive
such outages (the scheduler's cycles and the worker's tasks retry); what they refuse, with exit
code 1, is a deployment that cannot work: a database that answers but was never initialised, a
worker without a broker.
"""

from __future__ import annotations

import logging
import signal
from signal import SIGINT, SIGTERM
from types import FrameType
from typing import Annotated

import typer

from engine.cli.context import runtime, settings
from engine.core.errors import ConfigurationError, PlanflowError
from engine.core.i18n import N_
from engine.http.health import check_database
from engine.service.runtime import Runtime

log = logging.getLogger("planflow")

LogLevel = Annotated[str, typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR.")]
WORKER_NEEDS_BROKER = N_(
    "the worker needs PLANFLOW_BROKER_URL; without it reminders are delivered in-process by "
    "`planflow scheduler`/`planflow serve`"
)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Worker processes (default: one per CPU)."),
    ] = None,
    loglevel: LogLevel = "INFO",
) -> None:
    """Deliver reminders: a Celery worker for the queue the scheduler publishes to."""
    configured = settings()
    if configured.broker_url is None:
        raise ConfigurationError(WORKER_NEEDS_BROKER, code="configuration.no_broker")
    from workers.celery_app import app  # reads the settings; only this command needs it

    argv = ["worker", f"--loglevel={loglevel.upper()}", "--queues", configured.celery_queue]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main(argv)


def scheduler(loglevel: LogLevel = "INFO") -> None:
    """Run the dispatch cycle (timers, escalations, reminders) every few seconds until stopped."""
    settings()  # checked first: importing the Celery app reads them, with no one-line error
    # Imported here, as in the other commands: Celery, APScheduler and uvicorn take a while to
    # import, and the short commands should not wait for them.
    from workers.scheduler import build_scheduler, run_until_stopped

    configure_logging(loglevel)
    run_until_stopped(build_scheduler(service_runtime()))


def run_once(loglevel: LogLevel = "INFO") -> None:
    """Run the scheduler's cycle once, now (timers, escalations, reminders), and say what it did.

    For cron-like use and rehearsals; a running `planflow scheduler` does the same every few
    seconds, and running both at once is safe (the database's row locks keep every step once).
    Exits 1 when a step, or a plan's timer, escalation or hand-over, failed, so that cron says so.
    """
    from engine.service.cycle import run_cycle
    from workers.scheduler import build_scheduler

    configure_logging(loglevel)
    scheduler = build_scheduler(runtime())
    try:
        report = run_cycle(scheduler.rt, scheduler.publish)
    finally:
        for close in scheduler.closers:  # never started: nothing else to stop
            close()
    typer.echo(f"cycle: {report.summary()}")
    if report.failed:
        raise PlanflowError(
            "{failed} of this cycle's steps or plans failed; "
            "`planflow cycle failures` says which and why",
            code="cycle.failed",
            failed=report.failed,
        )


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default PLANFLOW_SERVE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default PLANFLOW_SERVE_PORT).", min=1, max=65535)
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler",
            help="Run no scheduler in this process (Celery mode, when `planflow scheduler` "
            "runs elsewhere).",
        ),
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Serve the demo: planflow-demo.db (unless PLANFLOW_DATABASE_URL says otherwise), "
            "created and seeded with the demo world and its logins when empty.",
        ),
    ] = False,
    loglevel: LogLevel = "INFO",
) -> None:
    """Serve the web pages and the API, with the scheduler in a background thread."""
    configured = settings()  # checked first: importing the Celery app reads them
    import uvicorn

    from engine.cli.serve_demo import demo_runtime
    from engine.http.app import create_app
    from workers.scheduler import build_scheduler

    if no_scheduler and configured.broker_url is None:
        raise ConfigurationError(
            "--no-scheduler needs PLANFLOW_BROKER_URL: in embedded mode this process is the one "
            "that sends the reminders",
            code="configuration.no_broker",
        )
    configure_logging(loglevel)
    host = host or configured.serve_host
    port = port or configured.serve_port
    if demo:
        rt = demo_runtime(configured, echo=typer.echo, address=f"http://{host}:{port}")
    else:
        rt = service_runtime()
    app = create_app(rt, scheduler=None if no_scheduler else build_scheduler(rt))
    # Uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the same signal again for the
    # handler it found, so that a default one ends the process "killed by SIGTERM" (or raises
    # KeyboardInterrupt). By then everything is stopped: these handlers make it a plain exit 0,
    # as `planflow scheduler` does.
    previous = {sig: signal.signal(sig, _after_shutdown) for sig in (SIGTERM, SIGINT)}
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=loglevel.lower(),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _after_shutdown(_signum: int, _frame: FrameType | None) -> None:
    """Nothing left to do: the server has already shut down."""


def service_runtime() -> Runtime:
    """The runtime for a long-running process.

    Refuses a database that answers without this Planflow's schema (`runtime()`'s message), but
    only warns about one it cannot reach: the process keeps running and retries every cycle.
    """
    rt = runtime(require_schema=False)
    health = check_database(rt.database)
    if health.reachable:
        rt.database.dispose()
        return runtime()
    log.warning(
        "cannot reach the database %s (%s); running anyway, every cycle tries again",
        rt.database.engine.url.render_as_string(hide_password=True),
        health.error,
    )
    return rt


def configure_logging(level: str) -> None:
    """One line per record on stderr, with time, level and logger."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigurationError(
            "unknown log level {value}; use DEBUG, INFO, WARNING or ERROR",
            code="configuration.log_level",
            field="loglevel",
            value=repr(level),
        )
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job run at INFO, Alembic every revision check (each /healthz),
    # transitions every state callback of a timer; the cycle logs what mattered.
    for chatty in ("apscheduler", "alembic", "transitions"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
