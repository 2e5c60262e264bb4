"""The demo's local SMTP server: it prints every mail it receives instead of sending it.

So that **Reveal Key** works with no mail server: the one-time password appears in the
terminal that runs ``keystile demo`` (and only there: this is a demo, not a relay).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller


class PrintingHandler:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        self.echo(
            f"\n--- mail to {', '.join(envelope.rcpt_tos)}: {message['subject']}\n"
            f"{text.strip()}\n---"
        )
        return "250 Message accepted"


def start_mail_sink(host: str, port: int, echo: Callable[[str], None]) -> Controller:
    controller = Controller(PrintingHandler(echo), hostname=host, port=port)
    controller.start()  # type: ignore[no-untyped-call,unused-ignore]  # aiosmtpd < 1.4.3
    return controller
