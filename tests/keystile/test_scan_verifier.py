"""The TruffleHog verifier: real HTTP requests, shaped as TruffleHog's custom detectors send
them (``{"<detector>": {"<regex name>": [match, groups...]}}``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from keystile.scan_verifier import MAX_BODY, verifier
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind

WS = "ws_AbCdEfGh1234"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = verifier("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def body(*values: str) -> bytes:
    return json.dumps({"KeystileSecretKey": {"key": list(values)}}).encode()


@pytest.mark.parametrize("kind", list(KeyKind))
def test_a_real_key_is_verified_and_never_sent_back(url: str, kind: KeyKind) -> None:
    raw = keyformat.generate(kind, WS)
    answer = httpx.post(url, content=body(raw, raw))
    assert answer.status_code == 200
    assert answer.json() == {"status": 200, "verified": True}
    assert raw[3:] not in answer.text


@pytest.mark.parametrize(
    "values",
    [
        ["sk_" + "A1" * 25],
        [keyformat.generate(KeyKind.SDK, WS)[:-1] + "!"],
        [" " + keyformat.generate(KeyKind.SDK, WS)],  # a key is the whole string
        [],
    ],
)
def test_anything_else_is_refused(url: str, values: list[str]) -> None:
    answer = httpx.post(url, content=body(*values))
    assert (answer.status_code, answer.json()["verified"]) == (403, False)


def test_every_named_regex_must_hold_a_key(url: str) -> None:
    raw = keyformat.generate(KeyKind.TOKEN, WS)
    both = {"D": {"a": [raw], "b": ["not a key"]}}
    assert httpx.post(url, content=json.dumps(both)).status_code == 403


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b"{}", b'{"D": []}', b'{"D": {"a": "x"}}', b'{"D": {}}'],
)
def test_a_body_of_another_shape_is_400(url: str, content: bytes) -> None:
    assert httpx.post(url, content=content).status_code == 400


def test_bounded_body_and_post_only(url: str) -> None:
    assert httpx.post(url, content=b"x" * (MAX_BODY + 1)).status_code == 413
    assert httpx.get(url).status_code == 405


def test_the_command_serves_it_until_stopped() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "keystile", "scan", "--serve-verifier", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("KEYSTILE_")},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "TruffleHog verifier on http://127.0.0.1:" in line
        url = line.split(" on ")[1].split()[0]
        raw = keyformat.generate(KeyKind.SDK, WS)
        assert httpx.post(url, content=body(raw)).status_code == 200
        assert httpx.post(url, content=body(raw[:-1])).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        rest = process.stderr.read()
        process.stderr.close()
    assert raw[3:] not in rest  # nothing logged


def test_it_listens_on_ipv6_too() -> None:
    try:
        server = verifier("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        raw = keyformat.generate(KeyKind.TOKEN, WS)
        url = f"http://[::1]:{server.server_address[1]}/"
        assert httpx.post(url, content=body(raw)).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
