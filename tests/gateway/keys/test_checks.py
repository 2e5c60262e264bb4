"""A scoped key against hostile requests, through a real gateway in front of the test app
(gateway/keys/checks.py): another method, an override, a WebSocket, a name like a prefix."""

from __future__ import annotations

import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore
from policies.restrictions import MAX_NETWORKS, MAX_SCOPES, RestrictionError
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope, websocket, websocket_scope

pytestmark = pytest.mark.anyio


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


@pytest.mark.parametrize(
    ("method", "path", "headers", "query", "status", "code"),
    [
        ("HEAD", "/projects", [], b"", 200, None),  # the GET route: a read
        ("GET", "/projects", [(b"x-http-method-override", b"DELETE")], b"", 400, None),
        ("POST", "/projects", [(b"x-method-override", b"GET")], b"", 400, None),
        ("POST", "/projects", [], b"_method=GET", 400, None),
        ("OPTIONS", "/projects", [], b"", 403, None),  # a route no method of which is OPTIONS
        ("PUT", "/projects", [], b"", 403, None),
        ("DELETE", "/projects/7", [], b"", 403, "action_not_allowed"),
        ("GET", "/billing", [], b"", 403, "action_not_allowed"),
        ("GET", "/uncatalogued", [], b"", 403, "route_not_in_catalog"),
    ],
)
async def test_a_read_scope_runs_no_write_however_asked(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    status: int,
    code: str | None,
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "reader", actor="test", scopes=["projects:read"]).token
    scope = http_scope(path, method, [bearer(token), *headers], query_string=query)
    answer = await call(gate, scope)
    assert answer.status == status
    if code is not None:
        assert answer.json()["code"] == code
    if status >= 400:
        assert answer.headers[b"content-type"] == b"application/problem+json"


async def test_a_websocket_is_an_action_like_any_other(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    cases = ((["projects:*"], False), (["events:read"], False), (["events.stream"], True))
    for scopes, accepted in cases:  # a WebSocket writes: no read level covers it
        token = store.create_token(ws, "socket", actor="test", scopes=scopes).token
        sent = await websocket(gate, websocket_scope("/events", [bearer(token)]))
        assert (sent[0]["type"] == "websocket.accept") is accepted, scopes


@pytest.mark.parametrize(
    "scopes",
    [
        ["bill:*"],  # a prefix of billing is not billing
        ["Billing:*"],  # names are case-sensitive, as the catalog's
        ["billing.rea"],
        ["billing:admin"],
        ["billing"],
        ["billing.read.extra"],
        ["*:*"],
        [" "],
        [],
        "billing:*",  # one string, not a list
        [f"m{i}.f" for i in range(MAX_SCOPES + 1)],
    ],
)
def test_a_scope_outside_the_catalog_is_never_stored(
    store: PolicyStore, workspace: CreatedWorkspace, scopes: object
) -> None:
    ws = workspace.workspace_id
    with pytest.raises(RestrictionError):
        store.create_token(ws, "bad", actor="test", scopes=scopes)  # type: ignore[arg-type]
    assert store.list_tokens(ws) == []


@pytest.mark.parametrize(
    "networks",
    [
        ["10.0.0.0/33"],
        ["10.0.0.0/-1"],
        ["fe80::1%eth0/64"],  # a zone is one host's interface, and never compared
        ["fe80::1%eth0"],
        ["10.0.0.0/8/8"],
        ["10.0.0.0 /8"],
        [""],
        [10],
        [f"10.0.{i // 256}.{i % 256}" for i in range(MAX_NETWORKS + 1)],
    ],
)
def test_a_network_that_is_not_a_range_is_never_stored(
    store: PolicyStore, workspace: CreatedWorkspace, networks: list[object]
) -> None:
    ws = workspace.workspace_id
    with pytest.raises(RestrictionError):
        store.create_token(ws, "bad", actor="test", networks=networks)  # type: ignore[arg-type]
    assert store.list_tokens(ws) == []


def test_duplicates_and_spellings_are_stored_once(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    info = store.create_token(
        ws,
        "dup",
        actor="test",
        scopes=["projects:*", " projects:write ", "projects:*"],
        networks=["10.1.2.3/8", "10.0.0.0/8", "::ffff:10.0.0.0/104", "2001:DB8::/32"],
    ).info
    assert info.scopes == ("projects:*",)
    assert info.networks == ("10.0.0.0/8", "2001:db8::/32")
