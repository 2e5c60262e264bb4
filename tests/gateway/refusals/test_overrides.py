"""Method overrides and doubled Origin/Referer headers (issue 22): refused before an app
that honours them could run another route than the one decided."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore, Rule
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio
OVERRIDES = [
    ([(b"x-http-method-override", b"DELETE")], b""),
    ([(b"x-http-method", b"delete")], b""),
    ([(b"x-method-override", b"DELETE")], b""),
    ([], b"_method=DELETE"),
    ([], b"%5Fmethod=DELETE"),  # the key as an app decodes it
    ([], b"a=1&_method=DELETE"),
]


def keyed(
    key: str, headers: list[tuple[bytes, bytes]], query: bytes = b"", **scope: Any
) -> dict[str, Any]:
    auth = (b"authorization", f"Bearer {key}".encode())
    return http_scope(headers=[auth, *headers], query_string=query, **scope)


@pytest.fixture
async def blocked(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> AsyncIterator[Factory]:
    """Gateways (any options) for a workspace whose publishable key may not delete."""
    store.add_rule(workspace.workspace_id, Rule("projects", "delete"), actor="test")
    started: list[KeyGateMiddleware] = []

    def make(**options: object) -> KeyGateMiddleware:
        gate = make_gate(**options)
        started.append(gate)
        return gate

    yield make
    for gate in started:
        await gate.stop()


@pytest.mark.parametrize(("headers", "query"), OVERRIDES)
async def test_an_override_is_refused_by_default(
    blocked: Factory,
    workspace: CreatedWorkspace,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
) -> None:
    gate = blocked()
    for key in (workspace.publishable_key, workspace.sdk_key):  # whatever the key may do
        scope = keyed(key, headers, query, path="/projects/p-1", method="POST")
        answer = await call(gate, scope)
        assert answer.status == 400 and answer.json()["code"] == "method_override"
        assert "state" not in scope or "action" not in scope["state"]  # the app never ran


@pytest.mark.parametrize(("headers", "query"), OVERRIDES)
async def test_decide_mode_decides_for_the_overriding_method(
    blocked: Factory,
    workspace: CreatedWorkspace,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
) -> None:
    gate = blocked(method_override="decide")
    scope = keyed(workspace.publishable_key, headers, query, path="/projects/p-1", method="POST")
    answer = await call(gate, scope)
    assert answer.status == 403 and answer.json()["functionality"] == "delete"
    sdk = keyed(workspace.sdk_key, headers, query, path="/projects/p-1", method="POST")
    admitted = await call(gate, sdk)  # this app ignores overrides: its own 405 for POST
    assert admitted.status == 405 and b"problem" not in admitted.headers.get(b"content-type", b"")
    assert sdk["state"]["action"] == "projects.delete"  # decided as the override, not POST


async def test_decide_mode_refuses_disagreeing_or_odd_overrides(
    blocked: Factory, workspace: CreatedWorkspace
) -> None:
    gate = blocked(method_override="decide")
    for headers, query in [
        ([(b"x-http-method-override", b"DELETE")], b"_method=GET"),
        ([(b"x-http-method-override", b"DEL ETE")], b""),
        ([(b"x-http-method-override", b"")], b""),
    ]:
        scope = keyed(workspace.sdk_key, headers, query, path="/projects/p-1", method="POST")
        answer = await call(gate, scope)
        assert answer.status == 400 and answer.json()["code"] == "method_override", headers


async def test_queries_without_an_override_pass(
    blocked: Factory, workspace: CreatedWorkspace
) -> None:
    gate = blocked()
    for query in (b"page_size=2", b"q=%41", b"method=DELETE", b"x_method=DELETE"):
        scope = keyed(workspace.publishable_key, [], query)
        assert (await call(gate, scope)).status == 200, query


@pytest.mark.parametrize(
    "headers",
    [
        [(b"origin", b"https://a.example"), (b"origin", b"https://b.example")],
        [(b"origin", b"https://a.example"), (b"origin", b"https://a.example")],
        [(b"referer", b"https://a.example/"), (b"referer", b"https://b.example/")],
    ],
)
async def test_two_origins_are_refused_never_the_last_one_checked(
    blocked: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    headers: list[tuple[bytes, bytes]],
) -> None:
    gate = blocked()
    store.set_origins(workspace.workspace_id, ["https://b.example"], actor="test")
    answer = await call(gate, keyed(workspace.publishable_key, headers))
    assert answer.status == 400 and answer.json()["code"] == "invalid_origin"


async def test_one_origin_and_several_referers_is_decided_on_the_origin(
    blocked: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = blocked()
    store.set_origins(workspace.workspace_id, ["https://b.example"], actor="test")
    headers = [
        (b"origin", b"https://b.example"),
        (b"referer", b"https://b.example/x"),
        (b"referer", b"https://c.example/y"),
    ]
    assert (await call(gate, keyed(workspace.publishable_key, headers))).status == 200
