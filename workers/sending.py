"""The deployment's `Send`: delivers a message over a channel chosen by name.

`engine.service.dispatch.deliver` knows deliveries only by their channel's name; `ChannelSender`
turns that name into the configured channel (`workers.channels.channel_from_settings`), built once
per process and reused, since building one reads settings and checks its URL. A channel the
deployment cannot build (an unknown name, email without an SMTP server) is not a crash: the send
raises a non-retryable `DeliveryError` carrying the configuration problem, so that delivery goes
`dead` with a reason an operator can act on and the rest of the batch goes out.
"""

from __future__ import annotations

from config.settings import Settings
from engine.core.errors import ConfigurationError, DeliveryError
from engine.core.i18n import Message as Sentence
from engine.core.messages import Message, Recipient
from workers.channels import Channel, channel_from_settings


class ChannelSender:
    """A `Send` (see `engine.service.dispatch`) over the channels configured in `settings`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channels: dict[str, Channel] = {}

    def channel(self, name: str) -> Channel:
        """The channel called `name`; DeliveryError (not retryable) if it cannot be built."""
        channel = self._channels.get(name)
        if channel is None:
            try:
                built = channel_from_settings(name, self._settings)
            except ConfigurationError as error:
                # Settings do not change while the process runs, so neither would a retry.
                raise DeliveryError(
                    "{reason}",
                    code="delivery.channel_unusable",
                    retryable=False,
                    channel=name,
                    reason=Sentence(error.template, error.fields),
                ) from error
            # Two threads may build the same channel at once; both are equal and one is kept.
            channel = self._channels.setdefault(name, built)
        return channel

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        self.channel(channel).send(recipient, message)
