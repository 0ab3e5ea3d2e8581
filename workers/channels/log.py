"""The `log` channel: one line per message on the "planflow.reminders" logger.

The default channel, for deployments that have not configured email or a webhook yet, for the
demo and for `planflow simulate`. It never fails.
"""

from __future__ import annotations

import logging

from engine.core.messages import Message, Recipient

LOGGER_NAME = "planflow.reminders"


class LogChannel:
    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)

    def close(self) -> None:
        pass  # nothing kept between sends

    def send(self, recipient: Recipient, message: Message) -> None:
        # One line per message, whatever the text holds, so log lines stay one per reminder.
        text = " ".join(message.text.split())
        self._logger.info(
            "reminder to %s (%s): %s | %s",
            recipient.username,
            recipient.name,
            message.subject,
            text,
        )
