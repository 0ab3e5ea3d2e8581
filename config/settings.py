"""Settings, read from `PLANFLOW_*` environment variables (and a `.env` file if present).

One typed object for the whole deployment; tests build their own with `Settings(...)` instead of
touching the environment. Leaving `broker_url` unset selects the embedded mode: SQLite,
scheduler and reminder dispatch in-process, no Redis.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    extra_holidays: list[dt.date] = Field(
        default_factory=list,
        description="Local days off added to the statutory holidays (ISO dates).",
    )
    extra_workdays: list[dt.date] = Field(
        default_factory=list,
        description="Local make-up workdays (调休) not yet in the holiday library (ISO dates).",
    )
    catchup_window_days: int = Field(
        default=3, ge=0, description="Due reminders older than this are marked missed, not sent."
    )
    default_channels: list[str] = Field(
        default_factory=lambda: ["log"],
        description="Channels reminders go out on (log, email, webhook), as a JSON list.",
    )
    role_channels: dict[str, list[str]] = Field(
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
        "publishes it again (a lost message, a killed worker).",
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
        default=30, gt=0, description="How often the scheduler sweeps due reminders and timers."
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
                f"unknown time zone {value!r}; use an IANA name like Asia/Shanghai"
            ) from None
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
