"""Production serving: the gateway before an ASGI app under uvicorn, the admin as a Flask app.

``keystile authz`` runs :func:`create_authz_app` the same way (the catalog: the store's).
``keystile serve module:app`` publishes the catalog (from ``--catalog FILE`` or the app's
named routes) to the store, then runs uvicorn with :func:`create_gateway_app` as the factory
of every worker. :func:`create_admin_app` is the admin's Flask app factory, to mount in the
host app (e.g. with werkzeug's ``DispatcherMiddleware``) or serve on its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from flask import Flask
from flask_admin import Admin
from starlette.types import ASGIApp
from uvicorn.importer import ImportFromStringError, import_from_string

from admin_plugin import KeystileAdmin, SmtpConfig, SmtpMailer
from gateway import KeyGateMiddleware, catalog_from_app
from gateway.authz.service import AuthzService
from gateway.config import GatewayConfig
from gateway.leaks import LeakConfig, LeakReports
from gateway.leaks.app import Mounted
from policies import Catalog, ConfigError, PolicyStore, Settings
from policies.otp.codes import OtpPolicy
from policies.storage.connections import sync_client

ENV_TARGET = "KEYSTILE_SERVE_APP"
ENV_CATALOG = "KEYSTILE_SERVE_CATALOG"
ENV_APP_DIR = "KEYSTILE_SERVE_APP_DIR"
ENV_EXEMPT = "KEYSTILE_SERVE_EXEMPT"  # serve --exempt paths, one a line


def load_target(target: str, app_dir: str | None = None) -> Any:
    """Import ``module:attribute``, from ``app_dir`` first (uvicorn's ``--app-dir``: the
    console script's own folder, not the current one, heads ``sys.path``)."""
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        return import_from_string(target)
    except (ImportFromStringError, ImportError) as exc:  # uvicorn lets a missing module through
        raise ConfigError(f"cannot load the app {target!r}: {exc}") from None


def resolve_catalog(app: Any, catalog_file: str | None) -> Catalog:
    catalog = Catalog.load(catalog_file) if catalog_file else catalog_from_app(app)
    if not catalog.modules:
        raise ConfigError(
            "the catalog is empty: name routes 'module.functionality' or pass --catalog FILE"
        )
    return catalog


def publish_catalog(settings: Settings, catalog: Catalog, *, force: bool = False) -> str:
    """Store the catalog so the admin offers what the gateway serves; its fingerprint."""
    client = sync_client(settings.redis_url)
    try:
        store = PolicyStore(client, settings.keyring())
        return store.save_catalog(catalog, actor="serve", force=force)
    finally:
        client.close()  # type: ignore[no-untyped-call,unused-ignore]  # redis-py < 5.1


def exempt_paths(settings: Settings, added: Iterable[str]) -> tuple[str, ...]:
    """The ``[gateway]`` table's exempt paths and ``added`` (``serve --exempt``), checked."""
    options = GatewayConfig.from_mapping(settings.section("gateway", GatewayConfig))
    configured = tuple(options.get("exempt_paths", ()))
    return tuple(GatewayConfig(exempt_paths=(*configured, *added)).exempt_paths)


def create_gateway_app() -> ASGIApp:
    """uvicorn factory (one call per worker): the target app behind the gateway."""
    settings = Settings.load()
    app = load_target(os.environ[ENV_TARGET], os.environ.get(ENV_APP_DIR) or None)
    catalog = resolve_catalog(app, os.environ.get(ENV_CATALOG) or None)
    added = os.environ.get(ENV_EXEMPT, "").splitlines()
    gate = KeyGateMiddleware.from_settings(
        app, settings, catalog=catalog, exempt_paths=exempt_paths(settings, added)
    )
    return with_leak_reports(gate, settings)


def leak_report_routes(settings: Settings) -> list[str]:
    """The leak-report routes ``keystile serve`` mounts (none unless ``[leaks] enabled``)."""
    config = LeakConfig.from_mapping(settings.section("leaks", LeakConfig))
    if not config.enabled:
        return []
    routes = [f"{config.path}/github"] if config.github else []
    if config.gitlab_token is not None:
        routes.append(f"{config.path}/gitlab/v1/")
    return routes


def with_leak_reports(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app``, with the leak-report endpoint in front at ``[leaks] path`` when ``[leaks]
    enabled`` (:class:`gateway.leaks.app.Mounted`); otherwise ``app`` itself."""
    config = LeakConfig.from_mapping(settings.section("leaks", LeakConfig))
    if not config.enabled:
        return app
    return Mounted(app, LeakReports.from_settings(settings), config.path)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The variables :meth:`Settings.load` reads back as ``settings`` (for worker processes
    of ``keystile --embedded serve``, which learn the data folder's Redis and secrets so)."""
    return {
        "KEYSTILE_REDIS_URL": settings.redis_url,
        "KEYSTILE_MASTER_KEYS": ",".join(settings.master_keys),
        "KEYSTILE_DIGEST_SECRET": settings.digest_secret,
    }


def harden_session_cookie(app: Flask, *, plain_http: bool = False) -> None:
    """The admin's session cookie (it holds the CSRF secret): not readable by scripts, not
    sent on cross-site subrequests, and only over HTTPS unless the app says it is plain
    HTTP (the demo on loopback)."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not plain_http,
    )


def create_authz_app() -> ASGIApp:
    """uvicorn factory of ``keystile authz`` (one call per worker): the authz service, its
    options from ``[authz]`` and ``[gateway]``, the catalog the store's."""
    return AuthzService.from_settings(Settings.load())


def create_admin_app(
    current_admin: Callable[[], Any],
    *,
    settings: Settings | None = None,
    name: str = "Keystile",
    plain_http: bool = False,
) -> Flask:
    """A Flask app with Flask-Admin and the Tokens page, configured from ``settings``.

    ``current_admin`` says who is signed in (see :mod:`admin_plugin.identity`). Needs
    ``[admin] secret_key`` (or ``KEYSTILE_ADMIN_SECRET_KEY``) and an ``[smtp]`` table.
    The session cookie is ``Secure`` (HTTPS only) unless ``plain_http=True``.
    """
    settings = Settings.load() if settings is None else settings
    secret = os.environ.get("KEYSTILE_ADMIN_SECRET_KEY") or settings.section("admin").get(
        "secret_key"
    )
    if not secret or len(str(secret)) < 32:
        raise ConfigError("the admin needs KEYSTILE_ADMIN_SECRET_KEY (at least 32 characters)")
    app = Flask("keystile_admin")
    app.secret_key = str(secret)
    harden_session_cookie(app, plain_http=plain_http)
    store = PolicyStore(sync_client(settings.redis_url), settings.keyring())
    mailer = SmtpMailer(SmtpConfig.from_mapping(settings.section("smtp", SmtpConfig)))
    KeystileAdmin(
        store=store, current_admin=current_admin, mailer=mailer, otp=otp_policy(settings)
    ).init_app(app, Admin(app, name=name))
    return app


def otp_policy(settings: Settings) -> OtpPolicy:
    """The ``[otp]`` table (or ``KEYSTILE_OTP_*`` variables) over the defaults."""
    table = settings.section("otp", OtpPolicy)
    unknown = sorted(set(table) - {f.name for f in fields(OtpPolicy)})
    if unknown:
        raise ConfigError(f"unknown [otp] settings: {', '.join(unknown)}")
    return OtpPolicy(**table)
