"""The `email` channel: one UTF-8 email per message over SMTP (stdlib `smtplib`).

Failures are sorted by what a later try could change: a refused connection, a timeout, a dropped
connection or a 4xx reply (the server's "try again later") are retryable; a 5xx reply (recipient
refused, sender refused, login rejected) and a recipient without a usable address are not.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum

from pydantic import SecretStr

from engine.core.errors import DeliveryError
from engine.core.messages import Message, Recipient

DEFAULT_TIMEOUT_SECONDS = 10.0


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"  # upgrade a plain connection (usually port 587)
    SSL = "ssl"  # TLS from the first byte (usually port 465)


class EmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        user: str | None = None,
        password: SecretStr | None = None,
        sender: str = "planflow@localhost",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        security: SmtpSecurity = SmtpSecurity.NONE,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.sender = sender
        self.timeout = timeout
        self.security = security

    def close(self) -> None:
        pass  # nothing kept between sends

    def send(self, recipient: Recipient, message: Message) -> None:
        email = self.compose(recipient, message)
        where = f"SMTP server {self.host}:{self.port}"  # named alike in every language
        try:
            with self._connect() as smtp:
                if self.user:
                    password = self._password.get_secret_value() if self._password else ""
                    smtp.login(self.user, password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            replies = error.recipients.values()
            refusals = "; ".join(f"{code} {_text(reply)}" for code, reply in replies)
            raise DeliveryError(
                "{server} refused {email} (user {username}): {refusals}",
                code="delivery.refused",
                retryable=all(400 <= code < 500 for code, _ in replies),
                server=where,
                email=recipient.email,
                username=recipient.username,
                refusals=refusals,
            ) from error
        except smtplib.SMTPResponseException as error:  # sender, data or login refused
            raise DeliveryError(
                "{server} answered {status} {reason}",
                code="delivery.refused",
                retryable=400 <= error.smtp_code < 500,
                server=where,
                status=error.smtp_code,
                reason=_text(error.smtp_error),
            ) from error
        except smtplib.SMTPNotSupportedError as error:  # e.g. a login the server does not offer
            raise DeliveryError(
                "{server}: {reason}",
                code="delivery.unsupported",
                retryable=False,
                server=where,
                reason=str(error),
            ) from error
        except (smtplib.SMTPException, OSError) as error:  # refused, timed out, disconnected
            raise DeliveryError(
                "{server} could not be reached: {reason}",
                code="delivery.unreachable",
                retryable=True,
                server=where,
                reason=str(error or type(error).__name__),
            ) from error

    def _connect(self) -> smtplib.SMTP:
        if self.security is SmtpSecurity.SSL:
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security is SmtpSecurity.STARTTLS:
            try:
                # Raises SMTPNotSupportedError when the server offers no STARTTLS: never fall
                # back to sending the password and the message in the clear.
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def compose(self, recipient: Recipient, message: Message) -> EmailMessage:
        """The email for `recipient`; DeliveryError (not retryable) without a usable address."""
        if not recipient.email:
            raise DeliveryError(
                "user {username} ({name}) has no email address; "
                "add one or send their reminders through another channel",
                code="delivery.no_address",
                retryable=False,
                username=recipient.username,
                name=recipient.name,
            )
        try:
            to = Address(display_name=recipient.name, addr_spec=recipient.email)
        except (ValueError, IndexError, MessageError):
            raise DeliveryError(
                "user {username} ({name}) has an unusable email address {email}",
                code="delivery.bad_address",
                retryable=False,
                username=recipient.username,
                name=recipient.name,
                email=repr(recipient.email),
            ) from None
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        domain = self.sender.rpartition("@")[2] or "localhost"
        if message.key:  # the same on every try, so mail systems can drop a repeat
            digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()[:32]
            email["Message-ID"] = f"<planflow.{digest}@{domain}>"
        else:  # an explicit domain: make_msgid would otherwise ask DNS for this host's name
            email["Message-ID"] = make_msgid(domain=domain)
        # base64 keeps the Chinese body 7-bit clean for servers without 8BITMIME.
        email.set_content(message.text, charset="utf-8", cte="base64")
        return email


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
