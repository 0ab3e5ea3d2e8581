"""The `webhook` channel: one JSON POST per message (stdlib `urllib.request`).

`format` picks the body: `plain` is ours ({"recipient", "subject", "text"}); `dingtalk` and
`wecom` are the text messages of the DingTalk and WeCom group robots, whose webhook URLs carry
their access token (so error messages name the host, never the URL). Those robots answer HTTP 200
with a JSON `errcode`; non-zero means the message was not posted.

What a later try could change: a refused connection, a timeout, HTTP 5xx, 408 or 429 and a robot
that says it is busy or rate-limited are retryable; any other HTTP 4xx and any other robot
errcode (bad token, missing keyword or signature, malformed body) are not, since resending the
same request gets the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr

from engine.core.errors import ConfigurationError, DeliveryError
from engine.core.messages import Message, Recipient

DEFAULT_TIMEOUT_SECONDS = 10.0
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the delivery's key, the same on every try
_RETRYABLE_HTTP_4XX = frozenset({408, 429})


class WebhookFormat(StrEnum):
    PLAIN = "plain"
    DINGTALK = "dingtalk"
    WECOM = "wecom"


# Robot errcodes that mean "not now" rather than "not like this": -1 system busy (both),
# DingTalk 130101 more than 20 messages a minute, WeCom 45009 call frequency over the limit.
_BUSY_ERRCODES = {
    WebhookFormat.DINGTALK: frozenset({-1, 130101}),
    WebhookFormat.WECOM: frozenset({-1, 45009}),
}


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        format: WebhookFormat = WebhookFormat.PLAIN,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        secret: SecretStr | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"webhook URL must be http:// or https:// with a host, got {parts.scheme}:…"
            )
        if secret is not None and format is not WebhookFormat.DINGTALK:
            raise ConfigurationError(
                "a webhook secret signs DingTalk robot requests (加签); set "
                "PLANFLOW_WEBHOOK_FORMAT=dingtalk or leave PLANFLOW_WEBHOOK_SECRET unset"
            )
        self.url = url
        self.format = format
        self.timeout = timeout
        self._secret = secret
        self._clock = clock
        self._where = f"webhook {parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def body(self, recipient: Recipient, message: Message) -> dict[str, Any]:
        """The JSON body posted for `recipient`."""
        if self.format is WebhookFormat.PLAIN:
            return {
                "key": message.key,
                "recipient": {"username": recipient.username, "name": recipient.name},
                "subject": message.subject,
                "text": message.text,
            }
        # A group robot posts to a whole group, so the text says whom it is for.
        content = f"{message.subject}\n{message.text}\n提醒对象：{recipient.name}"
        if self.format is WebhookFormat.DINGTALK:
            return {
                "msgtype": "text",
                "text": {"content": content},
                "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
            }
        return {"msgtype": "text", "text": {"content": content}}

    def signed_url(self) -> str:
        """The URL to post to: with a secret, DingTalk's `timestamp` and `sign` added (加签).

        sign = base64(HMAC-SHA256(key=secret, "{timestamp}\n{secret}")), timestamp in
        milliseconds; the robot refuses a timestamp more than an hour off, so it is made per post.
        """
        if self._secret is None:
            return self.url
        secret = self._secret.get_secret_value()
        timestamp = str(round(self._clock() * 1000))
        digest = hmac.new(
            secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        query = urlencode({"timestamp": timestamp, "sign": base64.b64encode(digest).decode()})
        return f"{self.url}{'&' if urlsplit(self.url).query else '?'}{query}"

    def send(self, recipient: Recipient, message: Message) -> None:
        data = json.dumps(self.body(recipient, message), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if message.key:
            headers[IDEMPOTENCY_HEADER] = message.key
        request = urllib.request.Request(
            self.signed_url(), data=data, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply: bytes = response.read()
        except urllib.error.HTTPError as error:
            with error:  # an HTTPError holds the open response; close it here
                status, reason = error.code, error.reason
            raise DeliveryError(
                f"{self._where} answered HTTP {status} {reason}",
                retryable=status >= 500 or status in _RETRYABLE_HTTP_4XX,
            ) from None
        except urllib.error.URLError as error:  # refused, unknown host, timeout while connecting
            raise DeliveryError(
                f"{self._where} could not be reached: {error.reason}", retryable=True
            ) from error
        except (OSError, http.client.HTTPException) as error:  # timeout or drop mid-answer
            raise DeliveryError(
                f"{self._where} did not answer: {error or type(error).__name__}", retryable=True
            ) from error
        if self.format is not WebhookFormat.PLAIN:
            self._check_robot_reply(reply)

    def _check_robot_reply(self, reply: bytes) -> None:
        try:
            answer = json.loads(reply)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("errcode"), int):
            raise DeliveryError(
                f"{self._where} did not answer like a {self.format} robot: {reply[:200]!r}",
                retryable=True,
            )
        errcode: int = answer["errcode"]
        if errcode != 0:
            raise DeliveryError(
                f"{self._where} refused the message: errcode {errcode} {answer.get('errmsg', '')}",
                retryable=errcode in _BUSY_ERRCODES[self.format],
            )
