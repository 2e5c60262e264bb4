"""One signed POST to a workspace's endpoint, over the standard library's ``http.client``.

It connects to an address :func:`policies.notify.endpoints.addresses` checked (TLS still
verifies the host's name), follows no redirect, reads at most ``MAX_REPLY`` bytes of the
answer and waits at most the policy's timeout for each network step.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from policies.notify import events, signing
from policies.notify.endpoints import EndpointPolicy, EndpointRefused, addresses, check_url

MAX_REPLY = 4096


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
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_REPLY)
        return Outcome(response.status)
    except ssl.SSLError:
        return Outcome(None, "TLS failed (certificate or protocol)")
    except TimeoutError:
        return Outcome(None, f"no answer within {policy.timeout:g} s")
    except ConnectionRefusedError:
        return Outcome(None, "connection refused")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"connection failed ({type(exc).__name__})")
    finally:
        connection.close()
