"""Real nginx (``auth_request``) and Caddy (``forward_auth``) in front of a non-Python API,
asking a real authz service under uvicorn, with the configs of ``docs/proxies.md``.

The upstream is nginx answering fixed text that names the identity headers it received.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.authz.service import AuthzService
from keystile.redis_server import RedisServer
from policies import PolicyStore, Settings
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace
from tests.support import proxies
from tests.support.authz import api_catalog, make_service, mistyped, served_service, wait

PROXIES = [
    pytest.param(
        "nginx",
        marks=pytest.mark.skipif(not proxies.available("nginx"), reason="no nginx"),
    ),
    pytest.param(
        "caddy",
        marks=pytest.mark.skipif(not proxies.available("caddy"), reason="no caddy"),
    ),
]
DIALECT = {"nginx": "nginx", "caddy": "forwarded"}


@contextlib.contextmanager
def front(proxy: str, service: AuthzService, folder: Path) -> Iterator[str]:
    """``proxy`` on a free port in front of the upstream, asking ``service``; its base URL."""
    with served_service(service) as authz:
        upstream, port = proxies.ports(2)
        if proxy == "nginx":
            servers = proxies.upstream_server(upstream) + proxies.nginx_front(authz, upstream, port)
            with proxies.run_nginx(folder / "nginx", servers, [upstream, port]):
                yield f"http://127.0.0.1:{port}"
            return
        with (
            proxies.run_nginx(folder / "nginx", proxies.upstream_server(upstream), [upstream]),
            proxies.run_caddy(folder / "caddy", authz, upstream, port),
        ):
            yield f"http://127.0.0.1:{port}"


def fields(text: str) -> dict[str, str]:
    """``key=value`` words of the upstream's answer."""
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def problem(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = json.loads(response.content)
    return body


@pytest.mark.parametrize("proxy", PROXIES)
def test_decisions_through_the_proxy(
    proxy: str, settings: Settings, ws: CreatedWorkspace, tmp_path: Path
) -> None:
    pk = ws.publishable_key
    service = make_service(settings, dialect=DIALECT[proxy])
    with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as client:
        # Allowed: the upstream runs and receives who called, whatever the client claimed.
        spoofed = {"X-Keystile-Workspace": "someone-else", "X-Keystile-Action": "billing.read"}
        answer = client.get("/projects?page=2", headers={"X-Api-Key": pk, **spoofed})
        assert answer.status_code == 200, answer.text
        assert answer.text.startswith("upstream GET /projects?page=2 ")
        seen = fields(answer.text)
        assert seen["workspace"] == ws.workspace_id
        assert seen["kind"] == "publishable"
        assert seen["key_id"] != ""
        assert seen["action"] == "projects.list"
        sdk = client.post("/projects", headers={"Authorization": f"Bearer {ws.sdk_key}"})
        assert sdk.status_code == 200
        assert fields(sdk.text)["kind"] == "sdk"
        assert fields(sdk.text)["action"] == "projects.create"

        missing = client.get("/projects")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert problem(missing)["code"] == "missing_key"

        invalid = client.get("/projects", headers={"Authorization": "Bearer " + mistyped(pk)})
        assert invalid.status_code == 401
        assert invalid.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert problem(invalid)["code"] == "invalid_key"

        blocked = client.get("/billing", headers={"X-Api-Key": pk})
        assert blocked.status_code == 403
        assert problem(blocked) == {
            "type": "urn:keystile:problem:action_blocked",
            "title": "Action blocked",
            "status": 403,
            "detail": "This key may not use billing.read.",
            "code": "action_blocked",
            "module": "billing",
            "functionality": "read",
        }
        assert "upstream" not in blocked.text
        # A WebSocket handshake is decided as the catalog's WebSocket route.
        upgrade = {
            "X-Api-Key": pk,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
        stream = client.get("/events", headers=upgrade)
        assert fields(stream.text)["action"] == "events.stream"
        plain = client.get("/events", headers={"X-Api-Key": pk})
        assert problem(plain)["code"] == "route_not_in_catalog"
        # nginx passes the URI as sent: segments the API could resolve are refused.
        dots = client.get("/projects/%2E%2E/billing", headers={"X-Api-Key": pk})
        assert dots.status_code == 400
        assert problem(dots)["code"] == "ambiguous_path"
        # The path the upstream gets is the one decided: %0A reaches no route.
        newline = client.get("/billing%0A", headers={"X-Api-Key": pk})
        assert newline.status_code == 400
        assert problem(newline)["code"] == "invalid_path"


@pytest.mark.parametrize("proxy", PROXIES)
def test_rate_limits_reach_the_client_through_the_proxy(
    proxy: str, settings: Settings, api_store: PolicyStore, ws: CreatedWorkspace, tmp_path: Path
) -> None:
    api_store.limits.replace(ws.workspace_id, "pk", ["2/min"], actor="test")
    service = make_service(settings, dialect=DIALECT[proxy])
    headers = {"X-Api-Key": ws.publishable_key}
    with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as client:
        allowed = [client.get("/projects", headers=headers) for _ in range(2)]
        assert [a.status_code for a in allowed] == [200, 200]
        assert allowed[0].text.startswith("upstream GET /projects")
        if proxy == "nginx":  # Caddy's forward_auth cannot hand them on (docs/proxies.md)
            assert allowed[0].headers["ratelimit-policy"] == '"key-60s";q=2;w=60'
            assert allowed[1].headers["ratelimit"].startswith('"key-60s";r=0;t=')
        refused = client.get("/projects", headers=headers)
        assert refused.status_code == 429, refused.text
        assert problem(refused)["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-policy"] == '"key-60s";q=2;w=60'
        assert "upstream" not in refused.text
        # A key without limits gets neither field.
        sdk = client.get("/projects", headers={"Authorization": f"Bearer {ws.sdk_key}"})
        assert sdk.status_code == 200 and "ratelimit" not in sdk.headers


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_revoked_key_is_refused_within_the_invalidation_bound(
    proxy: str, settings: Settings, api_store: PolicyStore, ws: CreatedWorkspace, tmp_path: Path
) -> None:
    old = ws.publishable_key
    service = make_service(settings, dialect=DIALECT[proxy])
    with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as client:
        assert client.get("/projects", headers={"X-Api-Key": old}).status_code == 200  # cached
        revoked_at = time.monotonic()
        new = api_store.rotate_publishable_key(ws.workspace_id, actor="test")
        version = api_store.workspace(ws.workspace_id).version
        # The service's own invalidation event, awaited on its loop (bound: under 1 s).
        assert wait(service, service.gate.invalidation.wait_version(ws.workspace_id, version, 1.0))
        assert time.monotonic() - revoked_at < 1.0
        refused = client.get("/projects", headers={"X-Api-Key": old})
        assert refused.status_code == 401
        assert problem(refused)["code"] == "invalid_key"
        assert client.get("/projects", headers={"X-Api-Key": new}).status_code == 200


@pytest.mark.single_redis
@pytest.mark.parametrize("proxy", PROXIES)
def test_redis_down_is_a_503_with_retry_after_for_the_client(
    proxy: str, master_key: str, digest_secret: str, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=False)
    redis.start()
    try:
        settings = Settings(redis.url, (master_key,), digest_secret)
        client = sync_client(redis.url)
        store = PolicyStore(client, settings.keyring())
        store.save_catalog(api_catalog())
        workspace = store.create_workspace("Acme", actor="test")
        client.close()
        service = make_service(settings, dialect=DIALECT[proxy], retry_after=7)
        with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as http:
            redis.stop()
            # Not cached yet: the key cannot be checked.
            answer = http.get("/projects", headers={"X-Api-Key": workspace.publishable_key})
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "7"
            assert problem(answer)["code"] == "store_unavailable"
            assert "upstream" not in answer.text
    finally:
        redis.stop()


@pytest.mark.parametrize("proxy", PROXIES)
def test_an_untrusted_service_caller_is_refused(
    proxy: str, settings: Settings, ws: CreatedWorkspace, tmp_path: Path
) -> None:
    # The proxy itself is not among the trusted networks: nothing passes, no key is read.
    service = make_service(settings, dialect=DIALECT[proxy], trusted_proxies=["10.9.0.0/16"])
    with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as client:
        answer = client.get("/projects", headers={"X-Api-Key": ws.publishable_key})
        assert answer.status_code == 403
        assert "upstream" not in answer.text


@pytest.mark.parametrize("proxy", PROXIES)
def test_an_exempt_path_passes_without_a_key_and_without_any_identity(
    proxy: str, settings: Settings, api_store: PolicyStore, tmp_path: Path
) -> None:
    service = make_service(settings, dialect=DIALECT[proxy], exempt_paths=["/health"])
    spoofed = {"X-Keystile-Workspace": "ws_spoofed", "X-Keystile-Key-Kind": "sdk"}
    with front(proxy, service, tmp_path) as base, httpx.Client(base_url=base) as client:
        answer = client.get("/health", headers=spoofed)
        assert answer.status_code == 200
        # Empty identity headers: the upstream sees none of what the client claimed.
        assert fields(answer.text) == {"workspace": "", "kind": "", "key_id": "", "action": ""}
        assert client.get("/projects", headers=spoofed).status_code == 401


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_network_restricted_token_through_the_proxy(
    proxy: str, settings: Settings, api_store: PolicyStore, ws: CreatedWorkspace, tmp_path: Path
) -> None:
    """The proxy reports the client's address (loopback has many: the client binds one);
    a forwarding header the client sends itself is never believed."""
    token = api_store.create_token(
        ws.workspace_id, "office", actor="test", networks=["127.0.0.2/32"], scopes=["projects:read"]
    ).token
    service = make_service(settings, dialect=DIALECT[proxy])  # trusts 127.0.0.1: the proxy
    auth = {"Authorization": f"Bearer {token}"}
    with front(proxy, service, tmp_path) as base:

        def client(source: str) -> httpx.Client:
            transport = httpx.HTTPTransport(local_address=source)
            return httpx.Client(base_url=base, transport=transport)

        with client("127.0.0.2") as inside, client("127.0.0.3") as outside:
            allowed = inside.get("/projects", headers=auth)
            assert allowed.status_code == 200, allowed.text
            assert fields(allowed.text)["action"] == "projects.list"
            scoped = inside.post("/projects", headers=auth)
            assert scoped.status_code == 403 and problem(scoped)["code"] == "action_not_allowed"
            for spoof in ({"X-Forwarded-For": "127.0.0.2"}, {"Forwarded": "for=127.0.0.2"}):
                refused = outside.get("/projects", headers={**auth, **spoof})
                assert refused.status_code == 403, refused.text
                assert problem(refused)["code"] == "network_not_allowed"
                assert "upstream" not in refused.text
