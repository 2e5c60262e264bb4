"""Leak-report fixtures: GitHub's signing key, a local key server, the endpoint over the
suite's Redis, an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.leaks import LeakReports
from policies import Keyring
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client
from tests.support.clock import ManualClock
from tests.support.leak_reports import KeyServer, Signer, key_server

GITLAB_TOKEN = "gitlab-" + "t" * 40
Make = Callable[..., LeakReports]


@pytest.fixture
def signer() -> Signer:
    return Signer("github-key-1")


@pytest.fixture
def keys(signer: Signer) -> Iterator[KeyServer]:
    with key_server(signer) as server:
        yield server


@pytest.fixture
def refresh_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_leaks(
    redis_url: str,
    keyring: Keyring,
    clock: ManualClock,
    keys: KeyServer,
    refresh_clock: ManualClock,
) -> AsyncIterator[Make]:
    clients = []

    def make(**options: Any) -> LeakReports:
        client = async_client(redis_url, timeout=5.0)
        clients.append(client)
        store = AsyncPolicyStore(client, keyring, clock=clock, timeout=5.0)
        options = {"github_keys_url": keys.url, "gitlab_token": GITLAB_TOKEN, **options}
        return LeakReports(store=store, clock=refresh_clock, **options)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def http(make_leaks: Make) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_leaks())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
