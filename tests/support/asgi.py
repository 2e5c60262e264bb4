"""Call an ASGI app in-process with raw scopes: for bytes no HTTP client would send."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    messages: list[Message] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def http_scope(
    path: str = "/projects",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "state": {},
        **extra,
    }


async def call(app: ASGIApp, scope: dict[str, Any]) -> Answer:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Answer(start["status"], dict(start["headers"]), body, messages)


def websocket_scope(
    path: str = "/events",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
        "extensions": extensions or {},
    }


async def websocket(app: ASGIApp, scope: dict[str, Any]) -> list[Message]:
    """Open a WebSocket: what the app sent, in order (the handshake, then any frames)."""
    sent: list[Message] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        # After the handshake the client just goes away.
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Run the app's lifespan around the block, as a server does; yields the lifespan state."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[Message] = asyncio.Queue()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    task = asyncio.ensure_future(app(scope, incoming.get, replies.put))

    async def reply() -> Message:
        """The app's next lifespan message; its error if it dies first (never a hang)."""
        getter = asyncio.ensure_future(replies.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            task.result()  # the app's own error
            raise AssertionError("the app's lifespan ended without answering")
        return getter.result()

    await incoming.put({"type": "lifespan.startup"})
    assert (await reply())["type"] == "lifespan.startup.complete"
    try:
        yield state
    finally:
        await incoming.put({"type": "lifespan.shutdown"})
        assert (await reply())["type"] == "lifespan.shutdown.complete"
        await task
