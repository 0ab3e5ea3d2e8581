"""Delivery channels: how a rendered reminder `Message` reaches one person.

A channel is an adapter with one method, `send(recipient, message)`, that either delivers or
raises `DeliveryError` whose `retryable` tells the dispatcher whether to try again later or to
dead-letter the reminder. Channels compose no text (that is `engine.core.messages`) and keep no
state between calls, so a retried delivery task can call them again safely. The deployment picks
them by name through `channel_from_settings`: `log` (the default), `email`, `webhook`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from config.settings import Settings
from engine.core.errors import ConfigurationError
from engine.core.messages import Message, Recipient
from workers.channels.email import EmailChannel, SmtpSecurity
from workers.channels.log import LogChannel
from workers.channels.webhook import WebhookChannel, WebhookFormat

__all__ = [
    "Channel",
    "ChannelName",
    "EmailChannel",
    "LogChannel",
    "Recipient",
    "SmtpSecurity",
    "WebhookChannel",
    "WebhookFormat",
    "channel_from_settings",
]


class Channel(Protocol):
    """Delivers one message to one recipient, or raises `DeliveryError`."""

    @property
    def name(self) -> str: ...

    def send(self, recipient: Recipient, message: Message) -> None: ...

    def close(self) -> None:
        """Release what the channel keeps between sends (kept-alive connections)."""


class ChannelName(StrEnum):
    LOG = "log"
    EMAIL = "email"
    WEBHOOK = "webhook"


def channel_from_settings(name: str, settings: Settings) -> Channel:
    """The channel called `name`, configured from `settings`; ConfigurationError if it cannot be."""
    if name == ChannelName.LOG:
        return LogChannel()
    if name == ChannelName.EMAIL:
        if not settings.smtp_host:
            raise ConfigurationError(
                "the email channel needs an SMTP server; set PLANFLOW_SMTP_HOST",
                code="configuration.channel",
                channel=name,
            )
        return EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            security=SmtpSecurity(settings.smtp_security),
            timeout=settings.send_timeout_seconds,
        )
    if name == ChannelName.WEBHOOK:
        if not settings.webhook_url:
            raise ConfigurationError(
                "the webhook channel needs a URL; set PLANFLOW_WEBHOOK_URL",
                code="configuration.channel",
                channel=name,
            )
        return WebhookChannel(
            url=settings.webhook_url,
            format=WebhookFormat(settings.webhook_format),
            secret=settings.webhook_secret,
            timeout=settings.send_timeout_seconds,
        )
    known = ", ".join(channel.value for channel in ChannelName)
    raise ConfigurationError(
        "unknown channel {channel}; choose one of {known}",
        code="configuration.channel",
        channel=repr(name),
        known=known,
    )
