"""The ``keystile`` command group, its error handling and the store it opens.

Talks to the Redis named by ``KEYSTILE_REDIS_URL``/``REDIS_URL`` (or a config file), with the
secrets from the environment; ``--embedded`` instead runs (or joins) a persistent Redis in a
data folder with generated secrets. Every failure is one clear line on stderr and exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from keystile.home import DEFAULT_HOME, Home
from policies import KeystileError, PolicyStore, Settings
from policies.errors import ConfigError, StoreUnreachable
from policies.storage.connections import sync_client, unreachable
from policies.times import format_time

ACTOR = "cli"
REDIS_URL = "redis_url"  # ctx.meta: the Redis this invocation talks to, for error messages
EMBEDDED_HINT = "add --embedded (keystile --embedded …) to run one in the data folder"


class KeystileGroup(click.Group):
    """Turns every Keystile error into one line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreUnreachable as exc:
            url = ctx.meta.get(REDIS_URL)
            if url is None or ctx.params.get("embedded"):
                raise click.ClickException(str(exc)) from None
            raise click.ClickException(unreachable(url, EMBEDDED_HINT, exc.reason)) from None
        except KeystileError as exc:
            raise click.ClickException(str(exc)) from None


def when(ts: object) -> str:
    """A stored time, whatever was stored (a far-future or damaged one never raises)."""
    return format_time(ts)


def home_hint(params: dict[str, Any]) -> str:
    """How to use a data folder instead of configured secrets (the demo's, if it is here)."""
    home = Home(params["data_dir"])
    if home.secrets_file.exists():
        return (
            f"{home.path} holds a Keystile data folder (the demo's?): to use its Redis and "
            f"secrets, add --embedded (keystile --embedded --data-dir {home.path} …)"
        )
    return "or use a data folder's own Redis and secrets: keystile --embedded [--data-dir DIR] …"


T = TypeVar("T")


def with_home_hint(build: Callable[[], T], params: dict[str, Any]) -> T:
    """``build()``; a configuration error (no master key...) also names the data folder way
    out, unless this invocation already uses one."""
    try:
        return build()
    except ConfigError as exc:
        if params.get("embedded"):
            raise
        raise ConfigError(f"{exc}\n{home_hint(params)}") from None


def store_of(ctx: click.Context) -> PolicyStore:
    """The store for this invocation, opened on first use (``--help`` needs no Redis)."""
    root = ctx.find_root()
    if "store" not in root.meta:
        params = root.params
        if params["embedded"]:
            home = Home(params["data_dir"])
            url = root.with_resource(home.serve_redis())
            settings = home.settings(url)
        else:
            settings = with_home_hint(lambda: Settings.load(config_file=params["config"]), params)
        root.meta[REDIS_URL] = settings.redis_url
        client = sync_client(settings.redis_url)
        root.call_on_close(client.close)
        store = PolicyStore(client, settings.keyring())
        store.deployment.check_digest_secret()  # a changed secret: one clear line, not 401s later
        root.meta["store"] = store
        root.meta["settings"] = settings
    opened: PolicyStore = root.meta["store"]
    return opened


@click.group(cls=KeystileGroup)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="KEYSTILE_CONFIG",
    help="TOML config file (see README).",
)
@click.option(
    "--embedded",
    is_flag=True,
    help="Use an embedded, persistent Redis in the data folder (no setup needed).",
)
@click.option(
    "--data-dir",
    default=DEFAULT_HOME,
    show_default=True,
    type=click.Path(),
    envvar="KEYSTILE_HOME",
    help="Data folder for --embedded and the demo.",
)
@click.version_option(package_name="keystile")
def main(config: str | None, embedded: bool, data_dir: str) -> None:
    """Keystile: workspace API keys, blacklist rules and tokens over one Redis store."""


def settings_of(ctx: click.Context) -> Settings:
    """The settings the store of this invocation was opened with."""
    store_of(ctx)
    settings: Settings = ctx.find_root().meta["settings"]
    return settings
