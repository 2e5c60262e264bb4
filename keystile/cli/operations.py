"""``keystile catalog``, ``audit`` and ``secrets``: operating the deployment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from keystile.cli.base import main, store_of, when
from policies import Catalog


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
