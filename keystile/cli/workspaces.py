"""``keystile workspace`` and ``keystile keys``: workspaces and their role keys."""

from __future__ import annotations

import click

from keystile.cli.base import ACTOR, main, store_of, when
from keystile.durations import parse_duration


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


@workspace.command("origins")
@click.argument("workspace_id")
@click.argument("origins", nargs=-1)
@click.option("--any", "any_origin", is_flag=True, help="Lift the restriction: any origin.")
@click.pass_context
def workspace_origins(
    ctx: click.Context, workspace_id: str, origins: tuple[str, ...], any_origin: bool
) -> None:
    """Pin the publishable key to browser origins (https://app.example.com ...).

    With no ORIGINS, print the current ones; --any lifts the restriction.
    """
    store = store_of(ctx)
    if origins and any_origin:
        raise click.UsageError("give origins or --any, not both")
    if origins or any_origin:
        store.set_origins(workspace_id, origins, actor=ACTOR)
    pinned = store.workspace(workspace_id).origins
    click.echo("\n".join(pinned) if pinned else "any origin")


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
