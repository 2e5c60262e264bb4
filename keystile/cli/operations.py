"""``keystile catalog``, ``audit``, ``export`` and ``import``: operating the deployment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gateway.routing.router import Router
from keystile.cli.base import ACTOR, main, settings_of, store_of, when
from keystile.notify.config import NotifyOptions
from policies import Catalog
from policies.backup.document import DAY, MAX_AGE
from policies.listing import MAX_PAGE, AuditQuery


# -- catalog, audit, secrets --------------------------------------------------------------
@main.group()
def catalog() -> None:
    """The modules and functionalities of the protected API."""


@catalog.command("load")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Store it even if it disarms live rules, rate limits or scopes (or is empty).",
)
@click.pass_context
def catalog_load(ctx: click.Context, path: Path, force: bool) -> None:
    """Store the catalog from a .json or .toml FILE."""
    loaded = Catalog.load(path)
    # Refuse what a gateway could not compile (an unknown convertor); the templates were
    # checked by the catalog itself, so no route needs compiling here.
    Router(loaded, compile_now=False)
    fingerprint = store_of(ctx).save_catalog(loaded, actor=ACTOR, force=force)
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
    """The newest matching entries, oldest of them first; pages back with --before.

    WORKSPACE_ID 'deployment': the deployment's own entries (catalog loads, rewraps).
    """
    store = store_of(ctx)
    if workspace_id == "deployment":
        entries, older = store.deployment.audit_tail(count), None
    else:
        page = store.audit_page(workspace_id, AuditQuery(action, actor, before, count))
        entries, older = page.entries, page.older
    for e in reversed(entries):
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        click.echo(f"{e.entry_id}  {when(e.time)}  {e.actor:24} {e.action:24} {detail}")
    if older is not None:
        click.echo(f"(older entries: --before {older})", err=True)


@main.command("export")
@click.argument("workspace_id")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export_command(ctx: click.Context, workspace_id: str, path: Path) -> None:
    """Write a workspace's policies to PATH (keys stay encrypted; file mode 0600)."""
    document = store_of(ctx).export_workspace(workspace_id, actor=ACTOR)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=1)
    click.echo(f"exported {workspace_id} to {path}")


@main.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--apply-catalog",
    is_flag=True,
    help="Also replace the deployment's catalog with the backup's (audited, evented).",
)
@click.option(
    "--unverified",
    is_flag=True,
    help="Accept an unauthenticated format-1 backup (no MAC; audited), only if you know "
    "nobody edited the file. A format-2 backup's MAC is always checked: a modified one is "
    "never restored.",
)
@click.option(
    "--backup-digest-secret-file",
    "secret_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A backup made under another digest secret: FILE holds that secret, and the "
    "backup's MAC is checked with it (its keys will not work here: roll them).",
)
@click.option(
    "--max-age",
    "max_age_days",
    default=MAX_AGE / DAY,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=36500),
    help="Refuse a backup older than this many days (it may bring back what changed since).",
)
@click.pass_context
def import_command(
    ctx: click.Context,
    path: Path,
    apply_catalog: bool,
    unverified: bool,
    secret_file: Path | None,
    max_age_days: float,
) -> None:
    """Restore a workspace exported with `keystile export` (into a Redis without it).

    Only that workspace is restored: the backup's catalog is compared with the live one and
    applied only with --apply-catalog. Credentials revoked here since the backup was made
    stay revoked. Its notification settings come back too: a webhook endpoint must be one
    this deployment's [notify] rules allow.
    """
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise click.ClickException(f"cannot read backup {path}: {exc}") from None
    secret = None
    if secret_file is not None:
        try:
            secret = secret_file.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {secret_file}: {exc}") from None
    store = store_of(ctx)
    restored = store.import_workspace(
        document,
        actor=ACTOR,
        apply_catalog=apply_catalog,
        unverified=unverified,
        digest_secret=secret,
        max_age=max_age_days * DAY,
        endpoints=NotifyOptions.from_settings(settings_of(ctx)).endpoints,
    )
    click.echo(f"restored {restored.workspace_id}")
    if restored.exported_at is None:
        click.echo("made: unknown (a format-1 backup does not say)")
    else:
        days = (store.ctx.clock() - restored.exported_at) / DAY
        click.echo(f"made: {when(restored.exported_at)} ({days:.1f} days ago)")
    click.echo(f"catalog: {restored.catalog}")
    click.echo(f"notifications: {' and '.join(restored.notify) or 'none set'}")
    if restored.kept_revoked:
        click.echo(
            f"kept revoked: {restored.kept_revoked} credential(s) revoked here since the "
            "backup was made (a replaced publishable or SDK key: rotate or roll it)"
        )
    if restored.out_of_policy:
        click.echo(
            f"out of policy: {restored.out_of_policy} live token(s) beyond the workspace's "
            "token lifetime policy, kept as they are (shown out of policy)"
        )
    if not restored.verified:
        click.echo("warning: restored UNVERIFIED (not authenticated under this deployment)")
