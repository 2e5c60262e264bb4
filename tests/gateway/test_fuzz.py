"""Whatever bytes arrive in the headers, the answer is a decision, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import PROBLEMS, KeyGateMiddleware
from policies import PolicyStore, Rule
from policies.keys.keyformat import KeyKind, generate
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope, websocket, websocket_scope
from tests.support.gateway import Factory

KEY_HEADERS = [b"authorization", b"x-api-key", b"origin", b"referer"]


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for every example (the gateway's client and tasks live on it)."""
    with asyncio.Runner() as runner:
        yield runner


def header_values(keys: list[str]) -> st.SearchStrategy[bytes]:
    key = st.sampled_from([k.encode() for k in keys])
    junk = st.binary(max_size=200)
    return st.one_of(
        junk,
        key,
        st.builds(lambda k: b"Bearer " + k, key),
        st.builds(lambda k, j: b"Bearer " + k + j, key, junk),
        st.builds(
            lambda s, j: s + j, st.sampled_from([b"Bearer ", b"bearer", b"BEARER  ", b""]), junk
        ),
        st.builds(
            lambda k, i, b: k[:i] + bytes([b]) + k[i + 1 :],
            key,
            st.integers(0, 52),
            st.integers(0, 255),
        ),
        st.binary(min_size=8_000, max_size=70_000),  # huge
        st.sampled_from([b"https://app.example", b"null", b"\xff\xfe", b"http://", b"://"]),
    )


def headers_strategy(keys: list[str]) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    names = st.one_of(st.sampled_from(KEY_HEADERS), st.binary(min_size=1, max_size=30))
    return st.lists(st.tuples(names, header_values(keys)), max_size=8)


def assert_answer(status: int, headers: dict[bytes, bytes], body: bytes) -> bool:
    """True if the gateway refused (a problem), False if the app answered."""
    assert status != 500
    if headers.get(b"content-type") != b"application/problem+json":
        assert status in (200, 307, 404, 405), status  # the app's own answers
        return False
    problem = json.loads(body)
    assert problem["code"] in PROBLEMS and problem["status"] == status
    assert status in (400, 401, 403, 503)
    return True


@pytest.mark.slow
def test_no_header_bytes_make_a_500(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, runner: asyncio.Runner
) -> None:
    ws = workspace.workspace_id
    store.add_rule(ws, Rule("projects", "create"), actor="test")
    store.set_origins(ws, ["https://app.example"], actor="test")
    token = store.create_token(ws, "t", actor="test")
    keys = [
        workspace.sdk_key,
        workspace.publishable_key,
        token.token,
        generate(KeyKind.TOKEN, ws),  # well-formed, unknown
    ]
    gate: KeyGateMiddleware = make_gate()
    runner.run(gate.start())
    seen: set[tuple[bool, int]] = set()
    sdk = (b"authorization", b"Bearer " + workspace.sdk_key.encode())
    publishable = [(b"x-api-key", workspace.publishable_key.encode())]
    from_app = [*publishable, (b"origin", b"https://app.example")]

    # The explicit examples exercise both sides of the gate, whatever the draw.
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @example(headers=[sdk], method="GET", path="/projects")
    @example(headers=from_app, method="POST", path="/projects")
    @example(headers=[], method="GET", path="/projects")
    @given(
        headers=headers_strategy(keys),
        method=st.sampled_from(["GET", "POST", "HEAD", "DELETE", "OPTIONS", "PUT"]),
        path=st.one_of(
            st.sampled_from(["/projects", "/projects/1", "/members/7", "/billing", "/x"]),
            st.text(max_size=40).map(lambda t: "/" + t),
        ),
    )
    def one_request(headers: list[tuple[bytes, bytes]], method: str, path: str) -> None:
        answer = runner.run(call(gate, http_scope(path, method, headers)))
        if method == "HEAD":
            assert answer.status != 500
            return
        refused = assert_answer(answer.status, answer.headers, answer.body)
        seen.add((refused, answer.status))

    one_request()
    runner.run(gate.stop())
    # The strategies did reach both sides of the gate.
    assert (False, 200) in seen and (True, 401) in seen and (True, 403) in seen


@pytest.mark.slow
def test_no_header_bytes_break_a_websocket(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, runner: asyncio.Runner
) -> None:
    keys = [workspace.sdk_key, workspace.publishable_key]
    gate: KeyGateMiddleware = make_gate()
    runner.run(gate.start())

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(headers=headers_strategy(keys))
    def one_socket(headers: list[tuple[bytes, bytes]]) -> None:
        sent = runner.run(websocket(gate, websocket_scope("/events", headers)))
        first = sent[0]
        if first["type"] == "websocket.close":
            assert first["code"] in {p.close_code for p in PROBLEMS.values()}
        else:
            assert first["type"] == "websocket.accept"

    one_socket()
    runner.run(gate.stop())
