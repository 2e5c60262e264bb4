"""Production serving: the gateway before an ASGI app under uvicorn, the admin as a Flask app.

``keystile authz`` runs :func:`create_authz_app` the same way (the catalog: the store's).
``keystile serve module:app`` publishes the catalog (from ``--catalog FILE`` or the app's
named routes) to the store, then runs uvicorn with :func:`create_gateway_app` as the factory
of every worker. :func:`create_admin_app` is the admin's Flask app factory, to mount in the
host app (e.g. with werkzeug's ``DispatcherMiddleware``) or serve on its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from flask import Flask
from flask_admin import Admin
from starlette.types import ASGIApp
from uvicorn.importer import ImportFromStringError, import_from_string

from admin_plugin import KeystileAdmin, SmtpConfig, SmtpMailer
from gateway import KeyGateMiddleware, catalog_from_app
from gateway.authz import AuthzService
from policies import Catalog, ConfigError, PolicyStore, Settings
from policies.connect import sync_client
from policies.otp import OtpPolicy

ENV_TARGET = "KEYSTILE_SERVE_APP"
ENV_CATALOG = "KEYSTILE_SERVE_CATALOG"


def load_target(target: str) -> Any:
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


def publish_catalog(settings: Settings, catalog: Catalog) -> str:
    """Store the catalog so the admin offers what the gateway serves; its fingerprint."""
    client = sync_client(settings.redis_url)
    try:
        return PolicyStore(client, settings.keyring()).save_catalog(catalog)
    finally:
        client.close()


def create_gateway_app() -> ASGIApp:
    """uvicorn factory (one call per worker): the target app behind the gateway."""
    settings = Settings.load()
    app = load_target(os.environ[ENV_TARGET])
    catalog = resolve_catalog(app, os.environ.get(ENV_CATALOG) or None)
    return KeyGateMiddleware.from_settings(app, settings, catalog=catalog)


def create_authz_app() -> ASGIApp:
    """uvicorn factory of ``keystile authz`` (one call per worker): the authz service, its
    options from ``[authz]`` and ``[gateway]``, the catalog the store's."""
    return AuthzService.from_settings(Settings.load())


def create_admin_app(
    current_admin: Callable[[], Any],
    *,
    settings: Settings | None = None,
    name: str = "Keystile",
) -> Flask:
    """A Flask app with Flask-Admin and the Tokens page, configured from ``settings``.

    ``current_admin`` says who is signed in (see :mod:`admin_plugin.identity`). Needs
    ``[admin] secret_key`` (or ``KEYSTILE_ADMIN_SECRET_KEY``) and an ``[smtp]`` table.
    """
    settings = Settings.load() if settings is None else settings
    secret = os.environ.get("KEYSTILE_ADMIN_SECRET_KEY") or settings.section("admin").get(
        "secret_key"
    )
    if not secret or len(str(secret)) < 32:
        raise ConfigError("the admin needs KEYSTILE_ADMIN_SECRET_KEY (at least 32 characters)")
    app = Flask("keystile_admin")
    app.secret_key = str(secret)
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
