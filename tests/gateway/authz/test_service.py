"""The authz service under a real uvicorn, asked as each proxy documents it asks.

Traefik and Envoy are not packaged here, so their contracts are sent as their docs describe
them (Traefik ``ForwardAuth``: a GET with ``X-Forwarded-Method/-Proto/-Host/-Uri/-For`` and
the client's headers; Envoy ``ext_authz`` HTTP service: the original method, the
``path_prefix`` before the original path and query, ``Host``, ``Authorization`` and the
allowed headers). nginx and Caddy themselves run in ``test_authz_proxies``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from gateway import KeyGateMiddleware
from gateway.authz.service import AuthzService
from policies import ConfigError, PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support import proxies
from tests.support.authz import make_service, mistyped, served_service, wait
from tests.support.served import served

SECRET = "s3cr3t-" * 6


@pytest.fixture
def forwarded(settings: Settings, api_store: PolicyStore) -> Iterator[httpx.Client]:
    with (
        served_service(make_service(settings, dialect="forwarded")) as authz,
        httpx.Client(base_url=f"http://{authz}") as client,
    ):
        yield client


def traefik(method: str, uri: str, **headers: str) -> dict[str, str]:
    """What Traefik's ForwardAuth sends (a GET to the address), per its documentation."""
    return {
        "X-Forwarded-Method": method,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "api.example",
        "X-Forwarded-Uri": uri,
        "X-Forwarded-For": "203.0.113.9",
        **headers,
    }


def identity(answer: httpx.Response) -> tuple[str, ...]:
    return tuple(
        answer.headers[f"x-keystile-{name}"] for name in ("workspace", "key-kind", "action")
    )


def test_traefik_forward_auth_contract(forwarded: httpx.Client, ws: CreatedWorkspace) -> None:
    sdk = {"Authorization": f"Bearer {ws.sdk_key}"}
    allowed = forwarded.get("/", headers=traefik("POST", "/projects?draft=1", **sdk))
    assert allowed.status_code == 200
    assert allowed.content == b""
    assert identity(allowed) == (ws.workspace_id, "sdk", "projects.create")
    assert allowed.headers["x-keystile-key-id"] != ""
    pk = {"X-Api-Key": ws.publishable_key}
    blocked = forwarded.get("/", headers=traefik("GET", "/billing", **pk))
    assert blocked.status_code == 403
    assert json.loads(blocked.content)["code"] == "action_blocked"
    assert "x-keystile-problem" not in blocked.headers  # nginx's dialect only
    # The decoded path is the one decided, as uvicorn would decode it for an ASGI app.
    decoded = forwarded.get("/", headers=traefik("DELETE", "/projects/%37", **pk))
    assert identity(decoded) == (ws.workspace_id, "publishable", "projects.delete")
    outside = forwarded.get("/", headers=traefik("GET", "/admin", **pk))
    assert json.loads(outside.content)["code"] == "route_not_in_catalog"
    # Segments an API may merge or resolve into another route are refused, decoded or not.
    for path in (
        "/projects/../billing",
        "/projects/%2e%2e/billing",
        "//billing",
        "/x%2F..%2Fbilling",
    ):
        ambiguous = forwarded.get("/", headers=traefik("GET", path, **sdk))
        assert ambiguous.status_code == 400, path
        assert json.loads(ambiguous.content)["code"] == "ambiguous_path"
    # The check's own method and path say nothing: the description does.
    same = forwarded.post("/anything", headers=traefik("POST", "/projects", **sdk))
    assert identity(same) == (ws.workspace_id, "sdk", "projects.create")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Forwarded-Method": "GET"}, "no x-forwarded-uri"),
        ({"X-Forwarded-Uri": "/projects"}, "no x-forwarded-method"),
        (
            [
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Uri", "/billing"),
                ("X-Forwarded-Uri", "/projects"),
            ],
            "more than once",
        ),
        ({"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "http://evil/projects"}, "'/...'"),
        ({"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "projects"}, "'/...'"),
        ({"X-Forwarded-Method": "G E", "X-Forwarded-Uri": "/projects"}, "method token"),
    ],
)
def test_a_check_that_describes_no_request_is_refused(
    forwarded: httpx.Client, ws: CreatedWorkspace, headers: Any, why: str
) -> None:
    key = [("X-Api-Key", ws.publishable_key)]
    items = list(headers.items()) if isinstance(headers, dict) else headers
    answer = forwarded.get("/", headers=items + key)
    assert answer.status_code == 400
    body = json.loads(answer.content)
    assert body["code"] == "invalid_check_request"
    assert why in body["detail"]


def test_refusals_are_the_middlewares_byte_for_byte(
    settings: Settings, forwarded: httpx.Client, ws: CreatedWorkspace
) -> None:
    pk = {"X-Api-Key": ws.publishable_key}
    cases = [
        ("GET", "/projects", {}),
        ("GET", "/projects", {"X-Api-Key": mistyped(ws.publishable_key)}),
        ("GET", "/billing", pk),
        ("GET", "/nowhere", pk),
        ("GET", "/billing%0A", pk),
        ("GET", "/projects", {**pk, "Authorization": f"Bearer {ws.sdk_key}"}),
    ]
    gate = KeyGateMiddleware(Starlette(), settings=settings, registry=CollectorRegistry())
    with served(gate) as base, httpx.Client(base_url=base) as direct:
        for method, uri, headers in cases:
            mine = forwarded.get("/", headers=traefik(method, uri, **headers))
            theirs = direct.request(method, uri, headers=headers)
            assert mine.status_code == theirs.status_code >= 400, uri
            assert mine.content == theirs.content
            for name in ("content-type", "www-authenticate", "retry-after", "cache-control"):
                assert mine.headers.get(name) == theirs.headers.get(name), name


def test_envoy_ext_authz_contract(settings: Settings, ws: CreatedWorkspace) -> None:
    service = make_service(settings, dialect="envoy", path_prefix="/ext_authz")
    envoy = {"Host": "api.example", "Content-Length": "0", "x-envoy-expected-rq-timeout-ms": "1000"}
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        sdk = {**envoy, "Authorization": f"Bearer {ws.sdk_key}"}
        allowed = client.delete("/ext_authz/projects/7?force=1", headers=sdk)
        assert allowed.status_code == 200
        assert identity(allowed) == (ws.workspace_id, "sdk", "projects.delete")
        pk = {**envoy, "x-api-key": ws.publishable_key, "origin": "https://app.example"}
        assert identity(client.get("/ext_authz/projects", headers=pk))[2] == "projects.list"
        blocked = client.get("/ext_authz/billing", headers=pk)
        assert blocked.status_code == 403
        assert json.loads(blocked.content)["code"] == "action_blocked"
        missing = client.get("/ext_authz/projects", headers=envoy)
        assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
        for outside in ("/projects", "/ext_authzprojects", "/ext_auth/projects"):
            refused = client.get(outside, headers=sdk)
            assert refused.status_code == 400, outside
            assert json.loads(refused.content)["code"] == "invalid_check_request"


def test_nginx_dialect_names_and_the_problem_header(
    settings: Settings, ws: CreatedWorkspace
) -> None:
    service = make_service(settings, dialect="nginx", uri_header="X-Request-URI")
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        pk = {"X-Api-Key": ws.publishable_key, "X-Original-Method": "GET"}
        allowed = client.get("/_keystile", headers={**pk, "X-Request-URI": "/projects"})
        assert identity(allowed)[2] == "projects.list"
        assert "x-keystile-problem" not in allowed.headers
        blocked = client.get("/_keystile", headers={**pk, "X-Request-URI": "/billing"})
        assert blocked.status_code == 403
        # nginx keeps headers only: the problem's body rides in one, byte for byte.
        assert blocked.headers["x-keystile-problem"].encode() == blocked.content
        # The default name is not read when another is configured.
        unnamed = client.get("/_keystile", headers={**pk, "X-Original-URI": "/projects"})
        assert json.loads(unnamed.content)["code"] == "invalid_check_request"


def test_untrusted_callers_are_refused_before_any_key_is_read(
    settings: Settings, ws: CreatedWorkspace
) -> None:
    service = make_service(settings, dialect="forwarded", trusted_proxies=["10.0.0.0/8"])
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        # X-Forwarded-For names a trusted address: not believed (uvicorn's proxy_headers off).
        spoof = {"X-Forwarded-For": "10.0.0.1", "Forwarded": "for=10.0.0.1"}
        for key in (ws.sdk_key, mistyped(ws.sdk_key)):
            ask = traefik("GET", "/projects", **{"X-Api-Key": key})
            answer = client.get("/", headers={**ask, **spoof})
            assert answer.status_code == 403
            assert json.loads(answer.content)["code"] == "untrusted_caller"
        assert sum(service.gate.metrics.decisions.values()) == 0


def test_a_shared_secret_is_needed_when_configured(
    settings: Settings, ws: CreatedWorkspace
) -> None:
    service = make_service(settings, dialect="forwarded", trusted_proxies=(), shared_secret=SECRET)
    both = make_service(
        settings, dialect="forwarded", trusted_proxies=["10.0.0.0/8"], shared_secret=SECRET
    )
    ask = traefik("GET", "/projects", **{"X-Api-Key": ws.publishable_key})
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        for sent in ([], [SECRET[:-1] + "x"], [SECRET[:-1]], [SECRET, SECRET]):
            headers = list(ask.items()) + [("X-Keystile-Authz-Secret", s) for s in sent]
            answer = client.get("/", headers=headers)
            assert json.loads(answer.content)["code"] == "untrusted_caller", sent
        good = client.get("/", headers={**ask, "X-Keystile-Authz-Secret": SECRET})
        assert identity(good)[2] == "projects.list"
    with served_service(both) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        answer = client.get("/", headers={**ask, "X-Keystile-Authz-Secret": SECRET})
        assert answer.status_code == 403  # the secret alone: not from a trusted network


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        ("127.0.0.5", 200),
        ("203.0.113.9", 403),  # the client the proxy reports, not the proxy (127.0.0.1)
        ("127.0.0.5, 203.0.113.9", 403),  # the right-most hop is the one the proxy added
        (None, 403),  # the proxy reports no client: unknown
    ],
)
def test_with_a_shared_secret_alone_the_client_is_the_one_the_proxy_reports(
    settings: Settings,
    api_store: PolicyStore,
    ws: CreatedWorkspace,
    forwarded_for: str | None,
    status: int,
) -> None:
    """The secret proves the caller is the proxy; its peer address (127.0.0.1, inside the
    token's networks) is not the client's."""
    token = api_store.create_token(
        ws.workspace_id, "office", actor="test", networks=["127.0.0.0/8"]
    ).token
    service = make_service(settings, dialect="forwarded", trusted_proxies=(), shared_secret=SECRET)
    ask = traefik("GET", "/projects", Authorization=f"Bearer {token}")
    ask["X-Keystile-Authz-Secret"] = SECRET
    if forwarded_for is None:
        del ask["X-Forwarded-For"]
    else:
        ask["X-Forwarded-For"] = forwarded_for
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        answer = client.get("/", headers=ask)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert json.loads(answer.content)["code"] == "network_not_allowed"


def handshake(authz: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A WebSocket handshake to the service itself, as a proxy that passes the client's
    upgrade on to the check sends it (Caddy's reverse proxy does)."""
    host, port = authz.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "GET",
            "/",
            headers={
                **headers,
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_a_websocket_upgrade_is_decided_as_the_websocket_route(
    settings: Settings, api_store: PolicyStore, ws: CreatedWorkspace
) -> None:
    service = make_service(settings, dialect="forwarded")
    pk = {"X-Api-Key": ws.publishable_key}
    upgrade = traefik("GET", "/events", **pk, Upgrade="websocket")
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        allowed = client.get("/", headers=upgrade)
        assert identity(allowed) == (ws.workspace_id, "publishable", "events.stream")
        plain = client.get("/", headers=traefik("GET", "/events", **pk))
        assert json.loads(plain.content)["code"] == "route_not_in_catalog"  # not the WS route
        status, headers, body = handshake(authz, upgrade)
        assert (status, headers["x-keystile-action"], body) == (200, "events.stream", b"")

        api_store.add_rule(ws.workspace_id, Rule("events", "stream"), actor="test")
        version = api_store.workspace(ws.workspace_id).version
        assert wait(service, service.gate.invalidation.wait_version(ws.workspace_id, version))
        blocked = client.get("/", headers=upgrade)
        assert blocked.status_code == 403  # an HTTP answer, for the proxy to relay
        assert json.loads(blocked.content)["code"] == "action_blocked"
        status, headers, body = handshake(authz, upgrade)
        assert status == 403
        assert headers["content-type"] == "application/problem+json"
        assert body == blocked.content


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dialect": "haproxy"}, "dialect must be one of"),
        ({"trusted_proxies": []}, "needs trusted_proxies or shared_secret"),
        ({"trusted_proxies": "127.0.0.1/32"}, "must be a list"),
        ({"trusted_proxies": ["127.0.0.1/8"]}, "trusted_proxies"),
        ({"shared_secret": "short"}, "at least 32"),
        ({"uri_header": "bad header"}, "uri_header must be an HTTP header name"),
        ({"path_prefix": "/ext_authz"}, "path_prefix is for the envoy dialect"),
        ({"dialect": "envoy", "path_prefix": "/ext_authz/"}, "no final '/'"),
        ({"action_header": "x-keystile-workspace"}, "different headers"),
        ({"unmatched": "maybe"}, "unmatched must be one of"),
    ],
)
def test_bad_options_fail_at_construction(
    settings: Settings, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        AuthzService(
            **{
                "dialect": "nginx",
                "trusted_proxies": ["127.0.0.1/32"],
                "settings": settings,
                **options,
            }
        )


def test_the_traefik_and_envoy_configs_match_what_the_service_reads_and_answers() -> None:
    """No Traefik or Envoy here: at least their documented configs must ask and pass on
    what the contracts above exercise."""
    traefik_config = proxies.snippet("yaml")
    identity_headers = ("Workspace", "Key-Kind", "Key-Id", "Action")
    for header in identity_headers:
        assert f"- X-Keystile-{header}\n" in traefik_config
    assert "trustForwardHeader: false" in traefik_config
    envoy_config = proxies.DOCS.read_text().split("## Envoy", 1)[1]
    assert "path_prefix: /ext_authz" in envoy_config
    assert "failure_mode_allow: false" in envoy_config
    for header in ("x-api-key", "origin", "referer", "upgrade"):
        assert f"- exact: {header}\n" in envoy_config
    assert "- prefix: x-keystile-\n" in envoy_config
    for header in ("www-authenticate", "content-type", "cache-control", "retry-after"):
        assert f"- exact: {header}\n" in envoy_config
