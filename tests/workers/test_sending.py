"""The deployment's `Send`: channels by name, built once, and a clear death for a bad channel."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.core.errors import DeliveryError
from engine.core.messages import Message, Recipient
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.runtime import open_runtime
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import Delivery, Reminder
from tests.world import world_with_live_plan
from workers.channels import EmailChannel, LogChannel, WebhookChannel
from workers.sending import ChannelSender

CHEN = Recipient(username="chen", name="陈静", email="chen@zishan.example")
MESSAGE = Message(subject="3月计划事项即将开始", text="梓山中学工会：3月计划事项即将开始。")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def configured(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        smtp_host="127.0.0.1",
        webhook_url="http://127.0.0.1:9/hook",
    )


@pytest.mark.parametrize(
    ("name", "kind"), [("log", LogChannel), ("email", EmailChannel), ("webhook", WebhookChannel)]
)
def test_each_channel_is_built_once(tmp_path: Path, name: str, kind: type) -> None:
    sender = ChannelSender(configured(tmp_path))
    channel = sender.channel(name)
    assert isinstance(channel, kind)
    assert sender.channel(name) is channel


def test_send_goes_through_the_named_channel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sender = ChannelSender(configured(tmp_path))
    with caplog.at_level(logging.INFO, logger="planflow.reminders"):
        sender("log", CHEN, MESSAGE)
    assert caplog.messages == [f"reminder to chen (陈静): {MESSAGE.subject} | {MESSAGE.text}"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("sms", "unknown channel 'sms'; choose one of log, email, webhook"),
        ("email", "the email channel needs an SMTP server; set PLANFLOW_SMTP_HOST"),
        ("webhook", "the webhook channel needs a URL; set PLANFLOW_WEBHOOK_URL"),
    ],
)
def test_a_channel_that_cannot_be_built_is_a_final_delivery_error(
    tmp_path: Path, name: str, reason: str
) -> None:
    sender = ChannelSender(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    with pytest.raises(DeliveryError) as raised:
        sender(name, CHEN, MESSAGE)
    assert raised.value.message == reason
    assert raised.value.retryable is False


def test_a_delivery_over_an_unknown_channel_goes_dead_with_the_reason(
    sqlite_url: str, clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="planflow.dispatch")
    rt = open_runtime(Settings(database_url=sqlite_url, default_channels=["sms"]), clock=clock)
    try:
        world_with_live_plan(rt)
        # January's first reminder: three days before the month, 09:00 in Shanghai.
        clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=SHANGHAI))
        assert sweep_reminders(rt).deliveries == 1
        publish_outbox(rt, in_process(rt, ChannelSender(rt.settings)))
        with rt.database.session() as session:
            [delivery] = session.exec(select(Delivery)).all()
            reminder = session.get(Reminder, delivery.reminder_id)
        assert delivery.status == DeliveryStatus.DEAD
        assert delivery.last_error is not None
        assert "unknown channel 'sms'" in delivery.last_error
        assert reminder is not None and reminder.status == ReminderStatus.DEAD
    finally:
        rt.database.dispose()
