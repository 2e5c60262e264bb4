"""Mail for one-time passwords, over SMTP with the standard library.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal, Protocol

from policies.errors import ConfigError, KeystileError

Security = Literal["none", "starttls", "ssl"]
_SECURITY: tuple[Security, ...] = ("none", "starttls", "ssl")


class MailError(KeystileError):
    """A message could not be handed to the mail server."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    sender: str
    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    cafile: str | None = None

    def __post_init__(self) -> None:
        if self.security not in _SECURITY:
            raise ConfigError(f"smtp security must be one of {', '.join(_SECURITY)}")
        if not 0 < self.port < 65536:
            raise ConfigError("smtp port must be 1-65535")
        if "@" not in self.sender:
            raise ConfigError("smtp sender must be an email address")
        if (self.username is None) != (self.password is None):
            raise ConfigError("smtp username and password go together")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> SmtpConfig:
        known = {
            "sender",
            "host",
            "port",
            "security",
            "username",
            "password",
            "timeout",
            "cafile",
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown [smtp] settings: {', '.join(unknown)}")
        if "sender" not in table:
            raise ConfigError("[smtp] needs sender = 'name@example.com'")
        return cls(**dict(table))


def _reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the mail server did not accept Keystile's login"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"the mail server refused the address (SMTP {', '.join(map(str, codes))})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server refused the message (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the mail server does not support the configured security or login"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "a secure connection to the mail server could not be made"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "the mail server did not answer in time"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the mail server closed the connection"
    return "the mail server cannot be reached"


class SmtpMailer:
    """Sends each message on its own connection: codes are rare, idle connections die."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "ssl":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls())
        client = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        if c.security == "starttls":
            client.starttls(context=self._tls())
        return client

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        try:  # the email package refuses headers with CR/LF (injection) with a ValueError
            message["From"] = self.config.sender
            message["To"] = to
            message["Subject"] = subject
            domain = self.config.sender.rpartition("@")[2].strip(">")
            message["Message-ID"] = make_msgid(domain=domain)
            message.set_content(body)
        except (ValueError, IndexError, MessageError):
            raise MailError("The code could not be sent: the address is not valid.") from None
        try:
            with self._connect() as client:
                if self.config.username is not None and self.config.password is not None:
                    client.login(self.config.username, self.config.password)
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"The code could not be sent: {_reason(exc)}.") from None
