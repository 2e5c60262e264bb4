"""One signed POST to a workspace's endpoint, over the standard library's ``http.client``.

It connects to an address :func:`policies.notify.endpoints.addresses` checked (TLS still
verifies the host's name), follows no redirect, reads at most ``MAX_REPLY`` bytes of the
answer, waits at most the policy's timeout for each network step and ``STEPS`` times it in
all (an endpoint that drips its answer a byte at a time is cut off then).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from policies.notify import events, signing
from policies.notify.endpoints import EndpointPolicy, EndpointRefused, addresses, check_url

MAX_REPLY = 4096
STEPS = 3  # connect, send, answer: a delivery's whole time is at most this many timeouts


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery ended: ``status`` (None: no HTTP answer) and what went wrong."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.ok:
            return f"delivered (HTTP {self.status})"
        return f"HTTP {self.status}" if self.status is not None and not self.error else self.error


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to ``address`` for ``host``'s certificate and SNI."""

    def __init__(self, host: str, address: tuple[str, int], timeout: float) -> None:
        super().__init__(host, address[1], timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection(self.address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedPlain(http.client.HTTPConnection):
    def __init__(self, host: str, address: tuple[str, int], timeout: float) -> None:
        super().__init__(host, address[1], timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection(self.address, self.timeout)


def post(url: str, secret: str, stored_event: str, policy: EndpointPolicy) -> Outcome:
    """Sign ``stored_event`` and POST it; never raises for a network or endpoint failure."""
    msg_id, body = events.body(stored_event)
    try:
        parts = check_url(url, policy)
        found = addresses(parts, policy)
    except EndpointRefused as exc:
        return Outcome(None, str(exc))
    headers = signing.headers(secret, msg_id, int(time.time()), body)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    kind = _Pinned if parts.scheme == "https" else _PinnedPlain
    connection = kind(host, found[0], policy.timeout)
    cut = threading.Event()
    deadline = threading.Timer(STEPS * policy.timeout, _cut, (connection, cut))
    deadline.start()
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_REPLY)
        return Outcome(response.status)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, _reason(exc, cut.is_set(), policy.timeout))
    finally:
        deadline.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """The whole delivery's time is up: end its socket, so a blocked read returns."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _reason(exc: Exception, cut: bool, timeout: float) -> str:
    if cut:
        return f"no complete answer within {STEPS * timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return "TLS failed (certificate or protocol)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"connection failed ({type(exc).__name__})"
