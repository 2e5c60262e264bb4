"""Fixtures of the notification tests: a real webhook receiver, a real SMTP inbox, a worker
with short retries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from admin_plugin import SmtpConfig, SmtpMailer
from keystile.notify.config import NotifyOptions
from keystile.notify.worker import NotifyWorker
from keystile.redis_server import free_port
from policies import Keyring, PolicyStore
from tests.support.admin import Inbox
from tests.support.webhooks import Receiver

# The receiver is local: allowed explicitly, as a deployment would list its relay.
OPTIONS = NotifyOptions(
    allow_hosts=["127.0.0.1"], timeout=2, retry_base=0.05, retry_cap=0.2, lease=10, poll=0.02
)


@pytest.fixture
def live(redis_client: redis.Redis, keyring: Keyring, store: PolicyStore) -> PolicyStore:
    """The store on the real clock: the worker's retries come due in real time."""
    return PolicyStore(redis_client, keyring)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mailer(smtp: tuple[Inbox, int]) -> SmtpMailer:
    smtp[0].reset()
    return SmtpMailer(SmtpConfig(sender="keystile@acme.test", host="127.0.0.1", port=smtp[1]))


def worker_for(
    store: PolicyStore, mailer: SmtpMailer | None = None, **options: Any
) -> NotifyWorker:
    return NotifyWorker(store, replace(OPTIONS, **options), mailer)
