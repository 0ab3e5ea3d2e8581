"""How fast the faces answer over HTTP with a large database, and what HTTP costs an action.

    python benchmarks/api.py [--plans 100000] [--audit-rows 1000000] [--act-plans N]
                             [--requests R] [--clients 8] [--postgres-url URL]

Everything runs on PostgreSQL, in a fresh database created with `--postgres-url` (an admin URL)
and dropped at the end, served by a real uvicorn server in a subprocess of its own (the app of
`planflow serve`, `create_app`, without the scheduler: its sweeps would only add noise),
reached over a keep-alive HTTP/1.1 connection per client (`http.client`).

1. The world: the bundled templates, the demo world, and 2 × (N + 8) draft plans of the demo's
   plan files made with `create_plan` (as `actions.py` makes them, for part 3), then
   `loaded_world.py` writes P plans (default 100,000) of ten counties with their tasks, signers,
   item reminders and about A audit rows (default 1,000,000), with COPY.
2. Latency: R requests each (default 300, after 20 untimed), one after another on one
   connection: `GET /api/inbox` (its first page of 50) as a township reviewer and as a county
   approver of the loaded counties, and the approver's every entry at once (`?limit=500`),
   `GET /api/plans/{id}` and the plan page `GET /plans/{id}` over plans of a loaded county in
   every state, the inbox page `GET /` as both; and as floors, a static file (the HTTP stack
   alone) and `/healthz`. Beside each, the same reads through the service in this process.
   p50 and p99 of each; goal: p99 under 50 ms for the inbox and the plan page. API callers carry
   bearer tokens (`create_token`); page callers a session cookie (`log_in`, the cookie signed as
   the app's session middleware signs it).
3. Actions: the two sets of N plans go draft → executing as in `actions.py` (submit, approve,
   approve, approve: the countersign's two signatures), each action with an idempotency key. The
   first set through `engine.service.actions.act` in this process, one caller: the service-level
   rate of `actions.py`, measured here in the same run and the same database; the second over HTTP,
   `POST /api/plans/{id}/actions/{trigger}` from C concurrent clients (default 8), or while the
   app has no such route the plan page's form, `POST /plans/{id}/actions/{trigger}` as a browser
   posts it (session cookie, CSRF token, the plan's version, a fresh key; answered 303). Steps
   alternate, service then HTTP. HTTP act/s ÷ service act/s is what the HTTP edge costs (goal
   ≥ 0.5). Both sets must end with the same rows (`floor.differing_rows`), or the run stops.

A GET route the app does not have yet is measured as `/healthz` in its place and said so in the
output. Exit status 0, except 1 under CI=true when PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import itsdangerous
from actions import (  # benchmarks/actions.py
    POSTGRES_ADMIN_URL,
    STEPS,
    WARMUP,
    BenchPlan,
    build_plans,
    postgres_database,
    postgres_unreachable,
)
from fastapi import FastAPI
from floor import differing_rows  # benchmarks/floor.py
from loaded_world import LoadedWorld, load_world  # benchmarks/loaded_world.py
from starlette.routing import Match

from config.settings import Settings
from engine.demo.world import COUNTY_APPROVERS
from engine.http.app import create_app
from engine.http.auth import SESSION_KEY
from engine.http.security import COOKIE
from engine.service.actions import act
from engine.service.api_tokens import create_token
from engine.service.inbox import PAGE_SIZE as INBOX_PAGE  # what the API and pages show
from engine.service.inbox import inbox_page, returned_plans
from engine.service.inbox_choices import inbox_choices
from engine.service.instance import cookie_secret
from engine.service.passwords import set_password
from engine.service.plan_page import plan_page
from engine.service.plan_views import show_plan
from engine.service.runtime import Runtime, open_runtime
from engine.service.templates import load_bundled_templates
from engine.service.web_sessions import log_in
from engine.store.migrate import upgrade

BENCHMARKS = Path(__file__).resolve().parent
LATENCY_GOAL_MS = 50.0  # p99 of the inbox and the plan page
RATE_GOAL = 0.5  # HTTP act/s at least half of the service's
WARMUP_REQUESTS = 20
PASSWORD = "bench-password-1"
START_TIMEOUT_SECONDS = 60.0


# --- the server ---------------------------------------------------------------------------------


def server_app() -> FastAPI:
    """The app the server subprocess runs (`uvicorn api:server_app --factory`): the database of
    PLANFLOW_DATABASE_URL, logging as `planflow serve` logs (to the run's log file)."""
    from engine.cli.processes import configure_logging

    configure_logging("INFO")
    return create_app(open_runtime(Settings()))


class Server:
    """uvicorn serving `server_app` in a process of its own on a free port."""

    def __init__(self, database_url: str, log: IO[str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api:server_app", "--factory",
             "--app-dir", str(BENCHMARKS), "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "info",
             # The clients wait while the service's half of each step runs (seconds): keep
             # their connections open meanwhile (uvicorn closes idle ones after 5 s).
             "--timeout-keep-alive", "3600"],
            env={**os.environ, "PLANFLOW_DATABASE_URL": database_url},
            stdout=log,
            stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                sys.exit(
                    f"the server stopped at start (exit {self._process.returncode}); see {log.name}"
                )
            try:
                if Client(self.port, {}).get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the server did not answer /healthz in {START_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class Client:
    """One keep-alive HTTP/1.1 connection with the caller's headers."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self._headers = headers

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        self._connection.request(
            method, path, body=body, headers={**self._headers, **(headers or {})}
        )
        response = self._connection.getresponse()
        return response.status, response.read()

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def close(self) -> None:
        self._connection.close()


def has_route(app: FastAPI, method: str, path: str) -> bool:
    """Whether the app has a route for `method` on this concrete `path` (as Starlette matches a
    request: included routers are matched through, not listed)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


# --- callers ------------------------------------------------------------------------------------


def bearer(rt: Runtime, username: str) -> dict[str, str]:
    token = create_token(rt, username=username, name="benchmark").token
    return {"Authorization": f"Bearer {token}"}


def session_cookie(rt: Runtime, username: str) -> dict[str, str]:
    """A logged-in browser's cookie: a session started with `log_in`, its key signed as
    Starlette's session middleware signs the session (itsdangerous, over base64 JSON)."""
    return browser(rt, username)[0]


def browser(rt: Runtime, username: str) -> tuple[dict[str, str], str]:
    """A logged-in browser's cookie header and its session's CSRF token (for page forms)."""
    set_password(rt, username=username, password=PASSWORD)
    started = log_in(rt, username=username, password=PASSWORD, address="127.0.0.1")
    signer = itsdangerous.TimestampSigner(cookie_secret(rt))
    value = signer.sign(b64encode(json.dumps({SESSION_KEY: started.key}).encode("utf-8")))
    return {"Cookie": f"{COOKIE}={value.decode('ascii')}"}, started.csrf_token


# --- 2: latency ---------------------------------------------------------------------------------


def percentile(seconds: Sequence[float], p: float) -> float:
    """The p-th percentile of `seconds`, in milliseconds (nearest rank)."""
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


@dataclasses.dataclass(frozen=True)
class Latency:
    what: str
    measured: str  # the route measured; /healthz when the route is missing
    seconds: list[float]
    goal: bool  # whether the p99 goal applies
    service_seconds: list[float]  # the same reads through the service in this process, if any

    @property
    def missing(self) -> bool:
        return self.measured == "/healthz" and not self.what.startswith("GET /healthz")


def measure(client: Client, paths: Sequence[str], count: int) -> list[float]:
    """Seconds per request for `count` GETs cycling over `paths`, after a few untimed."""
    seconds = []
    for n in range(WARMUP_REQUESTS + count):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        status, body = client.get(path)
        elapsed = time.perf_counter() - started
        if status != 200:
            sys.exit(f"GET {path} answered {status}: {body[:300]!r}")
        if n >= WARMUP_REQUESTS:
            seconds.append(elapsed)
    return seconds


def measure_service(read: Callable[[int], object], count: int) -> list[float]:
    """Seconds per call of `read(n)` for `count` calls, after a few untimed: what the service
    alone takes for what a route answers, to tell the edge's share from the service's."""
    seconds = []
    for n in range(WARMUP_REQUESTS + count):
        started = time.perf_counter()
        read(n)
        if n >= WARMUP_REQUESTS:
            seconds.append(time.perf_counter() - started)
    return seconds


@dataclasses.dataclass(frozen=True)
class Target:
    what: str
    headers: dict[str, str]
    paths: list[str]  # cycled over
    goal: bool
    service: Callable[[int], object] | None = None  # the service read behind the n-th request


def bench_latency(
    rt: Runtime, app: FastAPI, port: int, world: LoadedWorld, count: int
) -> list[Latency]:
    reviewer, approver, plans = world.reviewer, world.approver, world.sample_plans
    reviewer_api, approver_api = bearer(rt, reviewer), bearer(rt, approver)
    reviewer_page, approver_page = session_cookie(rt, reviewer), session_cookie(rt, approver)
    reviewer_tasks = inbox_page(rt, actor=reviewer, limit=1).total
    approver_tasks = inbox_page(rt, actor=approver, limit=1).total

    def inbox_of(username: str, limit: int = INBOX_PAGE) -> Callable[[int], object]:
        return lambda _: inbox_page(rt, actor=username, limit=limit)

    def plan_page_of(n: int) -> object:
        return plan_page(rt, plan_id=plans[n % len(plans)], actor=approver)

    def inbox_page_of(username: str) -> Callable[[int], object]:
        return lambda _: (
            inbox_page(rt, actor=username, limit=INBOX_PAGE),
            returned_plans(rt, actor=username),
            inbox_choices(rt, actor=username),
        )

    targets = [
        Target("GET /static/planflow.css (the HTTP stack alone)", {}, ["/static/planflow.css"],
               False),
        Target("GET /healthz (three small queries)", {}, ["/healthz"], False),
        Target(f"GET /api/inbox, township reviewer ({reviewer_tasks} tasks)", reviewer_api,
               ["/api/inbox"], True, inbox_of(reviewer)),
        Target(f"GET /api/inbox, county approver ({approver_tasks} tasks)", approver_api,
               ["/api/inbox"], True, inbox_of(approver)),
        # Every entry in one answer, as before the inbox was paged: the edge's cost per entry.
        Target(f"GET /api/inbox?limit=500, county approver (all {approver_tasks})", approver_api,
               ["/api/inbox?limit=500"], True, inbox_of(approver, 500)),
        Target(f"GET /api/plans/{{id}} ({len(plans)} plans)", approver_api,
               [f"/api/plans/{p}" for p in plans], True,
               lambda n: show_plan(rt, plan_id=plans[n % len(plans)], actor=approver)),
        Target(f"GET /plans/{{id}} page ({len(plans)} plans)", approver_page,
               [f"/plans/{p}" for p in plans], True, plan_page_of),
        Target(f"GET / inbox page, township reviewer ({reviewer_tasks} tasks)", reviewer_page,
               ["/"], True, inbox_page_of(reviewer)),
        Target(f"GET / inbox page, county approver ({approver_tasks} tasks)", approver_page,
               ["/"], True, inbox_page_of(approver)),
    ]  # fmt: skip
    figures = []
    for target in targets:
        first = target.paths[0]
        there = first.startswith("/static/") or has_route(app, "GET", first.partition("?")[0])
        client = Client(port, target.headers)
        try:
            seconds = measure(client, target.paths if there else ["/healthz"], count)
        finally:
            client.close()
        service = measure_service(target.service, count) if target.service else []
        figures.append(
            Latency(target.what, first if there else "/healthz", seconds, target.goal, service)
        )
    return figures


# --- 3: actions ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActionRates:
    service_steps: list[float]  # seconds per step
    http_steps: list[float]
    per_step: int  # plans per step
    clients: int
    api: bool  # over the JSON API; else through the plan page's form

    def rate(self, seconds: list[float]) -> float:
        return self.per_step * len(seconds) / sum(seconds)

    @property
    def ratio(self) -> float:
        return self.rate(self.http_steps) / self.rate(self.service_steps)


def run_concurrently(jobs: list[Callable[[Client], None]], clients: list[Client]) -> None:
    """Every job run once, by whichever client is free; the first failure stops the run."""
    todo: queue.SimpleQueue[Callable[[Client], None]] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    failures: list[BaseException] = []

    def work(client: Client) -> None:
        while not failures:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                job(client)
            except BaseException as error:  # carried to the main thread
                failures.append(error)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def bench_actions(
    rt: Runtime,
    app: FastAPI,
    port: int,
    service_plans: list[BenchPlan],
    http_plans: list[BenchPlan],
    clients: int,
) -> ActionRates:
    api = has_route(app, "POST", f"/api/plans/{http_plans[0].plan_id}/actions/submit")
    actors = {p.drafter for p in http_plans} | {p.reviewer for p in http_plans}
    actors |= set(COUNTY_APPROVERS)
    tokens = {username: bearer(rt, username) for username in actors} if api else {}
    browsers = {} if api else {username: browser(rt, username) for username in actors}
    # The page form carries the plan's version: read once, then one more per action.
    versions = {p.plan_id: show_plan(rt, plan_id=p.plan_id, actor=COUNTY_APPROVERS[0]).plan.version
                for p in http_plans}  # fmt: skip
    pool = [Client(port, {}) for _ in range(clients)]

    def over_http(
        plan: BenchPlan, step: int, trigger: str, actor: str, key: str
    ) -> Callable[[Client], None]:
        def job(client: Client) -> None:
            path = f"/plans/{plan.plan_id}/actions/{trigger}"
            if api:
                status, body = client.request(
                    "POST",
                    "/api" + path,
                    body=b"{}",
                    headers={**tokens[actor], "Idempotency-Key": key,
                             "Content-Type": "application/json"},
                )  # fmt: skip
                done = status == 200
            else:  # the plan page's form, as a browser posts it; 303 back to the page
                cookie, csrf = browsers[actor]
                form = urlencode({
                    "csrf_token": csrf,
                    "version": versions[plan.plan_id] + step,
                    "idempotency_key": uuid.uuid5(uuid.NAMESPACE_URL, key).hex,
                })  # fmt: skip
                status, body = client.request(
                    "POST", path, body=form.encode("ascii"),
                    headers={**cookie, "Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
                done = status == 303
            if not done:
                raise RuntimeError(
                    f"{trigger} on plan #{plan.plan_id} answered {status}: {body[:300]!r}"
                )

        return job

    service_times: list[float] = []
    http_times: list[float] = []
    try:
        for step, (trigger, actor) in enumerate(STEPS):
            for part in (slice(0, WARMUP), slice(WARMUP, None)):  # untimed, then timed
                started = time.perf_counter()
                for plan in service_plans[part]:
                    act(
                        rt,
                        plan_id=plan.plan_id,
                        trigger=trigger,
                        actor=actor(plan),
                        idempotency_key=f"service-{plan.plan_id}-{step}",
                    )
                service_took = time.perf_counter() - started
                jobs = [
                    over_http(plan, step, trigger, actor(plan), f"http-{plan.plan_id}-{step}")
                    for plan in http_plans[part]
                ]
                started = time.perf_counter()
                run_concurrently(jobs, pool)
                http_took = time.perf_counter() - started
            service_times.append(service_took)  # the timed part's
            http_times.append(http_took)
    finally:
        for client in pool:
            client.close()
    different = differing_rows(
        rt.settings.database_url,
        [p.plan_id for p in service_plans],
        [p.plan_id for p in http_plans],
    )
    if different is not None:
        sys.exit(different)
    return ActionRates(service_times, http_times, len(service_plans) - WARMUP, clients, api)


# --- the command --------------------------------------------------------------------------------


def run(args: argparse.Namespace, url: str, log: IO[str]) -> tuple[list[Latency], ActionRates]:
    rt = open_runtime(Settings(database_url=url))
    upgrade(rt.database)
    load_bundled_templates(rt)
    started = time.perf_counter()
    service_plans, http_plans = build_plans(rt, args.act_plans + WARMUP, sets=2)
    print(f"  the demo world and {2 * (args.act_plans + WARMUP)} draft plans made with create_plan"
          f" in {time.perf_counter() - started:.0f}s")  # fmt: skip
    started = time.perf_counter()
    world = load_world(rt, plans=args.plans, audit_rows=args.audit_rows)
    rows = ", ".join(f"{table} {count}" for table, count in world.rows.items())
    print(f"  loaded with COPY in {time.perf_counter() - started:.0f}s: {rows}")
    app = create_app(rt)  # only to see which routes exist
    server = Server(url, log)
    try:
        print(f"Latency: {args.requests} requests each, one after another on one connection")
        latencies = bench_latency(rt, app, server.port, world, args.requests)
        print(f"Actions: 2 × {args.act_plans} plans, draft → executing (4 actions each)")
        rates = bench_actions(rt, app, server.port, service_plans, http_plans, args.clients)
    finally:
        server.stop()
        rt.database.dispose()
    return latencies, rates


def report(latencies: list[Latency], rates: ActionRates) -> None:
    print()
    print(f"{'over HTTP':<58} {'p50 ms':>7} {'p99 ms':>7}  goal p99 < {LATENCY_GOAL_MS:.0f} ms"
          f"   (service alone: p50, p99 ms)")  # fmt: skip
    for f in latencies:
        p50, p99 = percentile(f.seconds, 50), percentile(f.seconds, 99)
        met = ("yes" if p99 < LATENCY_GOAL_MS else "no") if f.goal else ""
        if f.missing:
            met = "(route missing: /healthz measured)"
        alone = ""
        if f.service_seconds:
            alone = f"   ({percentile(f.service_seconds, 50):.1f}, "
            alone += f"{percentile(f.service_seconds, 99):.1f})"
        print(f"{f.what:<58} {p50:>7.1f} {p99:>7.1f}  {met:<4}{alone}")
    service, over_http = rates.rate(rates.service_steps), rates.rate(rates.http_steps)
    met = "yes" if rates.ratio >= RATE_GOAL else "no"
    route = (
        "POST /api/plans/{id}/actions/{trigger}"
        if rates.api
        else ("POST /plans/{id}/actions/{trigger}, the plan page's form (no API route yet)")
    )
    print()
    print(f"{'actions':<11} {'service act/s':>13} {f'HTTP act/s ({rates.clients} clients)':>23}"
          f" {'ratio':>6}  goal ≥ {RATE_GOAL}")  # fmt: skip
    print(f"{'PostgreSQL':<11} {service:>13.0f} {over_http:>23.0f} {rates.ratio:>6.2f}  {met}")
    print(f"over HTTP: {route}")
    steps = zip(rates.service_steps, rates.http_steps, strict=True)
    print(
        "per step (submit, approve, approve, approve), service/HTTP act/s: "
        + "  ".join(f"{rates.per_step / s:.0f}/{rates.per_step / h:.0f}" for s, h in steps)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Inbox and plan page latency over HTTP on a large database, and actions/s "
        "over HTTP against the service's."
    )
    parser.add_argument("--plans", type=int, default=100_000, help="plans loaded (100000)")
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="audit rows (1000000)")
    parser.add_argument("--act-plans", type=int, default=500, help="plans per action set (500)")
    parser.add_argument("--requests", type=int, default=300, help="requests per route (300)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (8)")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="an admin URL")
    args = parser.parse_args(argv)
    why = postgres_unreachable(args.postgres_url)
    if why is not None:
        print(f"PostgreSQL is not reachable at {args.postgres_url}: {why}; nothing measured")
        return 1 if os.environ.get("CI") == "true" else 0
    started = time.perf_counter()
    print(f"World: {args.plans} plans, about {args.audit_rows} audit rows, on PostgreSQL")
    log_path = Path(tempfile.gettempdir()) / f"planflow-api-bench-{os.getpid()}.log"
    with log_path.open("w") as log, postgres_database(args.postgres_url) as url:
        latencies, rates = run(args, url, log)
    report(latencies, rates)
    print(f"the server's log: {log_path}")
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
