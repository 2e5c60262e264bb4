"""Hostile forwarding headers against a real gateway (gateway/keys/client_address.py): the
address a network-restricted key is decided for is the right-most hop no trusted proxy
vouches for, whatever a client writes to the left of it."""

from __future__ import annotations

import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio

PROXY = "192.0.2.1"  # in trusted_proxies
TRUSTED = ["192.0.2.0/28", "2001:db8:ffff::/48"]
NETWORKS = ["10.0.0.0/8", "2001:db8:cafe::/48"]


async def decide(
    gate: KeyGateMiddleware, token: str, peer: str | None, headers: list[tuple[bytes, bytes]]
) -> int:
    auth = [(b"authorization", f"Bearer {token}".encode()), *headers]
    scope = http_scope("/projects", "GET", auth, client=None if peer is None else (peer, 1))
    return (await call(gate, scope)).status


@pytest.fixture
def token(store: PolicyStore, workspace: CreatedWorkspace) -> str:
    ws = workspace.workspace_id
    return store.create_token(ws, "office", actor="test", networks=NETWORKS).token


@pytest.mark.parametrize(
    ("header", "values", "status"),
    [
        # What a client writes left of the hop the trusted proxy appended is never read:
        # a Squid's "unknown", junk, non-ASCII bytes, an empty element, a port.
        ("x-forwarded-for", [b"unknown, 10.1.1.1"], 200),
        ("x-forwarded-for", [b"junk", b"10.1.1.1"], 200),
        ("x-forwarded-for", [b"\xff\xfe, 10.1.1.1"], 200),
        ("x-forwarded-for", [b", 10.1.1.1"], 200),
        ("x-forwarded-for", [b"198.51.100.7:80, 10.1.1.1"], 200),
        ("x-forwarded-for", [b", ".join([b"junk"] * 5000 + [b"10.1.1.1"])], 200),
        ("x-forwarded-for", [b"unknown, 198.51.100.7"], 403),  # nor does it help
        ("forwarded", [b'for=unknown, for="_hidden", for="\\"x, for=10.1.1.1'], 200),
        ("forwarded", [b"for=198.51.100.7, FOR=10.1.1.1;Proto=https"], 200),
        ("forwarded", [b'for="10.1.1.1:443"'], 200),
        ("forwarded", [b'for="[2001:db8:cafe::1]"'], 200),
        ("forwarded", [b"for=10.1.1.1, for=unknown"], 403),  # the client's own hop: unknown
        ("forwarded", [b'for="[2001:db8:cafe::1%eth0]"'], 403),  # no zone id in RFC 7239
        # IPv4-mapped IPv6 is its IPv4 address, as a hop and as a trusted proxy.
        ("x-forwarded-for", [b"::ffff:10.1.1.1"], 200),
        ("x-forwarded-for", [b"10.1.1.1, ::ffff:192.0.2.3"], 200),
        ("x-forwarded-for", [b"::ffff:198.51.100.7"], 403),
        # A chain of trusted hops longer than any deployment builds: unknown, and cheap.
        ("x-forwarded-for", [b"10.1.1.1, " + b", ".join([b"192.0.2.3"] * 40)], 403),
        ("x-forwarded-for", [b"10.1.1.1 ,\t192.0.2.3 "], 200),  # whitespace around hops
    ],
)
async def test_only_the_right_most_untrusted_hop_counts(
    make_gate: Factory, token: str, header: str, values: list[bytes], status: int
) -> None:
    gate = make_gate(trusted_proxies=TRUSTED, forwarded_header=header)
    headers = [(header.encode(), v) for v in values]
    for peer in (PROXY, "::ffff:192.0.2.1"):  # a dual-stack socket maps the proxy's IPv4
        assert await decide(gate, token, peer, headers) == status, peer
    await gate.stop()


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-forwarded-for", b"10.1.1.1")],
        [(b"forwarded", b"for=10.1.1.1")],
        [(b"x-forwarded-for", b"192.0.2.1, 10.1.1.1")],  # names a trusted proxy: still no
    ],
)
async def test_an_untrusted_peer_is_its_own_address_whatever_it_claims(
    make_gate: Factory, token: str, headers: list[tuple[bytes, bytes]]
) -> None:
    gate = make_gate(trusted_proxies=TRUSTED)
    assert await decide(gate, token, "198.51.100.7", headers) == 403
    assert await decide(gate, token, None, headers) == 403  # a Unix socket: no address
    assert await decide(gate, token, "10.1.1.1", headers) == 200  # the peer, not the header
    await gate.stop()


async def test_a_mapped_network_is_its_ipv4_range(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "mapped", actor="test", networks=["::ffff:10.0.0.0/104"])
    assert token.info.networks == ("10.0.0.0/8",)
    for peer, status in (("10.2.3.4", 200), ("::ffff:10.2.3.4", 200), ("11.0.0.1", 403)):
        assert await decide(gate, token.token, peer, []) == status, peer


async def test_a_mapped_trusted_proxy_is_its_ipv4_range(make_gate: Factory, token: str) -> None:
    """As for a key's networks, ``::ffff:192.0.2.0/124`` is ``192.0.2.0/28``: the proxy is
    trusted whichever way the socket spells its address."""
    gate = make_gate(trusted_proxies=["::ffff:192.0.2.0/124"])
    for peer in (PROXY, "::ffff:192.0.2.1"):
        assert await decide(gate, token, peer, [(b"x-forwarded-for", b"10.1.1.1")]) == 200
        assert await decide(gate, token, peer, [(b"x-forwarded-for", b"192.0.2.9")]) == 403
    await gate.stop()
