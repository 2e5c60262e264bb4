"""The ``keystile`` command line: operate workspaces, keys, rules, tokens and the catalog.

Talks to the Redis named by ``KEYSTILE_REDIS_URL``/``REDIS_URL`` (or a config file), with the
secrets from the environment; ``--embedded`` instead runs (or joins) a persistent Redis in a
data folder with generated secrets. Every failure is one clear line on stderr and exit 1.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from keystile.durations import parse_duration
from keystile.home import DEFAULT_HOME, Home
from policies import Catalog, KeystileError, PolicyStore, Rule, Settings
from policies.connect import sync_client

ACTOR = "cli"


class KeystileGroup(click.Group):
    """Turns every Keystile error into one line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeystileError as exc:
            raise click.ClickException(str(exc)) from None


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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
            settings = Settings.load(config_file=params["config"])
        client = sync_client(settings.redis_url)
        root.call_on_close(client.close)
        root.meta["store"] = PolicyStore(client, settings.keyring())
    store: PolicyStore = root.meta["store"]
    return store


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


# -- workspaces ---------------------------------------------------------------------------
@main.group()
def workspace() -> None:
    """Create and list workspaces."""


@workspace.command("create")
@click.argument("name")
@click.pass_context
def workspace_create(ctx: click.Context, name: str) -> None:
    """Create a workspace with a fresh publishable key and SDK access key."""
    created = store_of(ctx).create_workspace(name, actor=ACTOR)
    click.echo(f"workspace       {created.workspace_id}  ({created.name})")
    click.echo(f"publishable key {created.publishable_key}")
    click.echo("SDK access key  created; reveal it in the admin's Tokens page")


@workspace.command("list")
@click.pass_context
def workspace_list(ctx: click.Context) -> None:
    for info in store_of(ctx).list_workspaces():
        click.echo(f"{info.workspace_id}  v{info.version:<5} {when(info.created)}  {info.name}")


# -- role keys ----------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Show and rotate a workspace's publishable key and SDK access key."""


@keys.command("show")
@click.argument("workspace_id")
@click.pass_context
def keys_show(ctx: click.Context, workspace_id: str) -> None:
    """The publishable key, and the SDK access key masked."""
    store = store_of(ctx)
    click.echo(f"publishable key {store.publishable_key(workspace_id)}")
    click.echo(f"SDK access key  {store.masked_sdk_key(workspace_id)}")


@keys.command("rotate")
@click.argument("workspace_id")
@click.pass_context
def keys_rotate(ctx: click.Context, workspace_id: str) -> None:
    """Revoke the publishable key now and print its replacement."""
    click.echo(store_of(ctx).rotate_publishable_key(workspace_id, actor=ACTOR))


@keys.command("roll-sdk")
@click.argument("workspace_id")
@click.option(
    "--grace",
    default="0s",
    show_default=True,
    help="How long the old SDK key keeps working (e.g. 1h, 30m, 7d).",
)
@click.pass_context
def keys_roll_sdk(ctx: click.Context, workspace_id: str, grace: str) -> None:
    """Issue a new SDK access key (shown masked; reveal it in the admin)."""
    store = store_of(ctx)
    store.roll_sdk_key(workspace_id, actor=ACTOR, grace_seconds=parse_duration(grace))
    click.echo(f"SDK access key rolled: {store.masked_sdk_key(workspace_id)}")


# -- rules --------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Blacklist rules: what the publishable key may not do."""


@rules.command("add")
@click.argument("workspace_id")
@click.argument("module")
@click.argument("functionality")
@click.pass_context
def rules_add(ctx: click.Context, workspace_id: str, module: str, functionality: str) -> None:
    """Block MODULE FUNCTIONALITY ('*' for the whole module)."""
    rule = Rule(module, functionality)
    added = store_of(ctx).add_rule(workspace_id, rule, actor=ACTOR)
    click.echo(f"blocked {rule}" if added else f"{rule} was already blocked")


@rules.command("remove")
@click.argument("workspace_id")
@click.argument("module")
@click.argument("functionality")
@click.pass_context
def rules_remove(ctx: click.Context, workspace_id: str, module: str, functionality: str) -> None:
    rule = Rule(module, functionality)
    if not store_of(ctx).remove_rule(workspace_id, rule, actor=ACTOR):
        raise click.ClickException(f"no rule {rule} in {workspace_id}")
    click.echo(f"unblocked {rule}")


@rules.command("list")
@click.argument("workspace_id")
@click.pass_context
def rules_list(ctx: click.Context, workspace_id: str) -> None:
    for rule in store_of(ctx).list_rules(workspace_id):
        click.echo(str(rule))


# -- tokens -------------------------------------------------------------------------------
@main.group()
def tokens() -> None:
    """Workspace tokens: named, many per workspace, shown once."""


@tokens.command("create")
@click.argument("workspace_id")
@click.argument("name")
@click.option("--expires-in", help="Lifetime, e.g. 30d, 12h (default: never expires).")
@click.option(
    "--block",
    "blocks",
    multiple=True,
    metavar="MODULE:FUNCTIONALITY",
    help="A rule for this token (repeatable).",
)
@click.pass_context
def tokens_create(
    ctx: click.Context,
    workspace_id: str,
    name: str,
    expires_in: str | None,
    blocks: tuple[str, ...],
) -> None:
    expires = time.time() + parse_duration(expires_in) if expires_in else None
    created = store_of(ctx).create_token(
        workspace_id,
        name,
        actor=ACTOR,
        expires=expires,
        rules=[Rule.decode(b) for b in blocks],
    )
    click.echo(f"token {created.info.key_id} ({created.info.name}), shown once:")
    click.echo(created.token)


@tokens.command("list")
@click.argument("workspace_id")
@click.pass_context
def tokens_list(ctx: click.Context, workspace_id: str) -> None:
    now = time.time()
    for t in store_of(ctx).list_tokens(workspace_id):
        click.echo(
            f"{t.key_id}  {t.status(now):8} created {when(t.created)}  "
            f"expires {when(t.expires)}  last used {when(t.last_used)}  {t.name}"
        )


@tokens.command("revoke")
@click.argument("workspace_id")
@click.argument("key_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, workspace_id: str, key_id: str) -> None:
    info = store_of(ctx).revoke_token(workspace_id, key_id, actor=ACTOR)
    click.echo(f"revoked {info.key_id} ({info.name})")


# -- catalog, audit, secrets --------------------------------------------------------------
@main.group()
def catalog() -> None:
    """The modules and functionalities of the protected API."""


@catalog.command("load")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def catalog_load(ctx: click.Context, path: Path) -> None:
    """Store the catalog from a .json or .toml FILE."""
    loaded = Catalog.load(path)
    fingerprint = store_of(ctx).save_catalog(loaded)
    click.echo(f"catalog {fingerprint}: {len(loaded.modules)} modules")


@catalog.command("show")
@click.pass_context
def catalog_show(ctx: click.Context) -> None:
    loaded = store_of(ctx).load_catalog()
    if loaded is None:
        raise click.ClickException("no catalog is loaded yet")
    click.echo(json.dumps(loaded.to_dict(), indent=2))


@main.group()
def audit() -> None:
    """The audit log of a workspace."""


@audit.command("tail")
@click.argument("workspace_id")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def audit_tail(ctx: click.Context, workspace_id: str, count: int) -> None:
    for e in reversed(store_of(ctx).audit_tail(workspace_id, count)):
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        click.echo(f"{when(e.time)}  {e.actor:24} {e.action:24} {detail}")


@main.group("secrets")
def secrets_group() -> None:
    """Deployment secrets."""


@secrets_group.command("generate")
def secrets_generate() -> None:
    """Print a fresh master key and digest secret, as environment lines."""
    from policies.crypto import Keyring

    click.echo(f"KEYSTILE_MASTER_KEYS={Keyring.generate_master_key()}")
    click.echo(f"KEYSTILE_DIGEST_SECRET={Keyring.generate_digest_secret()}")
