"""``keystile tokens restrict`` and ``keystile keys restrict``: allow-listed scopes and
networks (:mod:`policies.restrictions`), and the options ``tokens create`` shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from keystile.cli.access import tokens
from keystile.cli.base import ACTOR, store_of
from keystile.cli.workspaces import keys
from policies.errors import KeystileError
from policies.operations.restrictions import KEEP, Change


def allow_list_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--scope`` and ``--network``, repeatable."""
    command = click.option(
        "--network",
        "networks",
        multiple=True,
        metavar="CIDR",
        help="Allow requests from this range only, e.g. 203.0.113.0/24 (repeatable).",
    )(command)
    return click.option(
        "--scope",
        "scopes",
        multiple=True,
        metavar="SCOPE",
        help="Allow only this action: module.functionality, module:* or module:read (repeatable).",
    )(command)


def _lifting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--any-network", is_flag=True, help="Lift the network restriction.")(
        command
    )
    return click.option("--any-action", is_flag=True, help="Lift the scope restriction.")(command)


def _change(values: tuple[str, ...], lift: bool, what: str) -> Change:
    if values and lift:
        raise KeystileError(f"give {what} or lift them, not both")
    if lift:
        return None
    return values if values else KEEP


def describe(scopes: tuple[str, ...] | None, networks: tuple[str, ...] | None) -> str:
    return (
        f"scopes: {', '.join(scopes) if scopes is not None else 'any action'}; "
        f"networks: {', '.join(networks) if networks is not None else 'any network'}"
    )


@tokens.command("restrict")
@click.argument("workspace_id")
@click.argument("key_id")
@allow_list_options
@_lifting_options
@click.pass_context
def tokens_restrict(
    ctx: click.Context,
    workspace_id: str,
    key_id: str,
    scopes: tuple[str, ...],
    networks: tuple[str, ...],
    any_action: bool,
    any_network: bool,
) -> None:
    """Replace a token's scopes and/or networks (the ones not given stay as they are)."""
    scope_change = _change(scopes, any_action, "scopes")
    network_change = _change(networks, any_network, "networks")
    if scope_change is KEEP and network_change is KEEP:
        raise KeystileError(
            "nothing to change: give --scope, --network, --any-action or --any-network"
        )
    info = store_of(ctx).restrict_token(
        workspace_id, key_id, scopes=scope_change, networks=network_change, actor=ACTOR
    )
    click.echo(f"token {info.key_id} ({info.name}) {describe(info.scopes, info.networks)}")


@keys.command("restrict")
@click.argument("workspace_id")
@click.option("--sdk", is_flag=True, required=True, help="The SDK access key (required).")
@allow_list_options
@_lifting_options
@click.pass_context
def keys_restrict(
    ctx: click.Context,
    workspace_id: str,
    sdk: bool,
    scopes: tuple[str, ...],
    networks: tuple[str, ...],
    any_action: bool,
    any_network: bool,
) -> None:
    """Show, or replace, the SDK access key's scopes and/or networks."""
    store = store_of(ctx)
    scope_change = _change(scopes, any_action, "scopes")
    network_change = _change(networks, any_network, "networks")
    if scope_change is KEEP and network_change is KEEP:
        found = store.sdk_restriction(workspace_id)
    else:
        found = store.restrict_sdk_key(
            workspace_id, scopes=scope_change, networks=network_change, actor=ACTOR
        )
    click.echo(f"SDK access key {describe(found.scopes, found.networks)}")
