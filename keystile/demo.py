"""``keystile demo``: the whole product on one machine, from nothing, in one command.

An embedded persistent Redis (or ``REDIS_URL``), the sample workspace API behind the gateway
(uvicorn), the admin's Tokens page (Flask) signed in as a demo admin, and a local SMTP sink
that prints the one-time-password mails. A demo workspace is seeded on first start; every
key and rule survives a restart. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import click
import uvicorn
from flask import Flask, redirect
from flask_admin import Admin
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from admin_plugin import AdminIdentity, KeystileAdmin, SmtpConfig, SmtpMailer
from gateway import KeyGateMiddleware, catalog_from_app
from keystile import demo_traffic, sample_api
from keystile.banner import Place, banner, cli_command, try_lines
from keystile.home import Home
from keystile.mail_sink import start_mail_sink
from keystile.serving import harden_session_cookie
from policies import Catalog, KeystileError, PolicyStore, Settings
from policies.errors import StoreUnreachable
from policies.storage.connections import sync_client, unreachable

DEMO_ADMIN_EMAIL = "admin@demo.keystile.test"
DEMO_WORKSPACE = "Demo workspace"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
EMBEDDED_HINT = "run `keystile --embedded demo`, which ignores REDIS_URL and runs its own"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names to recognise, not to bind


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    api_port: int = 8000
    admin_port: int = 8001
    smtp_port: int = 8025
    redis_url: str | None = None
    trusted_hosts: tuple[str, ...] = ()  # more Host names to answer (--trusted-host)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def trusted_hosts(options: DemoOptions) -> list[str]:
    """The Host header values the demo answers: the name it binds to (loopback names when
    it binds to loopback or everywhere) and any --trusted-host. Anything else is refused,
    so a page on another site cannot reach the demo through DNS rebinding."""
    names: list[str] = []
    if options.host in WILDCARD_HOSTS or is_loopback(options.host):
        names += LOOPBACK_NAMES
    if options.host not in WILDCARD_HOSTS:
        names.append(options.host)
    names += options.trusted_hosts
    return list(dict.fromkeys(names))


def exposure_warning(options: DemoOptions) -> str | None:
    """What to say when --host reaches beyond this machine (None: loopback only)."""
    if is_loopback(options.host):
        return None
    return (
        f"warning: --host {options.host or '(all interfaces)'} serves the demo beyond this "
        "machine: whoever reaches it uses the Tokens page as the demo admin, over plain HTTP. "
        f"Host names answered: {', '.join(trusted_hosts(options))} (add one with "
        "--trusted-host)."
    )


def _check_port(host: str, port: int, flag: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise KeystileError(
                f"port {port} on {host} is already in use: choose another with {flag}"
            ) from None


@contextlib.contextmanager
def _demo_lock(home: Home) -> Iterator[None]:
    home.ensure()
    handle: IO[str] = open(home.path / "demo.lock", "a+")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise KeystileError(f"another keystile demo is already running on {home.path}") from None
    try:
        yield
    finally:
        handle.close()


def seed(store: PolicyStore) -> tuple[str, bool]:
    """The demo workspace's id, creating it on first start (True when just created)."""
    for info in store.list_workspaces():
        if info.name == DEMO_WORKSPACE:
            return info.workspace_id, False
    return store.create_workspace(DEMO_WORKSPACE, actor="demo").workspace_id, True


def admin_app(
    store: PolicyStore,
    settings: Settings,
    workspace_id: str,
    smtp_port: int,
    hosts: list[str],
) -> Flask:
    app = Flask("keystile_demo_admin")
    app.config["TRUSTED_HOSTS"] = hosts  # werkzeug answers any other Host with a 400
    # Sessions must survive a restart like the keys do: derive from the persisted secret.
    app.secret_key = hmac.new(
        settings.digest_secret.encode(), b"keystile-demo-admin-session", hashlib.sha256
    ).hexdigest()
    harden_session_cookie(app, plain_http=True)  # the demo serves plain HTTP
    admin = Admin(app, name="Keystile demo")
    identity = AdminIdentity("demo-admin", DEMO_ADMIN_EMAIL, (workspace_id,), "Demo admin")
    mailer = SmtpMailer(
        SmtpConfig(sender="Keystile demo <no-reply@demo.keystile.test>", port=smtp_port)
    )
    KeystileAdmin(store=store, current_admin=lambda: identity, mailer=mailer).init_app(app, admin)

    @app.get("/")
    def index() -> Response:
        return redirect("/admin/tokens/")

    return app


def api_app(settings: Settings, catalog: Catalog, hosts: list[str]) -> ASGIApp:
    """The sample workspace API behind the gateway, answering only the trusted Host names."""
    gate = KeyGateMiddleware(
        sample_api.app, settings=settings, catalog=catalog, exempt_paths=("/health", "/metrics*")
    )
    return TrustedHostMiddleware(gate, allowed_hosts=hosts)


class _DemoServer(uvicorn.Server):
    """uvicorn's server, announcing the demo only once its socket listens.

    Printing before ``run()`` raced the bind: a reader of the banner could curl the API
    before it accepted connections.
    """

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # False when the bind failed: uvicorn then exits by itself
            self.on_ready()


def run_demo(home: Home, options: DemoOptions, echo: Callable[[str], None] = click.echo) -> None:
    if (warning := exposure_warning(options)) is not None:
        click.echo(warning, err=True)
    hosts = trusted_hosts(options)
    for port, flag in (
        (options.api_port, "--api-port"),
        (options.admin_port, "--admin-port"),
        (options.smtp_port, "--smtp-port"),
    ):
        _check_port(options.host, port, flag)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_demo_lock(home))
        url = options.redis_url or stack.enter_context(home.serve_redis())
        settings = home.settings(url)
        client = sync_client(url)
        stack.callback(client.close)
        store = PolicyStore(client, settings.keyring())
        catalog = catalog_from_app(sample_api.app)
        try:
            store.save_catalog(catalog)  # the first command: is anything there?
        except StoreUnreachable as exc:
            raise KeystileError(unreachable(url, EMBEDDED_HINT, exc.reason)) from None
        ws, created = seed(store)

        sink = start_mail_sink(options.host, options.smtp_port, echo)
        stack.callback(sink.stop)
        server: BaseWSGIServer = make_server(
            options.host,
            options.admin_port,
            admin_app(store, settings, ws, options.smtp_port, hosts),
            threaded=True,
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.callback(server.shutdown)

        api = api_app(settings, catalog, hosts)
        config = uvicorn.Config(
            api, host=options.host, port=options.api_port, log_level="warning", lifespan="on"
        )
        place = Place(
            f"http://{options.host}:{options.api_port}",
            f"http://{options.host}:{options.admin_port}/admin/tokens/",
            options.smtp_port,
            DEMO_ADMIN_EMAIL,
            cli_command(str(home.path), options.redis_url is not None),
            created,
        )
        lines = asyncio.run(try_lines(store, ws, place, sample_api.app, settings, catalog))
        text = banner(store, ws, place, lines)
        key = store.publishable_key(ws)
        local = f"http://{'127.0.0.1' if options.host in WILDCARD_HOSTS else options.host}"

        def ready() -> None:
            echo(text)
            demo_traffic.start(f"{local}:{options.api_port}", key)  # the charts' first data

        # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal: a clean stop.
        with contextlib.suppress(KeyboardInterrupt):
            _DemoServer(config, on_ready=ready).run()
