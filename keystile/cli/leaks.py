"""``keystile leaks``: a workspace's leak policy, and the leak reports it received.

``policy WS`` shows the policy; with ``--sdk roll|notify`` and/or ``--tokens
revoke|notify`` it changes it (audited). ``list WS`` prints the reports, newest first
(``--json`` for scripts): where each key was found and what was done, never the key.
"""

from __future__ import annotations

import dataclasses
import json

import click

from keystile.cli.base import ACTOR, main, store_of, when
from policies.leaks.policy import SDK_CHOICES, TOKEN_CHOICES
from policies.operations import leaks as leak_ops


@main.group()
def leaks() -> None:
    """Leak reports (GitHub, GitLab) and what a workspace does about them."""


@leaks.command("policy")
@click.argument("workspace_id")
@click.option("--sdk", type=click.Choice(SDK_CHOICES), help="A leaked SDK key: roll it or notify.")
@click.option(
    "--tokens", type=click.Choice(TOKEN_CHOICES), help="A leaked token: revoke it or notify."
)
@click.pass_context
def leaks_policy(
    ctx: click.Context, workspace_id: str, sdk: str | None, tokens: str | None
) -> None:
    """Show the workspace's leak policy, or change it with --sdk / --tokens."""
    store = store_of(ctx)
    policy, damaged = store.run(leak_ops.policy_in_force(store.ctx, workspace_id))
    if damaged:
        click.echo("the stored leak policy cannot be read: the default is in force", err=True)
    if sdk is not None or tokens is not None:
        policy = dataclasses.replace(policy, sdk=sdk or policy.sdk, tokens=tokens or policy.tokens)
        store.run(leak_ops.set_policy(store.ctx, workspace_id, policy, actor=ACTOR))
    click.echo(f"sdk key: {policy.sdk}\ntokens: {policy.tokens}")


@leaks.command("list")
@click.argument("workspace_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.pass_context
def leaks_list(ctx: click.Context, workspace_id: str, as_json: bool) -> None:
    """The workspace's leak reports, newest first."""
    store = store_of(ctx)
    records = store.run(leak_ops.recent(store.ctx, workspace_id))
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return
    if not records:
        click.echo("no leak reports")
    for r in records:
        where = r.where or "(no location)"
        click.echo(f"{when(r.at)}  {r.kind} {r.key_id}  {r.outcome}  {r.reporter}: {where}")
