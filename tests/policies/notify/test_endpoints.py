"""Where a workspace's webhooks may go: https to public addresses; private, loopback and
reserved addresses (SSRF) and plain http only when the deployment allows them."""

from __future__ import annotations

import pytest

from policies import Keyring, PolicyStore
from policies.notify.endpoints import EndpointPolicy, EndpointRefused, addresses, check_url
from policies.operations import notify
from policies.storage.values import CreatedWorkspace

STRICT = EndpointPolicy()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://", "https"),
        ("https://hooks.example.com:0/", "port"),
        ("https://[::1/", "valid URL"),
        ("https://h.example.com/\n", "URL"),
        ("x" * 3000, "URL"),
    ],
)
def test_bad_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=why):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "[::1]", "0.0.0.0", "localhost"],
)
def test_private_and_loopback_addresses_are_refused(host: str) -> None:
    with pytest.raises(EndpointRefused, match="private, loopback or reserved"):
        addresses(check_url(f"https://{host}/hook", STRICT), STRICT)


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254, in hex
        "[64:ff9b::7f00:1]",  # NAT64 (RFC 6052) of 127.0.0.1: the translator reaches it
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[64:ff9b:1::a00:1]",  # local-use NAT64 (RFC 8215)
        "[::127.0.0.1]",  # IPv4-compatible (deprecated)
        "[::ffff:0:7f00:1]",  # IPv4-translated (SIIT)
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
        "[::]",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0177.0.0.1",  # octal
        "0x7f.1",
    ],
)
def test_ipv6_spellings_of_private_ipv4_addresses_are_refused(host: str) -> None:
    """SSRF through an IPv6 address that carries (or a translator maps to) a private IPv4
    one: Python's ``is_global`` calls several of these public."""
    with pytest.raises(EndpointRefused, match="private, loopback or reserved"):
        addresses(check_url(f"https://{host}/hook", STRICT), STRICT)


def test_a_nat64_address_of_a_public_ipv4_address_is_allowed() -> None:
    assert addresses(check_url("https://[64:ff9b::808:808]/hook", STRICT), STRICT)


def test_an_allowed_host_or_network_may_be_private_and_plain_http() -> None:
    policy = EndpointPolicy(("10.0.0.0/8", "localhost"))
    assert addresses(check_url("http://10.1.2.3:8080/h", policy), policy) == [("10.1.2.3", 8080)]
    assert addresses(check_url("http://localhost/h", policy), policy)
    with pytest.raises(EndpointRefused):
        check_url("http://192.168.0.1/h", policy)


def test_setting_an_endpoint_checks_it_and_audits_only_its_host(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    with pytest.raises(EndpointRefused):
        store.run(notify.set_endpoint(store.ctx, ws, "https://127.0.0.1/h", STRICT, actor="t"))
    policy = EndpointPolicy(("127.0.0.1",))
    url = "http://127.0.0.1:9/hooks/t0ken-in-path"
    secret = store.run(notify.set_endpoint(store.ctx, ws, url, policy, actor="t"))
    assert secret.startswith("whsec_")
    assert store.run(notify.endpoint(store.ctx, ws)) == (url, secret)
    assert secret not in str(store.client.hgetall(f"ks:{{{ws}}}:notify"))  # encrypted
    [entry] = [e for e in store.audit_tail(ws) if e.action == "notify.endpoint_set"]
    assert entry.detail == {"host": "127.0.0.1"}
    rotated = store.run(notify.rotate_secret(store.ctx, ws, actor="t"))
    assert rotated != secret and store.run(notify.endpoint(store.ctx, ws))[1] == rotated


def test_mail_addresses_are_checked(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    for bad in (["a@b.test, c@d.test"], ["Eve <e@x.test>"], ["x\r\nBcc: e@x.test"], "a@b.test"):
        with pytest.raises(Exception, match="address"):
            store.run(notify.set_emails(store.ctx, ws, bad, actor="t"))
    assert store.run(notify.set_emails(store.ctx, ws, ["a@b.test", "a@b.test"], actor="t")) == [
        "a@b.test"
    ]


def test_the_signing_secret_is_rewrapped_with_the_keys(
    store: PolicyStore, workspace: CreatedWorkspace, master_key: str, digest_secret: str
) -> None:
    ws = workspace.workspace_id
    policy = EndpointPolicy(("127.0.0.1",))
    secret = store.run(notify.set_endpoint(store.ctx, ws, "http://127.0.0.1:9/", policy, actor="t"))
    newer = Keyring.generate_master_key()
    rotated = PolicyStore(store.client, Keyring([newer, master_key], digest_secret))
    assert (
        rotated.deployment.rewrap_secrets(actor="t").rewrapped == 3
    )  # two role keys and the secret
    only_new = PolicyStore(store.client, Keyring([newer], digest_secret))
    assert only_new.run(notify.endpoint(only_new.ctx, ws))[1] == secret
