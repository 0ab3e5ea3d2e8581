"""The `webhook` channel: one JSON POST per message (stdlib `http.client`, connections kept alive).

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
import ssl
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr

from engine.core.errors import ConfigurationError, DeliveryError
from engine.core.messages import Message, Recipient

DEFAULT_TIMEOUT_SECONDS = 10.0
# A kept-alive connection idle longer than this is replaced before use: servers close idle ones
# after 5 s (Python's own) to 75 s (nginx), and a request racing that close would fail.
IDLE_REUSE_SECONDS = 4.0
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
                "webhook URL must be http:// or https:// with a host, got {scheme}:…",
                code="configuration.webhook_url",
                field="webhook_url",
                scheme=parts.scheme,
            )
        if secret is not None and format is not WebhookFormat.DINGTALK:
            raise ConfigurationError(
                "a webhook secret signs DingTalk robot requests (加签); set "
                "PLANFLOW_WEBHOOK_FORMAT=dingtalk or leave PLANFLOW_WEBHOOK_SECRET unset",
                code="configuration.webhook_secret",
                field="webhook_secret",
            )
        self.url = url
        self.format = format
        self.timeout = timeout
        self._secret = secret
        self._clock = clock
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []  # (it, last used)
        self._pool_lock = threading.Lock()
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
        status, reason, reply = self._post(data, headers)
        if status >= 400:
            raise DeliveryError(
                "{server} answered HTTP {status} {reason}",
                code="delivery.refused",
                retryable=status >= 500 or status in _RETRYABLE_HTTP_4XX,
                server=self._where,
                status=status,
                reason=reason,
            )
        if self.format is not WebhookFormat.PLAIN:
            self._check_robot_reply(reply)

    def _post(self, data: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """POST over a kept-alive connection: (status, reason, body).

        Connections wait in a small pool between posts, whatever thread sends next. One idle
        longer than `IDLE_REUSE_SECONDS` is replaced rather than used: a server may close an idle
        connection just as a request goes out, and a POST that failed that way is not re-sent
        here (the server may have acted on it): it fails retryably, and the delivery's retry sends
        it again under the same key.
        """
        target = urlsplit(self.signed_url())
        path = f"{target.path or '/'}{'?' + target.query if target.query else ''}"
        connection = self._take_connection()
        try:
            if connection.sock is None:
                try:
                    connection.connect()
                except OSError as error:  # refused, unknown host, timeout while connecting
                    raise DeliveryError(
                        "{server} could not be reached: {reason}",
                        code="delivery.unreachable",
                        retryable=True,
                        server=self._where,
                        reason=str(error),
                    ) from error
            connection.request("POST", path, body=data, headers=headers)
            response = connection.getresponse()
            reply = response.read()
        except (OSError, http.client.HTTPException) as error:  # timeout or drop mid-answer
            connection.close()
            raise DeliveryError(
                "{server} did not answer: {reason}",
                code="delivery.no_answer",
                retryable=True,
                server=self._where,
                reason=str(error or type(error).__name__),
            ) from error
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            with self._pool_lock:
                self._idle.append((connection, time.monotonic()))
        return response.status, response.reason, reply

    def _take_connection(self) -> http.client.HTTPConnection:
        """The most recently used idle connection that is fresh enough, else a new one."""
        now = time.monotonic()
        with self._pool_lock:
            while self._idle:
                connection, last_used = self._idle.pop()
                if now - last_used <= IDLE_REUSE_SECONDS:
                    return connection
                connection.close()
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout)

    def close(self) -> None:
        """Close the idle connections (a worker's channels live as long as the process)."""
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()

    def _check_robot_reply(self, reply: bytes) -> None:
        try:
            answer = json.loads(reply)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("errcode"), int):
            raise DeliveryError(
                "{server} did not answer like a {format} robot: {reply}",
                code="delivery.bad_answer",
                retryable=True,
                server=self._where,
                format=str(self.format),
                reply=repr(reply[:200]),
            )
        errcode: int = answer["errcode"]
        if errcode != 0:
            raise DeliveryError(
                "{server} refused the message: errcode {errcode} {reason}",
                code="delivery.refused",
                retryable=errcode in _BUSY_ERRCODES[self.format],
                server=self._where,
                errcode=errcode,
                reason=answer.get("errmsg", ""),
            )
