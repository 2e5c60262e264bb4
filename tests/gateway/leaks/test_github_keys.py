"""GitHub's key set: what counts as a key, one fetch for many waiting reports, failures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.leaks.github_keys import MAX_KEY_SET, GitHubKeys, KeysUnavailable, parse_key_set
from tests.support.clock import ManualClock
from tests.support.leak_reports import KeyServer, Signer, key_server


def pem(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_only_p256_keys_are_kept() -> None:
    p256 = Signer("a")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    document = {
        "public_keys": [
            {"key_identifier": "a", "key": p256.pem()},
            {"key_identifier": "b", "key": pem(p384)},
            {"key_identifier": "c", "key": pem(rsa_key)},
            {"key_identifier": "d", "key": "not a key"},
            {"key_identifier": 5, "key": p256.pem()},
            "junk",
        ]
    }
    assert set(parse_key_set(json.dumps(document).encode())) == {"a"}
    for bad in (b"nope", b"[]", b'{"public_keys": {}}'):
        with pytest.raises(ValueError):
            parse_key_set(bad)


@pytest.mark.anyio
async def test_many_reports_naming_unknown_keys_wait_for_one_fetch(keys: KeyServer) -> None:
    github = GitHubKeys(keys.url, clock=ManualClock())
    stranger = Signer("nobody")
    body = b"[]"
    results = await asyncio.gather(
        *(github.verify(f"unknown-{i}", stranger.sign(body), body) for i in range(50))
    )
    assert results == [False] * 50 and keys.requests == 1 == github.fetches


@pytest.mark.anyio
async def test_a_failed_fetch_is_unavailable_not_invalid(keys: KeyServer, signer: Signer) -> None:
    clock = ManualClock()
    github = GitHubKeys(keys.url, clock=clock)
    keys.down = True
    with pytest.raises(KeysUnavailable):
        await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    keys.down = False
    with pytest.raises(KeysUnavailable):  # within the refresh period: not asked again
        await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    clock.advance(60)
    assert await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    assert keys.requests == 2


@pytest.mark.anyio
async def test_an_oversized_key_set_is_refused(keys: KeyServer) -> None:
    keys.signers.extend(Signer(f"k{i}" + "x" * 1000) for i in range(MAX_KEY_SET // 1000))
    github = GitHubKeys(keys.url, clock=ManualClock())
    with pytest.raises(KeysUnavailable):
        await github.verify("k0", "c2ln", b"x")


@pytest.fixture
def dripping_keys(signer: Signer) -> Iterator[str]:
    """A key server that sends a valid key set in pieces 0.1 s apart (each within the
    timeout, the whole well past it), then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    body = json.dumps({"public_keys": [{"key_identifier": "a", "key": signer.pem()}]}).encode()
    pieces = [body[i : i + len(body) // 15 + 1] for i in range(0, len(body), len(body) // 15 + 1)]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode())
            for piece in pieces:
                if stop.wait(0.1):
                    return
                conn.sendall(piece)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/keys"
    stop.set()
    server.close()
    thread.join(5)


@pytest.mark.anyio
async def test_a_key_server_dripping_its_answer_is_cut_off(
    dripping_keys: str, signer: Signer
) -> None:
    """The timeout bounds the whole fetch, not each read: a slow key server cannot hold the
    fetch (and every report waiting on it) for long."""
    github = GitHubKeys(dripping_keys, timeout=0.3, clock=ManualClock())
    with pytest.raises(KeysUnavailable):
        await github.verify("a", signer.sign(b"x"), b"x")


@pytest.mark.anyio
async def test_an_old_set_is_kept_while_the_key_server_is_down(
    keys: KeyServer, signer: Signer
) -> None:
    clock = ManualClock()
    github = GitHubKeys(keys.url, clock=clock)
    assert await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    keys.down = True
    clock.advance(3601)  # the set is due again, and the key server fails
    assert await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    assert keys.requests == 2


@pytest.mark.anyio
async def test_a_redirect_is_not_followed(keys: KeyServer, signer: Signer) -> None:
    """The set comes from the configured URL itself: a redirect (elsewhere, or from https
    down to http) is a failed fetch, not another server's keys."""
    stranger = Signer("github-key-1")  # the same name, another key
    with key_server(stranger) as elsewhere:
        server = socket.create_server(("127.0.0.1", 0))

        def redirect() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(
                    f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )

        thread = threading.Thread(target=redirect, daemon=True)
        thread.start()
        github = GitHubKeys(f"http://127.0.0.1:{server.getsockname()[1]}/", clock=ManualClock())
        try:
            with pytest.raises(KeysUnavailable):
                await github.verify("github-key-1", stranger.sign(b"x"), b"x")
        finally:
            thread.join(5)
            server.close()
        assert elsewhere.requests == 0
