"""Delivery channels against real local servers: an aiosmtpd SMTP server and an HTTP receiver.

No network mocks: each test starts its server on a free localhost port and stops it, so what is
checked is what crosses the socket (headers, UTF-8 bodies, JSON) and how each failure is sorted
into retryable or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from config.settings import Settings
from engine.core.errors import ConfigurationError, DeliveryError
from engine.core.messages import Message
from workers.channels import (
    Channel,
    EmailChannel,
    LogChannel,
    Recipient,
    SmtpSecurity,
    WebhookChannel,
    WebhookFormat,
    channel_from_settings,
)
from workers.channels import webhook as webhook_module

CHEN = Recipient(username="chen", name="陈静", email="chen@zishan.example")
MESSAGE = Message(
    subject="3月计划事项即将开始",
    text="梓山中学工会：3月计划事项即将开始：庆祝“三八”国际劳动妇女节活动（3月8日前完成）。",
)
SENDER = "planflow@county.example"


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------- SMTP


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def only_message(self) -> EmailMessage:
        [envelope] = self.envelopes
        assert isinstance(envelope.content, bytes)
        received = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(received, EmailMessage)
        return received


class RefusingInbox(Inbox):
    """Refuses every recipient with the given reply."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return self.reply


@contextmanager
def smtp_server(handler: Inbox, **server_kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **server_kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def email_channel(port: int, **options: Any) -> EmailChannel:
    return EmailChannel(host="127.0.0.1", port=port, sender=SENDER, timeout=5, **options)


def test_email_arrives_with_utf8_subject_and_body() -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        email_channel(port).send(CHEN, MESSAGE)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["chen@zishan.example"]
    received = inbox.only_message()
    assert received["To"] == "陈静 <chen@zishan.example>"
    assert received["From"] == SENDER
    assert received["Subject"] == "3月计划事项即将开始"
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content().strip() == MESSAGE.text
    # The raw message is 7-bit: the Chinese travels encoded, for servers without 8BITMIME.
    assert isinstance(envelope.content, bytes)
    assert envelope.content.isascii()


def test_email_logs_in_with_the_configured_user() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        # handled=False: aiosmtpd answers 535 itself (with the default True it stays silent).
        return AuthResult(success=data.password == b"s3cret", handled=False, auth_data=data)

    inbox = Inbox()
    with smtp_server(inbox, authenticator=authenticator, auth_require_tls=False) as port:
        email_channel(port, user="planflow", password=SecretStr("s3cret")).send(CHEN, MESSAGE)
        with pytest.raises(DeliveryError) as refused:
            email_channel(port, user="planflow", password=SecretStr("wrong")).send(CHEN, MESSAGE)
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN) before giving up.
    assert seen[0] == (b"planflow", b"s3cret")
    assert set(seen[1:]) == {(b"planflow", b"wrong")}
    assert len(inbox.envelopes) == 1
    assert "answered 535" in str(refused.value)
    assert refused.value.retryable is False


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        ("550 5.1.1 <chen@zishan.example>: mailbox unavailable", False),
        ("450 4.2.1 mailbox busy, try again later", True),
    ],
)
def test_email_recipient_refused(reply: str, retryable: bool) -> None:
    inbox = RefusingInbox(reply)
    with smtp_server(inbox) as port, pytest.raises(DeliveryError) as refused:
        email_channel(port).send(CHEN, MESSAGE)
    assert inbox.envelopes == []
    assert refused.value.retryable is retryable
    assert str(refused.value).startswith(
        f"SMTP server 127.0.0.1:{port} refused chen@zishan.example (user chen): {reply[:3]}"
    )


def test_email_to_a_closed_port_is_retryable() -> None:
    port = free_port()
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port} could not be reached") as failed:
        email_channel(port).send(CHEN, MESSAGE)
    assert failed.value.retryable is True


@pytest.mark.parametrize("address", [None, "", "chen-at-nowhere"])
def test_email_without_a_usable_address_is_not_retryable(address: str | None) -> None:
    # A closed port: the channel must give up before connecting, or the error would be retryable.
    recipient = Recipient(username="chen", name="陈静", email=address)
    with pytest.raises(DeliveryError, match=r"user chen \(陈静\) has") as failed:
        email_channel(free_port()).send(recipient, MESSAGE)
    assert failed.value.retryable is False


# ------------------------------------------------------------------------------------- webhook


@dataclass
class Receiver:
    url: str
    requests: list[tuple[str, Any]] = field(default_factory=list)  # (Content-Type, JSON body)
    keys: list[str | None] = field(default_factory=list)  # Idempotency-Key headers
    paths: list[str] = field(default_factory=list)  # request paths with their query
    clients: list[int] = field(default_factory=list)  # client ports: one per TCP connection


class _JoiningServer(ThreadingHTTPServer):
    # Join the handler threads on close, so no request outlives its test.
    daemon_threads = False


@contextmanager
def http_receiver(
    status: int = 200, reply: bytes = b"", hang: bool = False, keep_alive: bool = False
) -> Iterator[Receiver]:
    """A local webhook receiver answering every POST with `status` and `reply`.

    `hang` makes it wait before answering until the test is over (longer than any timeout).
    """
    over = threading.Event()
    requests: list[tuple[str, Any]] = []
    keys: list[str | None] = []
    paths: list[str] = []
    clients: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        timeout = 0.5  # a kept-alive connection left idle ends, so the server can close

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.headers["Content-Type"], json.loads(body)))
            keys.append(self.headers["Idempotency-Key"])
            paths.append(self.path)
            clients.append(self.client_address[1])
            if hang:
                over.wait(timeout=30)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the client has given up (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _JoiningServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver"
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/robot/send?access_token=t0k3n"
    try:
        yield Receiver(url, requests, keys, paths, clients)
    finally:
        over.set()
        server.shutdown()
        server.server_close()
        thread.join()


def webhook(url: str, format: WebhookFormat = WebhookFormat.PLAIN) -> WebhookChannel:
    return WebhookChannel(url=url, format=format, timeout=5)


ROBOT_CONTENT = f"{MESSAGE.subject}\n{MESSAGE.text}\n提醒对象：陈静"


def test_webhook_and_email_carry_the_delivery_key_for_receivers_to_deduplicate() -> None:
    keyed = Message(subject=MESSAGE.subject, text=MESSAGE.text, key="p1:r0:i1:2027-03-01:drafter")
    with http_receiver() as receiver:
        webhook(receiver.url).send(CHEN, keyed)
        webhook(receiver.url).send(CHEN, keyed)  # a repeat after a crash: same key
    assert receiver.keys == [keyed.key, keyed.key]
    assert [body["key"] for _, body in receiver.requests] == [keyed.key, keyed.key]
    inbox = Inbox()
    with smtp_server(inbox) as port:
        email_channel(port).send(CHEN, keyed)
        email_channel(port).send(CHEN, keyed)
    ids = [_message_id(envelope) for envelope in inbox.envelopes]
    assert ids[0] == ids[1]
    assert re.fullmatch(r"<planflow\.[0-9a-f]{32}@county\.example>", ids[0])


def _message_id(envelope: Envelope) -> str:
    assert isinstance(envelope.content, bytes)
    return str(message_from_bytes(envelope.content, policy=policy.default)["Message-ID"])


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        (
            WebhookFormat.PLAIN,
            {
                "key": None,
                "recipient": {"username": "chen", "name": "陈静"},
                "subject": MESSAGE.subject,
                "text": MESSAGE.text,
            },
        ),
        (
            WebhookFormat.DINGTALK,
            {
                "msgtype": "text",
                "text": {"content": ROBOT_CONTENT},
                "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
            },
        ),
        (WebhookFormat.WECOM, {"msgtype": "text", "text": {"content": ROBOT_CONTENT}}),
    ],
)
def test_webhook_posts_the_formats_json(format: WebhookFormat, expected: dict[str, Any]) -> None:
    reply = b"" if format is WebhookFormat.PLAIN else b'{"errcode": 0, "errmsg": "ok"}'
    with http_receiver(reply=reply) as receiver:
        webhook(receiver.url, format).send(CHEN, MESSAGE)
    assert receiver.requests == [("application/json; charset=utf-8", expected)]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (404, False)]
)
def test_webhook_http_errors(status: int, retryable: bool) -> None:
    with http_receiver(status=status) as receiver, pytest.raises(DeliveryError) as failed:
        webhook(receiver.url).send(CHEN, MESSAGE)
    assert len(receiver.requests) == 1
    assert failed.value.retryable is retryable
    port = receiver.url.split(":")[2].split("/")[0]
    assert str(failed.value).startswith(f"webhook 127.0.0.1:{port} answered HTTP {status} ")
    assert "t0k3n" not in str(failed.value)  # the URL's token never reaches logs


def test_webhook_that_hangs_times_out_retryably() -> None:
    with http_receiver(hang=True) as receiver:
        channel = WebhookChannel(url=receiver.url, timeout=0.2)
        with pytest.raises(DeliveryError, match=r"did not answer|could not be reached") as failed:
            channel.send(CHEN, MESSAGE)
    assert failed.value.retryable is True
    assert len(receiver.requests) == 1


def test_webhook_on_a_closed_port_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(DeliveryError, match="could not be reached") as failed:
        webhook(url).send(CHEN, MESSAGE)
    assert failed.value.retryable is True


@pytest.mark.parametrize(
    ("format", "errcode", "retryable"),
    [
        (WebhookFormat.DINGTALK, 310000, False),  # keyword, signature or IP not accepted
        (WebhookFormat.DINGTALK, 300001, False),  # bad token
        (WebhookFormat.DINGTALK, 130101, True),  # more than 20 messages a minute
        (WebhookFormat.WECOM, 93000, False),  # invalid webhook URL
        (WebhookFormat.WECOM, 45009, True),  # frequency limit
        (WebhookFormat.WECOM, -1, True),  # system busy
    ],
)
def test_robot_errcodes(format: WebhookFormat, errcode: int, retryable: bool) -> None:
    reply = json.dumps({"errcode": errcode, "errmsg": "refused"}).encode()
    with http_receiver(reply=reply) as receiver, pytest.raises(DeliveryError) as failed:
        webhook(receiver.url, format).send(CHEN, MESSAGE)
    assert f"refused the message: errcode {errcode} refused" in str(failed.value)
    assert failed.value.retryable is retryable


def test_robot_answer_that_is_not_json_is_retryable() -> None:
    not_json = http_receiver(reply=b"<html>gateway</html>")
    refused = pytest.raises(DeliveryError, match="did not answer like a dingtalk robot")
    with not_json as receiver, refused as failed:
        webhook(receiver.url, WebhookFormat.DINGTALK).send(CHEN, MESSAGE)
    assert failed.value.retryable is True


def test_plain_webhook_ignores_the_answer_body() -> None:
    with http_receiver(reply=b"<html>thanks</html>") as receiver:
        webhook(receiver.url).send(CHEN, MESSAGE)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "file:///etc/passwd", "http:///hook"])
def test_webhook_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigurationError, match="webhook URL must be http"):
        WebhookChannel(url=url)


# ----------------------------------------------------------------------------------- log, settings


def test_log_channel_writes_one_line_per_message(caplog: pytest.LogCaptureFixture) -> None:
    two_lines = Message(subject="待办已逾期：镇工会审核", text="第一行\n第二行")
    with caplog.at_level(logging.INFO, logger="planflow.reminders"):
        LogChannel().send(CHEN, MESSAGE)
        LogChannel().send(CHEN, two_lines)
    assert [record.getMessage() for record in caplog.records] == [
        f"reminder to chen (陈静): {MESSAGE.subject} | {MESSAGE.text}",
        "reminder to chen (陈静): 待办已逾期：镇工会审核 | 第一行 第二行",
    ]
    assert {record.name for record in caplog.records} == {"planflow.reminders"}


def settings(**values: Any) -> Settings:
    return Settings(database_url="sqlite://", **values)


def test_channels_from_settings() -> None:
    configured = settings(
        smtp_host="mail.example",
        smtp_port=2525,
        smtp_user="planflow",
        smtp_password=SecretStr("s3cret"),
        smtp_from=SENDER,
        webhook_url="https://oapi.dingtalk.com/robot/send?access_token=x",
        webhook_format="dingtalk",
        send_timeout_seconds=4.5,
    )
    log: Channel = channel_from_settings("log", configured)
    assert isinstance(log, LogChannel)
    email = channel_from_settings("email", configured)
    assert isinstance(email, EmailChannel)
    assert (email.host, email.port, email.user, email.sender) == (
        "mail.example",
        2525,
        "planflow",
        SENDER,
    )
    hook = channel_from_settings("webhook", configured)
    assert isinstance(hook, WebhookChannel)
    assert hook.format is WebhookFormat.DINGTALK
    # The timeout the settings check each lease against is the one the channels wait.
    assert email.timeout == hook.timeout == 4.5
    assert [channel.name for channel in (log, email, hook)] == ["log", "email", "webhook"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("email", "set PLANFLOW_SMTP_HOST"),
        ("webhook", "set PLANFLOW_WEBHOOK_URL"),
        ("sms", "unknown channel 'sms'; choose one of log, email, webhook"),
    ],
)
def test_unusable_channel_settings(name: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        channel_from_settings(name, settings(smtp_host=None, webhook_url=None))


def test_dingtalk_robot_posts_are_signed_with_the_secret() -> None:
    secret = "SEC0123456789abcdef"
    reply = b'{"errcode": 0, "errmsg": "ok"}'
    with http_receiver(reply=reply) as receiver:
        channel = WebhookChannel(
            url=receiver.url,
            format=WebhookFormat.DINGTALK,
            secret=SecretStr(secret),
            clock=lambda: 1_700_000_000.123,
        )
        channel.send(CHEN, MESSAGE)
    [path] = receiver.paths
    query = parse_qs(urlsplit(path).query)
    assert query["access_token"] == ["t0k3n"]  # the robot's own token stays
    assert query["timestamp"] == ["1700000000123"]
    # DingTalk's documented recipe, computed independently here.
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"1700000000123\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]


def test_a_secret_only_signs_dingtalk_posts() -> None:
    with pytest.raises(ConfigurationError, match="signs DingTalk robot requests"):
        WebhookChannel(url="https://example.org/hook", secret=SecretStr("SECx"))


def test_starttls_is_required_when_configured() -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port, pytest.raises(DeliveryError) as failed:
        email_channel(port, security=SmtpSecurity.STARTTLS).send(CHEN, MESSAGE)
    assert "STARTTLS" in str(failed.value)
    assert failed.value.retryable is False  # the server will not learn TLS by itself
    assert inbox.envelopes == []  # nothing went out in the clear


def test_implicit_tls_to_a_plain_server_fails_retryably() -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port, pytest.raises(DeliveryError) as failed:
        email_channel(port, security=SmtpSecurity.SSL).send(CHEN, MESSAGE)
    assert str(failed.value).startswith(f"SMTP server 127.0.0.1:{port} could not be reached")
    assert inbox.envelopes == []


def test_webhook_keeps_its_connection_alive_while_the_server_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with http_receiver(keep_alive=True) as receiver:
        channel = webhook(receiver.url)
        for _ in range(3):
            channel.send(CHEN, MESSAGE)
        assert len(set(receiver.clients)) == 1  # three posts, one connection
        monkeypatch.setattr(webhook_module, "IDLE_REUSE_SECONDS", -1.0)  # "idle too long"
        channel.send(CHEN, MESSAGE)
        channel.close()
    assert len(set(receiver.clients)) == 2  # an idle connection is replaced, not risked
    with http_receiver(keep_alive=False) as receiver:
        channel = webhook(receiver.url)
        channel.send(CHEN, MESSAGE)
        channel.send(CHEN, MESSAGE)
    assert len(set(receiver.clients)) == 2  # the server closes each one: a new one each time
