"""Leak watch: every key and one-time password a test creates must never reach a log line
or an audit entry.

Wraps (does not replace) the two functions that mint secrets, records what they return,
captures every log record of the process, and after each test scans the captured lines
and the audit streams in Redis for any of the secrets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import redis

from policies.keys import keyformat
from policies.notify import signing
from policies.otp import codes as otp

# The test mail server's own debug log: it is the recipient, it reads the mail by design.
RECIPIENT_LOGGERS = ("mail.log",)


class LeakWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.secrets: list[str] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(RECIPIENT_LOGGERS):
            return
        try:
            self.lines.append(record.getMessage() + repr(record.__dict__))
        except Exception:
            self.lines.append(repr(record.msg))

    def minted(self, function: Callable[..., str]) -> Callable[..., str]:
        def recording(*args: Any, **kwargs: Any) -> str:
            value = function(*args, **kwargs)
            self.secrets.append(value)
            return value

        return recording

    def reset(self) -> None:
        self.secrets.clear()
        self.lines.clear()

    def audit_text(self, client: redis.Redis) -> Iterator[str]:
        for key in client.scan_iter("ks:*:audit", type="stream"):
            for _, fields in client.xrange(key):
                yield repr(fields)

    def leaks(self, client: redis.Redis | None) -> list[str]:
        haystacks = list(self.lines)
        if client is not None:
            haystacks += list(self.audit_text(client))
        text = "\n".join(haystacks)
        found = []
        for secret in self.secrets:
            if secret.isdigit():  # a one-time password: six digits, not inside a number
                leaked = re.search(rf"(?<!\d){secret}(?!\d)", text) is not None
            else:  # a key, whole or without its prefix
                leaked = secret[3:] in text
            if leaked:
                found.append(secret[:3] + "…")
        return found


def install(watch: LeakWatch, monkeypatch: Any) -> None:
    monkeypatch.setattr(keyformat, "generate", watch.minted(keyformat.generate))
    monkeypatch.setattr(otp, "new_code", watch.minted(otp.new_code))
    monkeypatch.setattr(signing, "new_secret", watch.minted(signing.new_secret))
