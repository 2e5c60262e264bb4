"""One delivery's bounds against real sockets: an endpoint that drips its answer is cut off
after the policy's whole-delivery bound; a redirect is not followed; the body is signed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from policies.notify import events, signing, webhooks
from policies.notify.endpoints import EndpointPolicy
from tests.support.webhooks import Receiver

LOCAL = EndpointPolicy(("127.0.0.1",), timeout=0.3)


@pytest.fixture
def dripping() -> Iterator[int]:
    """A server that answers one byte of a status line every 0.2 s, forever."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"H")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(5)


def test_a_dripping_endpoint_is_cut_off(dripping: int) -> None:
    event = events.event(events.TEST, "ws_AAAAAAAAAAAA", 1e9, {})
    outcome = webhooks.post(f"http://127.0.0.1:{dripping}/h", signing.new_secret(), event, LOCAL)
    assert not outcome.ok
    assert outcome.error == "no complete answer within 0.9 s"


@pytest.fixture
def dripping_tls() -> Iterator[int]:
    """A server that starts a TLS handshake record of 16 KiB and sends one byte of it every
    0.1 s, for 5 s at most (then it hangs up)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record's header
            for _ in range(50):
                if stop.wait(0.1):
                    return
                try:
                    conn.sendall(b"\x02")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(5)


def test_an_endpoint_that_drips_its_tls_handshake_is_cut_off(dripping_tls: int) -> None:
    """A handshake whose every byte comes within the step timeout is still bounded (the
    ssl module gives a whole handshake one timeout; the delivery's bound is the backstop)."""
    event = events.event(events.TEST, "ws_AAAAAAAAAAAA", 1e9, {})
    url = f"https://127.0.0.1:{dripping_tls}/h"
    outcome = webhooks.post(url, signing.new_secret(), event, LOCAL)
    assert not outcome.ok
    assert outcome.error in ("no answer within 0.3 s", "no complete answer within 0.9 s")


def test_a_redirect_is_an_answer_not_followed(receiver: Receiver) -> None:
    receiver.status = 307  # a redirect elsewhere (say, to 169.254.169.254): never followed
    receiver.secret = secret = signing.new_secret()
    event = events.event(events.TEST, "ws_AAAAAAAAAAAA", 1e9, {})
    outcome = webhooks.post(receiver.url, secret, event, LOCAL)
    assert outcome.status == 307 and not outcome.ok and outcome.describe() == "HTTP 307"


def test_events_are_bounded_and_name_no_secret() -> None:
    huge = {"name": "x" * 100_000, "nested": [{"a": list(range(1000))}]}
    stored = events.event(events.LEAKED, "ws_AAAAAAAAAAAA", 1e9, huge)
    assert len(stored.encode()) <= events.MAX_EVENT_BYTES
    msg_id, body = events.body(stored)
    assert msg_id.startswith("msg_") and events.body(stored) == (msg_id, body)  # same bytes


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()
