"""The authz differential: real nginx (``auth_request``, the docs' config) asking a real
``keystile authz``, in front of a real upstream that answers which route ran.

Per upstream (Express 5, Flask, Django, nginx ``location``s), two fronts: one asks a
service with that upstream's profile, the other one with ``strict``. Hypothesis draws route
tables (static and templated routes, ``int`` and ``path`` parameters, catch-alls, several
methods, routes outside the catalog), stores each as the catalog and loads it into the
upstream in place (no process restarts), then sends a batch of requests built from the
table and mutated as an attacker would (``%2F``, ``%252F``, ``;x=1``, case, trailing and
repeated slashes, dot segments, escaped letters, method overrides). For every request: the
route that ran is the action decided, or no route ran (refused, 404, 405, a redirect).
``KEYSTILE_AUTHZ_DIFFERENTIAL_CATALOGS`` sets the number of tables (default 45, 24
requests each per front).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.authz.service import AuthzService
from keystile.redis_server import free_port
from policies import Catalog, CatalogError, PolicyStore, Settings
from tests.support import proxies, upstreams
from tests.support.authz import make_service, served_service, wait
from tests.support.upstreams import ALL_METHODS, Route

CATALOGS = int(os.environ.get("KEYSTILE_AUTHZ_DIFFERENTIAL_CATALOGS", "45"))
REQUESTS = 24
FUNCTIONALITIES = [f"f{i}" for i in range(6)]
LITERALS = ["a", "b", "billing", "Files"]
VALUES = {
    "str": ["7", "x", "Ab", "a%2Fb", "%61", "x;y=1", "7%252F", "b"],
    "int": ["7", "42", "x", "%37"],
    "path": ["a", "a/b", "", "a/", "A/b%2Fc"],
}

Runner = Callable[[Path], contextlib.AbstractContextManager[Any]]
RUNNERS: dict[str, tuple[Runner, bool]] = {
    "express": (upstreams.express, upstreams.express_available()),
    "flask": (lambda folder: upstreams.wsgi(upstreams.flask_app), True),
    "django": (lambda folder: upstreams.wsgi(upstreams.django_app), True),
    "nginx": (lambda folder: upstreams.nginx_locations(folder / "locations"), True),
}


# -- route tables ---------------------------------------------------------------------------
@st.composite
def templates(draw: st.DrawFn) -> str:
    segments = []
    for index in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["literal", "literal", "str", "int"]))
        segments.append(
            draw(st.sampled_from(LITERALS))
            if kind == "literal"
            else f"{{p{index}}}"
            if kind == "str"
            else f"{{p{index}:int}}"
        )
    if draw(st.booleans()) and draw(st.booleans()):
        segments.append("{rest:path}")
        return "/" + "/".join(segments)
    return "/" + "/".join(segments) + draw(st.sampled_from(["", "", "/"]))


METHODS = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), min_size=1, max_size=2, unique=True)
    .map(sorted)
    .map(tuple),
)
ACTIONS = st.one_of(st.none(), st.sampled_from(FUNCTIONALITIES).map(lambda f: f"m.{f}"))


@st.composite
def tables(draw: st.DrawFn) -> list[Route]:
    routes = draw(st.lists(st.builds(Route, templates(), METHODS, ACTIONS), min_size=1, max_size=6))
    if draw(st.booleans()):  # a catch-all, as many APIs end with
        routes.append(Route("/{rest:path}", draw(METHODS), draw(ACTIONS)))
    return routes


def catalog_of(routes: list[Route]) -> Catalog:
    entries = []
    for route in routes:
        entry: dict[str, Any] = {"path": route.template}
        if route.methods is not None:
            entry["methods"] = list(route.methods)
        if route.action is not None:
            entry["action"] = route.action
        entries.append(entry)
    modules = {"m": {"functionalities": {f: {} for f in FUNCTIONALITIES}}}
    return Catalog.from_dict({"modules": modules, "routes": entries})


# -- requests -------------------------------------------------------------------------------
def _slashes(path: str) -> list[int]:
    return [i for i, c in enumerate(path) if c == "/" and i > 0] or [len(path)]


def _at_slash(replacement: str) -> Callable[[str, st.DrawFn], str]:
    def mutate(path: str, draw: st.DrawFn) -> str:
        index = draw(st.sampled_from(_slashes(path)))
        return path[:index] + replacement + path[index + 1 :]

    return mutate


def _escape_letter(path: str, draw: st.DrawFn) -> str:
    letters = [i for i, c in enumerate(path) if c.isalpha()]
    if not letters:
        return path
    i = draw(st.sampled_from(letters))
    return f"{path[:i]}%{ord(path[i]):02X}{path[i + 1 :]}"


MUTATIONS: dict[str, Callable[[str, st.DrawFn], str]] = {
    "toggle slash": lambda p, d: p[:-1] if p.endswith("/") and len(p) > 1 else p + "/",
    "upper": lambda p, d: p.upper(),
    "title": lambda p, d: p.title(),
    "semicolon": lambda p, d: p + ";x=1",
    "semicolon inside": _at_slash(";x=1/"),
    "%2F": _at_slash("%2F"),
    "%2f": _at_slash("%2f"),
    "%252F": _at_slash("%252F"),
    "double slash": _at_slash("//"),
    "dot": _at_slash("/./"),
    "dot dot": _at_slash("/zz/../"),
    "escaped letter": _escape_letter,
}


@st.composite
def requests(draw: st.DrawFn, routes: list[Route]) -> tuple[str, str, dict[str, str]]:
    template = draw(
        st.one_of(
            st.sampled_from([r.template for r in routes]),
            st.sampled_from(["/", "/a", "/billing/", "/files/a", "/A/b", "/b/7"]),
        )
    )
    path = template
    for name, convertor in upstreams._PARAM.findall(template):
        value = draw(st.sampled_from(VALUES[convertor or "str"]))
        path = path.replace(f"{{{name}:{convertor}}}" if convertor else f"{{{name}}}", value)
    path = path.replace("//", "/") if template.endswith("{rest:path}") else path
    for name in draw(st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=2)):
        path = MUTATIONS[name](path, draw)
    headers: dict[str, str] = {}
    override = draw(st.sampled_from([None] * 6 + ["header", "query"]))
    method = draw(st.sampled_from(["POST", *ALL_METHODS] if override else ALL_METHODS))
    if override == "header":
        headers["X-HTTP-Method-Override"] = draw(st.sampled_from(["GET", "DELETE", "PUT"]))
    elif override == "query":
        path += "?_method=" + draw(st.sampled_from(["GET", "DELETE"]))
    return method, path, headers


# -- the run --------------------------------------------------------------------------------
class Front:
    """One keep-alive client connection to one nginx front."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        headers = {"Authorization": f"Bearer {self.key}", **headers}
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, headers=headers)
                response = self.connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()  # nginx closed it (after its own 400): reconnect
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.connection.close()
            return response, body
        raise AssertionError("unreachable")


def outcome(
    response: http.client.HTTPResponse, body: bytes, routes: list[Route], where: str
) -> str:
    ran = response.getheader("x-ran")
    if ran is not None:
        route = routes[int(ran)]
        decided = response.getheader("x-decided") or ""
        assert decided == (route.action or ""), (
            f"{where}: route {ran} ({route}) ran, keystile decided {decided!r}; table: {routes}"
        )
        return "route ran"
    if (response.getheader("content-type") or "").startswith("application/problem+json"):
        code = json.loads(body)["code"] if body else "(HEAD)"
        return f"refused: {code}"
    return f"no route: {response.status}"


@contextlib.contextmanager
def deployment(
    upstream: str, services: dict[str, AuthzService], folder: Path
) -> Iterator[tuple[Callable[[list[Route]], None], dict[str, int]]]:
    runner, _ = RUNNERS[upstream]
    with contextlib.ExitStack() as stack:
        load = stack.enter_context(runner(folder))
        fronts = {}
        for profile, service in services.items():
            authz = stack.enter_context(served_service(service))
            port = free_port()
            block = proxies.nginx_front(authz, load.port, port)
            stack.enter_context(proxies.run_nginx(folder / f"front-{profile}", block, [port]))
            fronts[profile] = port
        yield load, fronts


@pytest.mark.slow
@pytest.mark.parametrize(
    "upstream",
    [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                not ok and not os.environ.get("KEYSTILE_REQUIRE_TOOLS"),
                reason=f"{name} is not installed",
            ),
        )
        for name, (_, ok) in RUNNERS.items()
    ],
)
@pytest.mark.skipif(not proxies.available("nginx"), reason="no nginx")
def test_the_route_that_runs_is_the_action_decided(
    upstream: str, settings: Settings, store: PolicyStore, tmp_path: Path
) -> None:
    key = store.create_workspace("Differential", actor="test").sdk_key
    services = {
        profile: make_service(settings, dialect="nginx", upstream=profile)
        for profile in (upstream, "strict")
    }
    tally: Counter[tuple[str, str]] = Counter()
    with deployment(upstream, services, tmp_path) as (load, ports):
        fronts = {profile: Front(port, key) for profile, port in ports.items()}

        @hypothesis_settings(
            max_examples=CATALOGS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(routes=tables(), data=st.data())
        def check(routes: list[Route], data: st.DataObject) -> None:
            try:
                catalog = catalog_of(routes)
            except CatalogError:  # a route another one shadows: no catalog to try
                reject()
            fingerprint = store.save_catalog(catalog, force=True, actor="test")
            for service in services.values():
                gate = service.gate
                loaded = gate.invalidation.wait_until(
                    lambda gate=gate: gate.runtime.catalog_fingerprint == fingerprint, 10
                )
                assert wait(service, loaded), gate.runtime.catalog.refused
            load(routes)
            batch = data.draw(st.lists(requests(routes), min_size=REQUESTS, max_size=REQUESTS))
            for profile, front in fronts.items():
                for method, path, headers in batch:
                    where = f"{upstream} behind profile {profile}: {method} {path} {headers}"
                    answer, body = front.send(method, path, headers)
                    tally[profile, outcome(answer, body, routes, where)] += 1

        check()
    report = {f"{profile} {what}": n for (profile, what), n in sorted(tally.items())}
    print(f"\n{upstream}: {json.dumps(report, indent=1)}")
    for profile in services:
        sent = sum(n for (p, _), n in tally.items() if p == profile)
        assert sent >= CATALOGS * REQUESTS * 0.8  # few tables rejected
        # Not vacuous: routes ran, and the mutations were refused as ambiguous too.
        assert tally[profile, "route ran"] >= sent * 0.15, report
    assert tally["strict", "refused: ambiguous_path"] > 0, report
