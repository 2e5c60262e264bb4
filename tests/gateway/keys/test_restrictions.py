"""Allow-listed scopes and networks, decided by a real gateway in front of the test app
(tests/support/apps.py), from keys stored in the suite's Redis."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import KeyGateMiddleware
from gateway.config import GatewayConfig
from policies import ConfigError, PolicyStore, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def scope_of(key: str, method: str, path: str, client: str = "127.0.0.1", **extra: Any) -> Any:
    headers = [(b"authorization", f"Bearer {key}".encode()), *extra.pop("headers", [])]
    return http_scope(path, method, headers, client=(client, 40000), **extra)


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        (["projects.list"], {"GET /projects"}),
        (["projects:*"], {"GET /projects", "POST /projects", "DELETE /projects/7"}),
        (["projects:write"], {"GET /projects", "POST /projects", "DELETE /projects/7"}),
        (["projects:read"], {"GET /projects"}),  # POST and DELETE write
        (["projects:read", "members.invite"], {"GET /projects", "POST /members"}),
        (["billing:read", "billing.read"], {"GET /billing"}),  # a level, a functionality
    ],
)
async def test_a_scoped_token_runs_only_its_actions(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    scopes: list[str],
    allowed: set[str],
) -> None:
    token = store.create_token(workspace.workspace_id, "ci", actor="test", scopes=scopes).token
    requests = [
        "GET /projects",
        "POST /projects",
        "DELETE /projects/7",
        "POST /members",
        "GET /billing",
        "GET /reports/export",
    ]
    for request in requests:
        method, path = request.split()
        answer = await call(gate, scope_of(token, method, path))
        if request in allowed:
            assert answer.status == 200, request
        else:
            assert answer.status == 403, request
            body = answer.json()
            assert body["code"] == "action_not_allowed"
            assert f"{body['module']}.{body['functionality']}" in body["detail"]


async def test_outside_the_catalog_a_scoped_key_is_refused_even_when_unmatched_allows(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(unmatched="allow")
    ws = workspace.workspace_id
    scoped = store.create_token(ws, "scoped", actor="test", scopes=["projects:*"]).token
    plain = store.create_token(ws, "plain", actor="test").token
    assert (await call(gate, scope_of(plain, "GET", "/uncatalogued"))).status == 200
    answer = await call(gate, scope_of(scoped, "GET", "/uncatalogued"))
    assert answer.status == 403 and answer.json()["code"] == "route_not_in_catalog"
    await gate.stop()


async def test_the_sdk_key_restricted_and_lifted_at_once(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, sdk = workspace.workspace_id, workspace.sdk_key
    assert (await call(gate, scope_of(sdk, "POST", "/members"))).status == 200
    store.restrict_sdk_key(ws, scopes=["projects:read"], networks=["10.0.0.0/8"], actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    assert (await call(gate, scope_of(sdk, "GET", "/projects", "10.2.3.4"))).status == 200
    refused = await call(gate, scope_of(sdk, "POST", "/members", "10.2.3.4"))
    assert refused.json()["code"] == "action_not_allowed"
    outside = await call(gate, scope_of(sdk, "GET", "/projects", "192.0.2.1"))
    assert outside.status == 403 and outside.json()["code"] == "network_not_allowed"
    store.restrict_sdk_key(ws, scopes=None, networks=None, actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    assert (await call(gate, scope_of(sdk, "POST", "/members", "192.0.2.1"))).status == 200


async def test_a_rolled_sdk_key_keeps_its_allow_lists(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    store.restrict_sdk_key(ws, scopes=["projects.list"], networks=["10.0.0.0/8"], actor="test")
    new = store.roll_sdk_key(ws, actor="test", grace_seconds=60)
    for key in (new, workspace.sdk_key):  # the new one, and the old one in its grace
        assert (await call(gate, scope_of(key, "GET", "/projects", "10.0.0.1"))).status == 200
        assert (await call(gate, scope_of(key, "POST", "/projects", "10.0.0.1"))).status == 403
        assert (await call(gate, scope_of(key, "GET", "/projects", "11.0.0.1"))).status == 403
    assert store.sdk_restriction(ws).networks == ("10.0.0.0/8",)


@pytest.mark.parametrize(
    ("client", "status"),
    [
        ("203.0.113.9", 200),
        ("203.0.113.255", 200),
        ("203.0.114.1", 403),
        ("::ffff:203.0.113.9", 200),  # IPv4-mapped: the IPv4 address
        ("2001:db8:1::5", 200),
        ("2001:db8:2::5", 403),
        ("::1", 403),
        ("not-an-address", 403),
    ],
)
async def test_a_token_restricted_to_networks(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    client: str,
    status: int,
) -> None:
    token = store.create_token(
        workspace.workspace_id,
        "office",
        actor="test",
        networks=["203.0.113.0/24", "2001:db8:1::/48"],
    ).token
    answer = await call(gate, scope_of(token, "GET", "/projects", client))
    assert answer.status == status
    if status == 403:
        assert answer.json()["code"] == "network_not_allowed"


async def test_a_unix_socket_peer_has_no_address_to_allow(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "office", actor="test", networks=["127.0.0.0/8"]).token
    assert (await call(gate, scope_of(token, "GET", "/projects"))).status == 200
    answer = await call(gate, {**scope_of(token, "GET", "/projects"), "client": None})
    assert answer.status == 403


SPOOFS = [
    [(b"x-forwarded-for", b"10.0.0.1")],
    [(b"forwarded", b"for=10.0.0.1")],
    [(b"x-real-ip", b"10.0.0.1")],
    [(b"x-forwarded-for", b"10.0.0.1, 10.0.0.2")],
]


@pytest.mark.parametrize("spoof", SPOOFS)
@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
async def test_forwarding_headers_from_an_untrusted_peer_are_never_honoured(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    spoof: list[tuple[bytes, bytes]],
    header: str,
) -> None:
    gate = make_gate(trusted_proxies=["192.0.2.0/28"], forwarded_header=header)
    ws = workspace.workspace_id
    token = store.create_token(ws, "office", actor="test", networks=["10.0.0.0/8"]).token
    answer = await call(gate, scope_of(token, "GET", "/projects", "198.51.100.7", headers=spoof))
    assert answer.status == 403 and answer.json()["code"] == "network_not_allowed"
    await gate.stop()


@pytest.mark.parametrize(
    ("header", "values", "status"),
    [
        # The right-most address that is not a trusted proxy is the client's.
        ("x-forwarded-for", [b"10.1.1.1"], 200),
        ("x-forwarded-for", [b"198.51.100.7, 10.1.1.1"], 200),  # a spoofed left part: ignored
        ("x-forwarded-for", [b"10.1.1.1, 198.51.100.7"], 403),  # the client is 198.51.100.7
        ("x-forwarded-for", [b"10.1.1.1, 192.0.2.3"], 200),  # through a second trusted proxy
        ("x-forwarded-for", [b"10.1.1.1", b"192.0.2.3"], 200),  # the same in two lines
        ("x-forwarded-for", [b"198.51.100.7", b"10.1.1.1"], 200),
        ("x-forwarded-for", [b"unknown"], 403),  # malformed: no address, refused
        ("x-forwarded-for", [b"10.1.1.1, junk"], 403),
        ("x-forwarded-for", [], 403),  # none: the proxy itself (192.0.2.1) is the client
        ("forwarded", [b'for=10.1.1.1;proto=https, for="192.0.2.3:4711"'], 200),
        ("forwarded", [b'for="[2001:db8:cafe::17]:4711"'], 200),
        ("forwarded", [b"for=198.51.100.7"], 403),
        ("forwarded", [b"for=_hidden"], 403),
        ("forwarded", [b"for=unknown"], 403),
        ("forwarded", [b"by=10.1.1.1"], 403),  # no for=
    ],
)
async def test_a_chain_through_trusted_proxies(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    header: str,
    values: list[bytes],
    status: int,
) -> None:
    gate = make_gate(
        trusted_proxies=["192.0.2.0/28", "2001:db8:ffff::/48"], forwarded_header=header
    )
    ws = workspace.workspace_id
    networks = ["10.0.0.0/8", "2001:db8:cafe::/48"]
    token = store.create_token(ws, "office", actor="test", networks=networks).token
    headers = [(header.encode(), v) for v in values]
    for peer in ("192.0.2.1", "2001:db8:ffff::1"):
        answer = await call(gate, scope_of(token, "GET", "/projects", peer, headers=headers))
        assert answer.status == status, peer
    await gate.stop()


async def test_keys_without_networks_ignore_forwarding(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(trusted_proxies=["192.0.2.0/28"])
    token = store.create_token(workspace.workspace_id, "any", actor="test").token
    junk = [(b"x-forwarded-for", b"junk")]
    answer = await call(gate, scope_of(token, "GET", "/projects", "192.0.2.1", headers=junk))
    assert answer.status == 200
    await gate.stop()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trusted_proxies": "10.0.0.0/8"}, "a list of networks"),
        ({"trusted_proxies": ["10.0.0.1/8"]}, "has host bits set"),
        ({"trusted_proxies": ["proxy.internal"]}, "does not appear to be an IPv4 or IPv6"),
        ({"forwarded_header": "x-real-ip"}, "forwarded_header must be one of"),
    ],
)
def test_forwarding_options_are_checked_at_construction(
    make_gate: Factory, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_gate(**options)


def test_trusted_proxies_from_the_environment(settings: Any) -> None:
    environ = {
        "KEYSTILE_GATEWAY_TRUSTED_PROXIES": "192.0.2.0/28, 2001:db8:ffff::/48",
        "KEYSTILE_GATEWAY_FORWARDED_HEADER": "forwarded",
    }
    table = Settings(
        settings.redis_url, settings.master_keys, settings.digest_secret, environ=environ
    ).section("gateway", GatewayConfig)
    config = GatewayConfig(**GatewayConfig.from_mapping(table))
    assert config.trusted_proxies == ("192.0.2.0/28", "2001:db8:ffff::/48")
    assert config.forwarded_header == "forwarded"
