"""Settings, read from `PLANFLOW_*` environment variables (and a `.env` file if present).

One typed object for the whole deployment; tests build their own with `Settings(...)` instead of
touching the environment. Leaving `broker_url` unset selects the embedded mode: SQLite,
scheduler and reminder dispatch in-process, no Redis.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DATES_FORM = 'a JSON list of ISO dates, such as ["2027-02-20"]'
CHANNELS_FORM = 'a JSON list of channels, such as ["log", "email"]'
PROXIES_FORM = 'a JSON list of addresses, such as ["127.0.0.1"]'
ROLE_CHANNELS_FORM = (
    'a JSON mapping of role to channels, such as {"township_reviewer": ["email", "webhook"]}'
)


def _json(shape: Any, form: str) -> Callable[[Any], Any]:
    """Parse a JSON setting and check its shape, failing with one sentence that shows `form`.

    Pydantic-settings would decode the JSON itself, but its failure names neither the value nor
    the form expected, and an item's error would point at the item alone: here every problem is
    one message about the whole variable.
    """
    adapter = TypeAdapter(shape)

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(f"not JSON (expected {form})") from None
        try:
            return adapter.validate_python(value)
        except ValidationError as error:
            problem = error.errors()[0]
            where = "".join(
                f"item {part + 1}: " if isinstance(part, int) else f"{part}: "
                for part in problem["loc"]
            )
            kind = problem["type"]
            what = next((w for k, w in _NOT_A.items() if kind.startswith(k)), problem["msg"])
            raise ValueError(f"{where}{what} (expected {form})") from None

    return parse


_NOT_A = {"date": "not a date", "list": "not a list", "dict": "not a mapping", "string": "not text"}

# The most network waits one send of a channel can make, each bounded by send_timeout_seconds,
# counted generously: webhook = connect (each resolved address), TLS handshake, request, answer;
# email = connect, greeting, EHLO, STARTTLS and its handshake, EHLO again, login, MAIL, RCPT,
# DATA, the message, QUIT. The log channel waits on nothing.
NETWORK_WAITS_PER_SEND = {"log": 0, "webhook": 5, "email": 12}
# Room in a send's lease beyond its network waits: claiming, building the message, recording.
LEASE_MARGIN_SECONDS = 2.0
# A Celery message whose worker has not acknowledged it after this long is handed out again by
# Redis (workers/celery_app.py): in effect the lease of a whole batch.
BROKER_VISIBILITY_TIMEOUT_SECONDS = 3600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'planflow.db'}",
        description="SQLAlchemy URL; a SQLite file in the working directory by default. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    broker_url: str | None = Field(
        default=None,
        description="Redis URL for Celery and the scheduler lock; unset = embedded, in-process.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Time zone used where a template names none; times are stored in UTC.",
    )
    lang: Literal["zh_CN", "en"] = Field(
        default="zh_CN",
        description="Language of messages and the CLI's tables: zh_CN (Chinese, for people) or "
        "en (English, for operators' logs and scripts).",
    )
    extra_holidays: Annotated[
        list[dt.date], NoDecode, BeforeValidator(_json(list[dt.date], DATES_FORM))
    ] = Field(
        default_factory=list,
        description="Local days off added to the statutory holidays, as a JSON list of ISO "
        'dates: ["2027-02-20"].',
    )
    extra_workdays: Annotated[
        list[dt.date], NoDecode, BeforeValidator(_json(list[dt.date], DATES_FORM))
    ] = Field(
        default_factory=list,
        description="Local make-up workdays (调休) not yet in the holiday library, as a JSON list "
        'of ISO dates: ["2027-02-20"].',
    )
    catchup_window_days: int = Field(
        default=3, ge=0, description="Due reminders older than this are marked missed, not sent."
    )
    default_channels: Annotated[
        list[str], NoDecode, BeforeValidator(_json(list[str], CHANNELS_FORM))
    ] = Field(
        default_factory=lambda: ["log"],
        description="Channels reminders go out on (log, email, webhook), as a JSON list.",
    )
    role_channels: Annotated[
        dict[str, list[str]],
        NoDecode,
        BeforeValidator(_json(dict[str, list[str]], ROLE_CHANNELS_FORM)),
    ] = Field(
        default_factory=dict,
        description="Channels per recipient role, overriding default_channels, as JSON: "
        '{"township_reviewer": ["email", "webhook"]}.',
    )
    delivery_max_attempts: int = Field(
        default=5, ge=1, description="Tries per delivery before it is dead (operator retry)."
    )
    retry_backoff_seconds: int = Field(
        default=60,
        ge=1,
        description="Wait before the first retry of a failed delivery; doubles with each try, "
        "up to 6 hours.",
    )
    delivery_lease_seconds: int = Field(
        default=300,
        ge=5,
        description="How long a published or claimed delivery may stay unsent before the sweep "
        "publishes it again (a lost message, a killed worker). Each send is claimed for this "
        "long right before it goes out, so it must cover one send's worst case "
        "(send_timeout_seconds × the channel's network waits, plus a margin).",
    )
    send_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="How long the email and webhook channels wait on the server at each network "
        "step (connecting, each reply) before the try fails and is retried.",
    )
    lock_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=600,
        description="How long a write waits for a plan another write is changing (PostgreSQL "
        "lock_timeout, SQLite busy_timeout) before it is answered 'plan #N is being changed by "
        "someone else; try again'.",
    )
    sweep_interval_seconds: float = Field(
        default=30,
        gt=0,
        allow_inf_nan=False,
        description="How often the scheduler sweeps due reminders and timers.",
    )
    sweep_batch_size: int = Field(
        default=1000, ge=1, description="Reminders claimed per sweep transaction."
    )
    delivery_batch_size: int = Field(
        default=100, ge=1, description="Deliveries per Celery message."
    )
    delivery_concurrency: int = Field(
        default=4,
        ge=1,
        description="Sends a worker runs side by side within a batch (they wait on the network). "
        "A worker killed mid-batch may repeat at most this many posts, with their keys.",
    )
    scheduler_lock_seconds: int = Field(
        default=30,
        ge=3,
        description="Lifetime of the scheduler's Redis leader lock; renewed every third of it.",
    )
    scheduler_misfire_grace_hours: float = Field(
        default=1,
        gt=0,
        allow_inf_nan=False,
        description="How late a scheduler job may start and still run (a suspended or overloaded "
        "process); a later run is skipped, and the next sweep catches up what it would have done.",
    )
    celery_queue: str = Field(
        default="planflow",
        min_length=1,
        description="Celery queue the scheduler publishes deliveries to and `planflow worker` "
        "consumes.",
    )
    serve_host: str = Field(default="127.0.0.1", description="Address `planflow serve` binds.")
    serve_port: int = Field(
        default=8000, ge=1, le=65535, description="Port `planflow serve` listens on."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key that signs the session cookie (at least 32 characters). Unset: a random "
        "key made on first start and kept in the database, shared by every process on it.",
    )
    session_hours: float = Field(
        default=12,
        gt=0,
        le=24 * 30,
        allow_inf_nan=False,
        description="How long a login lasts at most, however busy; then the user logs in again.",
    )
    session_idle_minutes: float = Field(
        default=120,
        gt=0,
        allow_inf_nan=False,
        description="A login unused for this long ends (a phone left on a desk).",
    )
    token_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Default lifetime of an API token (`planflow user token create --days`).",
    )
    login_window_minutes: float = Field(
        default=15,
        gt=0,
        allow_inf_nan=False,
        description="Window over which failed logins are counted for throttling.",
    )
    login_failures_per_user: int = Field(
        default=5,
        ge=1,
        description="Failed logins for one username within the window before it is refused "
        "until the window has passed.",
    )
    login_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one address within the window before it is refused.",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest request body the HTTP edge reads (templates, plan files, forms); "
        "a larger one is answered 413 before it is read.",
    )
    trusted_proxies: Annotated[
        list[str], NoDecode, BeforeValidator(_json(list[str], PROXIES_FORM))
    ] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies in front of `planflow serve`, as a JSON "
        'list ("*": any): only requests from them have X-Forwarded-Proto and X-Forwarded-For '
        "believed (HTTPS for the Secure cookie, the client's address for the login throttle). "
        "Empty: those headers are ignored.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for the email channel.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="planflow@localhost",
        description="Sender address of reminder emails; many servers require the login's own.",
    )
    webhook_url: str | None = Field(default=None, description="Webhook channel endpoint.")
    webhook_format: Literal["plain", "dingtalk", "wecom"] = Field(
        default="plain",
        description="Body of webhook posts: plain JSON {recipient, subject, text}, or the "
        "DingTalk or WeCom group-robot text message.",
    )

    webhook_secret: SecretStr | None = Field(
        default=None,
        description="DingTalk robot signing secret (加签, starts with SEC); adds timestamp and "
        "sign to each post.",
    )
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none",
        description="SMTP transport security: none (port 25 inside a trusted network), starttls "
        "(usually port 587) or ssl (implicit TLS, usually port 465).",
    )

    rehearsal_time: dt.datetime | None = Field(
        default=None,
        description="Rehearsals only: run every command as if it were this moment (ISO 8601, "
        "e.g. 2027-12-01T09:00; without an offset it is in PLANFLOW_TIMEZONE) instead of the "
        "system clock. Writes are recorded at this time, so never set it on a live database; a "
        "moment before the last recorded event is refused. Unset: the system clock.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a known time zone (expected an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @field_validator("lang", mode="before")
    @classmethod
    def _known_language(cls, value: Any) -> Any:
        # engine.core.i18n.LANGUAGES; the Literal checks again, this says it in one sentence.
        if value not in ("zh_CN", "en"):
            raise ValueError("not a language of Planflow (expected zh_CN for people or en)")
        return value

    @model_validator(mode="after")
    def _a_send_fits_its_lease(self) -> Settings:
        """Refuse a lease that one send can outlast: the sweep would hand the delivery to a
        second worker while the first is still sending it."""
        channels = {*self.default_channels, *(c for cs in self.role_channels.values() for c in cs)}
        waits = max((NETWORK_WAITS_PER_SEND.get(channel, 0) for channel in channels), default=0)
        worst = waits * self.send_timeout_seconds + LEASE_MARGIN_SECONDS
        if self.delivery_lease_seconds < worst:
            slowest = max(channels, key=lambda channel: NETWORK_WAITS_PER_SEND.get(channel, 0))
            raise ValueError(
                f"PLANFLOW_DELIVERY_LEASE_SECONDS ({self.delivery_lease_seconds}) is shorter than "
                f"one {slowest} send can take: {waits} network waits of "
                f"PLANFLOW_SEND_TIMEOUT_SECONDS ({self.send_timeout_seconds:g}) plus "
                f"{LEASE_MARGIN_SECONDS:g} s is {worst:g} s; raise the lease or lower the timeout"
            )
        rounds = -(-self.delivery_batch_size // self.delivery_concurrency)
        if self.broker_url and rounds * worst > BROKER_VISIBILITY_TIMEOUT_SECONDS:
            # A second worker would get the batch while the first still sends it: nothing would
            # go twice (each send is claimed), but every send after that would be fought over.
            raise ValueError(
                f"one batch of PLANFLOW_DELIVERY_BATCH_SIZE ({self.delivery_batch_size}) "
                f"deliveries, PLANFLOW_DELIVERY_CONCURRENCY ({self.delivery_concurrency}) at a "
                f"time, can take {rounds} × {worst:g} s = {rounds * worst:g} s, longer than the "
                f"broker's visibility timeout ({BROKER_VISIBILITY_TIMEOUT_SECONDS} s); lower the "
                "batch size or PLANFLOW_SEND_TIMEOUT_SECONDS, or raise the concurrency"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe_invalid(error: ValidationError) -> list[str]:
    """One line per bad setting: `PLANFLOW_X='value': what is wrong (expected form)`."""
    lines = []
    for problem in error.errors():
        ctx = problem.get("ctx") or {}
        if problem["type"] == "value_error" and "error" in ctx:
            message = str(ctx["error"])
        else:
            message = problem["msg"][:1].lower() + problem["msg"][1:]
        if not problem["loc"]:  # a rule across settings: its message names the variables
            lines.append(message)
            continue
        field, *inner = problem["loc"]
        where = "".join(f"{part}: " for part in inner)
        secret = Settings.model_fields.get(str(field))
        value = (
            "(hidden)"
            if secret is not None and secret.annotation == SecretStr | None
            else repr(problem["input"])
        )
        lines.append(f"PLANFLOW_{str(field).upper()}={value}: {where}{message}")
    return lines
