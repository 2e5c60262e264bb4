"""The ASGI plumbing of :mod:`gateway.authz.service`: the app behind the gateway and the ``send``
adapters that turn each answer into the one the proxy relays.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from gateway.authz.config import AuthzConfig
from gateway.keys.identity import SCOPE_NAMES

PROBLEM_HEADER = b"x-keystile-problem"
_KIND_NAMES = {kind: name.encode() for kind, name in SCOPE_NAMES.items()}
_NO_BODY = (b"content-length", b"0")


async def handshake() -> Message:
    return {"type": "websocket.connect"}  # what the refusal awaits before answering


class HttpAnswer:
    """The ``send`` of a WebSocket check: its HTTP answer goes out as the check's answer."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.http.response.start":
            await self.send({**message, "type": "http.response.start"})
        elif kind == "websocket.http.response.body":
            await self.send({**message, "type": "http.response.body"})
        else:  # never sent by the gateway here; refuse rather than leave the proxy hanging
            await self.send({"type": "http.response.start", "status": 403, "headers": []})
            await self.send({"type": "http.response.body", "body": b""})


class WebSocketAnswer:
    """The ``send`` of a check that came as a WebSocket handshake: its answer in HTTP."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        await self.send({**message, "type": "websocket." + message["type"]})


class ProblemInHeader:
    """nginx keeps a refused check's headers only: the problem's body goes in one too."""

    __slots__ = ("send", "start")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.start = message  # held until its body is known (one message: Rendered)
            return
        start = self.start
        if start is not None and message["type"] == "http.response.body":
            self.start = None
            headers = [*start["headers"], (PROBLEM_HEADER, message.get("body", b""))]
            await self.send({**start, "headers": headers})
        await self.send(message)


class HeadAnswer:
    """The ``send`` of a check that is not itself a ``HEAD`` about a ``HEAD`` (nginx's
    ``auth_request`` asks with ``GET``): the answer's body is left out, so is its length."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(n, v) for n, v in message["headers"] if n != b"content-length"]
            message = {**message, "headers": headers}
        await self.send(message)


class Identity:
    """The app behind the gateway: 200 and who the caller is (the gateway's scope state)."""

    __slots__ = ("action", "key_id", "key_kind", "workspace")

    def __init__(self, config: AuthzConfig) -> None:
        self.workspace = config.workspace_header.encode()
        self.key_kind = config.key_kind_header.encode()
        self.key_id = config.key_id_header.encode()
        self.action = config.action_header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every allowed check ends here: built inline, no more than the answer needs.
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        state = scope["state"]
        key_kind = state.get("key_kind")
        headers = [
            (self.workspace, (state.get("workspace_id") or "").encode()),
            (self.key_kind, b"" if key_kind is None else _KIND_NAMES[key_kind]),
            (self.key_id, (state.get("key_id") or "").encode()),
            (self.action, (state.get("action") or "").encode()),
            _NO_BODY,
        ]
        if kind == "websocket":
            start, body = "websocket.http.response.start", "websocket.http.response.body"
        else:
            start, body = "http.response.start", "http.response.body"
            if type(send) is ProblemInHeader:  # passes a 200 as it is: one layer less
                send = send.send
        await send({"type": start, "status": 200, "headers": headers})
        await send({"type": body, "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
