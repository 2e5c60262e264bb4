"""``keystile catalog``, ``audit`` and ``secrets``: operating the deployment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gateway.routing import Router
from keystile.cli.base import main, store_of, when
from policies import Catalog
from policies.listing import MAX_PAGE, AuditQuery


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
    Router(loaded)  # refuse what a gateway could not compile (e.g. an unknown convertor)
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
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, MAX_PAGE))
@click.option("--action", default="", help="Only this action (a final * matches its start).")
@click.option("--actor", default="", help="Only this actor (a final * matches its start).")
@click.option("--before", help="Entries older than this id (printed to page back).")
@click.pass_context
def audit_tail(
    ctx: click.Context, workspace_id: str, count: int, action: str, actor: str, before: str | None
) -> None:
    """The newest matching entries, oldest of them first; pages back with --before."""
    page = store_of(ctx).audit_page(workspace_id, AuditQuery(action, actor, before, count))
    for e in reversed(page.entries):
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        click.echo(f"{e.entry_id}  {when(e.time)}  {e.actor:24} {e.action:24} {detail}")
    if page.older is not None:
        click.echo(f"(older entries: --before {page.older})", err=True)


@main.group("secrets")
def secrets_group() -> None:
    """Deployment secrets."""


@secrets_group.command("generate")
def secrets_generate() -> None:
    """Print a fresh master key and digest secret, as environment lines."""
    from policies.crypto import Keyring

    click.echo(f"KEYSTILE_MASTER_KEYS={Keyring.generate_master_key()}")
    click.echo(f"KEYSTILE_DIGEST_SECRET={Keyring.generate_digest_secret()}")


@main.command("export")
@click.argument("workspace_id")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export_command(ctx: click.Context, workspace_id: str, path: Path) -> None:
    """Write a workspace's policies to PATH (keys stay encrypted; file mode 0600)."""
    document = store_of(ctx).export_workspace(workspace_id)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=1)
    click.echo(f"exported {workspace_id} to {path}")


@main.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_command(ctx: click.Context, path: Path) -> None:
    """Restore a workspace exported with `keystile export` (into a Redis without it)."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read backup {path}: {exc}") from None
    workspace_id = store_of(ctx).import_workspace(document, actor="cli")
    click.echo(f"restored {workspace_id}")
