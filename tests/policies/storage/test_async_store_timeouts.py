"""A store call that times out says which side was slow: this process's event loop (a
saturated process, Redis healthy) or Redis (the loop on time)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from policies import AsyncPolicyStore, Keyring
from policies.errors import StoreUnreachable
from policies.storage.async_store import deadline
from policies.storage.connections import async_client
from policies.storage.values import CreatedWorkspace

pytestmark = pytest.mark.anyio


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


async def test_a_busy_event_loop_is_named_not_redis() -> None:
    """The deadline every store call runs under, passed while a CPU-bound stretch held this
    process's loop: the timer fires late, and the reason says so. (A call whose answer is
    already in its socket when the loop comes back completes: reads run before timers.)"""
    with pytest.raises(StoreUnreachable) as raised:
        async with deadline(0.2, "lookup: "):
            time.sleep(0.6)  # the loop runs nothing else meanwhile
            await asyncio.Event().wait()  # an answer that has not come
    said = str(raised.value)
    assert said.startswith("this process is saturated (CPU) (lookup: no answer within 0.2 s")
    assert "so Redis may be healthy" in said, said
    late = float(said.split("event loop ran ")[1].split(" s late")[0])
    assert 0.3 <= late < 5, said


async def test_an_on_time_loop_blames_redis() -> None:
    with pytest.raises(StoreUnreachable) as raised:
        async with deadline(0.1):
            await asyncio.Event().wait()
    said = str(raised.value)
    assert said.startswith("Redis is unavailable (no answer within 0.1 s"), said
    assert "event loop was on time: Redis or the network is slow" in said


async def test_a_silent_redis_is_named_when_the_loop_was_on_time(
    silent_server: str, keyring: Keyring, workspace: CreatedWorkspace
) -> None:
    reader = AsyncPolicyStore(async_client(silent_server, timeout=5), keyring, timeout=0.3)
    try:
        with pytest.raises(StoreUnreachable) as raised:
            await reader.lookup(workspace.sdk_key)
    finally:
        await reader.client.aclose()
    said = str(raised.value)
    assert "no answer within 0.3 s" in said and "event loop was on time" in said, said
