"""Upstream profiles: the findings of issue 23, each asked of a real service (uvicorn, real
Redis) as nginx asks (``X-Original-URI``), with ``billing.read`` blacklisted for the
publishable key. The real upstreams themselves: ``test_upstream_differential``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from policies import Catalog, ConfigError, PolicyStore, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.authz import make_service, served_service, wait

MODULES = {
    "billing": {"functionalities": {"read": {}}},
    "reports": {"functionalities": {"read": {}}},
    "other": {"functionalities": {"any": {}}},
}
ROUTES = [
    {"path": "/billing", "methods": ["GET"], "action": "billing.read"},
    {"path": "/reports/{report_id}", "methods": ["GET"], "action": "reports.read"},
]
CATCH_ALL = {"path": "/{rest:path}", "action": "other.any"}


def catalog(*, catch_all: bool, **extra: Any) -> Catalog:
    routes = [*ROUTES, CATCH_ALL] if catch_all else ROUTES
    return Catalog.from_dict({"modules": MODULES, "routes": routes, **extra})


@pytest.fixture
def ask(settings: Settings, ws: CreatedWorkspace) -> Iterator[Any]:
    """``ask(upstream, catch_all, uri, key="pk"|"sdk", **headers)``: the service's answer."""
    clients: dict[tuple[str, bool], httpx.Client] = {}
    contexts = []

    def answer(upstream: str, catch_all: bool, uri: str, key: str = "pk", **headers: str) -> Any:
        if (upstream, catch_all) not in clients:
            service = make_service(
                settings, dialect="nginx", upstream=upstream, catalog=catalog(catch_all=catch_all)
            )
            context = served_service(service)
            contexts.append(context)
            clients[upstream, catch_all] = httpx.Client(base_url=f"http://{context.__enter__()}")
        sent = {"X-Original-Method": headers.pop("method", "GET"), "X-Original-URI": uri}
        if key == "pk":
            sent["X-Api-Key"] = ws.publishable_key
        else:
            sent["Authorization"] = f"Bearer {ws.sdk_key}"
        return clients[upstream, catch_all].get("/", headers={**sent, **headers})

    yield answer
    for client in clients.values():
        client.close()
    for context in contexts:
        context.__exit__(None, None, None)


def code(answer: httpx.Response) -> str:
    return str(json.loads(answer.content)["code"]) if answer.status_code >= 400 else "allowed"


def action(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.content
    return answer.headers["x-keystile-action"]


def detail(answer: httpx.Response) -> str:
    assert answer.status_code == 400
    body = json.loads(answer.content)
    assert body["code"] == "ambiguous_path"
    return str(body["detail"])


def test_strict_decides_a_toggled_slash_as_the_route_it_toggles_to(ask: Any) -> None:
    # HIGH: "/billing/" answered 200 with no action; Express, Rails, Spring run /billing.
    assert code(ask("strict", False, "/billing/")) == "action_blocked"
    assert action(ask("strict", False, "/reports/7/", key="sdk")) == "reports.read"
    # With a catch-all the routers disagree (Flask, Django run it; Express runs /billing).
    assert "express runs billing.read" in detail(ask("strict", True, "/billing/"))


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("/billing%2F", "(%2F)"),
        ("/reports/7%2Fx", "(%2F)"),
        ("/billing;jsessionid=1", "';'"),
        ("/billing%252F", "(%25)"),
    ],
)
def test_strict_refuses_what_routers_read_differently(ask: Any, uri: str, why: str) -> None:
    # MED: these were decided as the catch-all.
    assert why in detail(ask("strict", True, uri))
    assert why in detail(ask("strict", False, uri))


def test_strict_refuses_a_case_variant_that_another_route_matches(ask: Any) -> None:
    # MED: "/BILLING" was the catch-all's; Express and ASP.NET run /billing.
    assert "routers run different routes" in detail(ask("strict", True, "/BILLING"))
    # No other route: decided as the route it matches case-insensitively.
    assert code(ask("strict", False, "/BILLING")) == "action_blocked"


def test_override_headers_are_refused_for_proxied_apis(ask: Any) -> None:
    for upstream in ("strict", "express"):
        for field in ({"X-HTTP-Method-Override": "GET"}, {"X-Method-Override": "GET"}):
            answer = ask(upstream, False, "/projects", key="sdk", method="POST", **field)
            assert code(answer) == "method_override"
        assert code(ask(upstream, False, "/x?_method=GET", key="sdk", method="POST")) == (
            "method_override"
        )


def test_express_is_decided_as_express_routes(ask: Any) -> None:
    assert code(ask("express", True, "/billing/")) == "action_blocked"
    assert code(ask("express", True, "/BILLING")) == "action_blocked"
    # Express matches the path as sent: %2F stays in the parameter, ';' in the segment.
    assert action(ask("express", True, "/reports/7%2Fx", key="sdk")) == "reports.read"
    assert action(ask("express", True, "/billing;jsessionid=1", key="sdk")) == "other.any"
    assert action(ask("express", True, "/billing%252F", key="sdk")) == "other.any"


@pytest.mark.parametrize("upstream", ["flask", "django", "nginx"])
def test_decoding_upstreams_are_decided_on_the_decoded_path(ask: Any, upstream: str) -> None:
    assert action(ask(upstream, True, "/billing/", key="sdk")) == "other.any"
    assert action(ask(upstream, True, "/billing%2F", key="sdk")) == "other.any"
    assert action(ask(upstream, True, "/reports/7%2Fx", key="sdk")) == "other.any"
    assert action(ask(upstream, True, "/BILLING", key="sdk")) == "other.any"
    assert code(ask(upstream, True, "/bill%69ng")) == "action_blocked"
    assert "'..'" in detail(ask(upstream, True, "/x/%2e%2e/billing"))


def test_werkzeug_order_is_refused_where_it_differs_from_the_catalogs(
    settings: Settings, ws: CreatedWorkspace
) -> None:
    # Werkzeug tries static segments first: /reports/latest runs reports.latest there.
    modules = {"reports": {"functionalities": {"read": {}, "latest": {}}}}
    routes = [
        {"path": "/reports/{report_id}", "action": "reports.read"},
        {"path": "/reports/latest", "action": "reports.latest"},
    ]
    ordered = Catalog.from_dict({"modules": modules, "routes": routes})
    service = make_service(settings, dialect="nginx", upstream="flask", catalog=ordered)
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        sent = {"X-Original-Method": "GET", "Authorization": f"Bearer {ws.sdk_key}"}
        latest = client.get("/", headers={**sent, "X-Original-URI": "/reports/latest"})
        assert "flask upstream runs reports.latest" in detail(latest)
        other = client.get("/", headers={**sent, "X-Original-URI": "/reports/7"})
        assert action(other) == "reports.read"


def test_redirect_slashes_is_for_a_starlette_upstream_only(settings: Settings) -> None:
    redirecting = catalog(catch_all=False, redirect_slashes=True)
    for upstream in ("strict", "express", "flask", "django", "nginx"):
        with pytest.raises(ConfigError, match="redirect_slashes = true"):
            make_service(settings, dialect="nginx", upstream=upstream, catalog=redirecting)
    make_service(settings, dialect="nginx", upstream="starlette", catalog=redirecting)
    # A catalog file says nothing: no redirect.
    assert catalog(catch_all=False).redirect_slashes is False


def test_a_stored_redirecting_catalog_is_refused_and_the_last_good_one_kept(
    settings: Settings, ws: CreatedWorkspace, api_store: PolicyStore
) -> None:
    service = make_service(settings, dialect="nginx")
    loader = service.gate.runtime.catalog
    sent = {
        "X-Original-Method": "GET",
        "X-Original-URI": "/billing",
        "X-Api-Key": ws.publishable_key,
    }
    with served_service(service) as authz, httpx.Client(base_url=f"http://{authz}") as client:
        assert code(client.get("/", headers=sent)) == "action_blocked"
        api_store.save_catalog(catalog(catch_all=True, redirect_slashes=True), force=True)
        refused = service.gate.invalidation.wait_until(lambda: loader.refused is not None, 10)
        assert wait(service, refused)
        assert "redirect_slashes = true" in str(loader.refused)
        assert code(client.get("/", headers=sent)) == "action_blocked"
        assert code(client.get("/", headers={**sent, "X-Original-URI": "/other"})) == (
            "route_not_in_catalog"
        )


def test_unknown_upstreams_and_overrides_decided_are_config_errors(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="upstream must be one of strict, starlette"):
        make_service(settings, dialect="nginx", upstream="rails")
    with pytest.raises(ConfigError, match="method_override = 'decide'"):
        make_service(settings, dialect="nginx", method_override="decide")
    make_service(settings, dialect="nginx", upstream="starlette", method_override="decide")
