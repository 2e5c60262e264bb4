"""Real upstream APIs for the authz differential, each answering which route ran.

Each serves a route table given by the test (Starlette templates, methods, in order) the way
that framework is written: Express 5 (``node``, ``tests/gateway/authz/upstream_apps/express``),
Flask (Werkzeug's threaded server), Django (``urlpatterns``, the same server) and nginx
``location`` blocks. A route that runs answers ``X-Ran: <its index>`` and ``X-Decided: <the
X-Keystile-Action it received>``; nothing else does. Each reloads a new table in place: the
processes live for the whole test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import types
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.nginx import nginx_config, wait_listening
from keystile.redis_server import free_port

EXPRESS = Path(__file__).resolve().parents[1] / "gateway" / "authz" / "upstream_apps" / "express"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PARAM = re.compile(r"{([a-z0-9_]+)(?::([a-z]+))?}")


@dataclass(frozen=True)
class Route:
    template: str  # Starlette syntax: {name}, {name:int}, {name:path}
    methods: tuple[str, ...] | None  # None: any
    action: str | None


def _translate(template: str, param: Callable[[str, str], str]) -> str:
    return _PARAM.sub(lambda m: param(m.group(1), m.group(2) or "str"), template)


def _allowed(route: Route) -> set[str] | None:
    if route.methods is None:
        return None
    return set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())


# -- Express ------------------------------------------------------------------------------
def express_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


@contextlib.contextmanager
def express(folder: Path) -> Iterator[Callable[[list[Route]], None]]:
    """The Express app on a free port; yields its table loader (``.port`` on it)."""
    # npm ci once per lock file (a stamp of its hash in node_modules, which git ignores).
    stamp = EXPRESS / "node_modules" / ".keystile-lock"
    lock = hashlib.sha256((EXPRESS / "package-lock.json").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != lock:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=EXPRESS, check=True
        )
        stamp.write_text(lock)
    port = free_port()
    log = folder / "express.log"
    process = subprocess.Popen(
        ["node", str(EXPRESS / "app.js"), str(port)], stdout=log.open("ab"), stderr=log.open("ab")
    )
    try:
        wait_listening(port, process, log)

        def load(routes: list[Route]) -> None:
            table = [
                {
                    "path": _translate(
                        r.template, lambda n, c: f"*{n}" if c == "path" else f":{n}"
                    ),
                    "methods": None if r.methods is None else list(r.methods),
                    "route": index,
                    "ints": [n for n, c in _PARAM.findall(r.template) if c == "int"],
                }
                for index, r in enumerate(routes)
            ]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/__routes",
                data=json.dumps({"routes": table}).encode(),
                headers={"content-type": "application/json"},
                method="PUT",
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200

        load.port = port  # type: ignore[attr-defined]
        yield load
    finally:
        process.terminate()
        process.wait(10)


# -- WSGI: Flask and Django under Werkzeug's threaded server ------------------------------
@contextlib.contextmanager
def wsgi(build: Callable[[list[Route]], Any]) -> Iterator[Callable[[list[Route]], None]]:
    from werkzeug.serving import make_server

    current: list[Any] = [build([])]
    server = make_server("127.0.0.1", free_port(), lambda e, s: current[0](e, s), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="wsgi-upstream")
    thread.start()

    def load(routes: list[Route]) -> None:
        current[0] = build(routes)

    load.port = server.port  # type: ignore[attr-defined]
    try:
        yield load
    finally:
        server.shutdown()
        thread.join(10)


def _ran(index: int, environ_action: str | None) -> tuple[dict[str, str], str]:
    return {"x-ran": str(index), "x-decided": environ_action or ""}, "ran\n"


def flask_app(routes: list[Route]) -> Any:
    from flask import Flask, request

    app = Flask("keystile_differential")
    for index, route in enumerate(routes):
        rule = _translate(route.template, lambda n, c: f"<{n}>" if c == "str" else f"<{c}:{n}>")

        def view(index: int = index, **_: Any) -> Any:
            headers, body = _ran(index, request.headers.get("x-keystile-action"))
            return body, 200, headers

        methods = ALL_METHODS if route.methods is None else list(route.methods)
        app.add_url_rule(rule, f"r{index}", view, methods=methods)
    return app


def django_app(routes: list[Route]) -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="differential-only-" * 3,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="keystile_differential_urls",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        import django

        django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse, HttpResponseNotAllowed
    from django.urls import clear_url_caches, path

    patterns = []
    for index, route in enumerate(routes):
        allowed = _allowed(route)

        def view(request: Any, index: int = index, allowed: Any = allowed, **_: Any) -> Any:
            if allowed is not None and request.method not in allowed:
                return HttpResponseNotAllowed(sorted(allowed))
            headers, body = _ran(index, request.headers.get("x-keystile-action"))
            return HttpResponse(body, headers=headers)

        pattern = _translate(route.template, lambda n, c: f"<{c}:{n}>")
        patterns.append(path(pattern.removeprefix("/"), view))
    module = types.ModuleType("keystile_differential_urls")
    module.urlpatterns = patterns  # type: ignore[attr-defined]
    sys.modules["keystile_differential_urls"] = module
    clear_url_caches()
    return WSGIHandler()


def _children(pid: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(stat.parent.name)
    return found


# -- nginx locations ----------------------------------------------------------------------
def _location(index: int, route: Route) -> str:
    regex = _translate(
        route.template,
        lambda n, c: {"str": "[^/]+", "int": "[0-9]+", "path": ".*"}[c],
    )
    allowed = _allowed(route)
    check = (
        ""
        if allowed is None
        else f'if ($request_method !~ "^({"|".join(sorted(allowed))})$") {{ return 405; }}'
    )
    return f"""
    location ~ "^{regex}$" {{
        {check}
        add_header X-Ran {index};  # not on its 405 (no "always")
        add_header X-Decided "$http_x_keystile_action";
        return 200 "ran\\n";
    }}"""


@contextlib.contextmanager
def nginx_locations(folder: Path) -> Iterator[Callable[[list[Route]], None]]:
    """nginx whose ``location ~`` blocks are the routes, in order; reloaded by SIGHUP."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf, log = folder / "nginx.conf", folder / "error.log"
    generation = [0]

    def write(routes: list[Route]) -> None:
        generation[0] += 1
        locations = "".join(_location(i, r) for i, r in enumerate(routes))
        server = f"""
server {{
    listen 127.0.0.1:{port};
    keepalive_timeout 0;  # a reload leaves no connection to an old worker
    default_type text/plain;
    location = /__generation {{ return 200 "{generation[0]}"; }}
    location / {{ return 404 "no route\\n"; }}
{locations}
}}
"""
        conf.write_text(nginx_config(folder, server))

    write([])
    log.touch()
    process = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(conf), "-e", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        wait_listening(port, process, log)

        def load(routes: list[Route]) -> None:
            write(routes)
            process.send_signal(signal.SIGHUP)
            wanted = str(generation[0]).encode()
            # nginx has no "reloaded" signal: a new worker answers the new generation, and
            # the old one is gone (the master has one child again).
            for _ in range(2000):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__generation") as a:
                    if a.read() == wanted and len(_children(process.pid)) == 1:
                        return
            raise AssertionError(f"nginx did not reload: {log.read_text()}")

        load.port = port  # type: ignore[attr-defined]
        yield load
    finally:
        process.terminate()
        process.wait(10)
