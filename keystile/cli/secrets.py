"""``keystile secrets``: the deployment's master keys and digest secret over their life."""

from __future__ import annotations

import click

from keystile.cli.base import ACTOR, main, store_of


@main.group("secrets")
def secrets_group() -> None:
    """Deployment secrets: generate, rewrap after a master-key rotation, status."""


@secrets_group.command("generate")
def secrets_generate() -> None:
    """Print a fresh master key and digest secret, as environment lines."""
    from policies.keys.crypto import Keyring

    click.echo(f"KEYSTILE_MASTER_KEYS={Keyring.generate_master_key()}")
    click.echo(f"KEYSTILE_DIGEST_SECRET={Keyring.generate_digest_secret()}")


@secrets_group.command("rewrap")
@click.pass_context
def secrets_rewrap(ctx: click.Context) -> None:
    """Re-encrypt every stored key and secret under the first master key.

    One value per atomic step; values already current are skipped, so an interrupted run
    is simply run again. At the end every value is counted again: any still under a
    retired key (a process still writing with the old list) fails the run.
    Audited per workspace and in the deployment's stream.
    """

    def progress(ws: str, rewrapped: int, failed: int) -> None:
        click.echo(f"{ws}  rewrapped {rewrapped}" + (f", {failed} FAILED" if failed else ""))

    report = store_of(ctx).deployment.rewrap_secrets(actor=ACTOR, progress=progress)
    click.echo(
        f"done: {report.rewrapped} rewrapped, {report.current} already current, "
        f"{report.failed} failed"
    )
    if report.failed:
        raise click.ClickException(
            f"{report.failed} value(s) could not be rewrapped (undecryptable or not bound "
            "to their place): see `keystile secrets status`"
        )
    if report.left:
        raise click.ClickException(
            f"{report.left} value(s) remain under a master key being retired: a process "
            "still writes with the old key list: restart it with the new list first, then "
            "run `keystile secrets rewrap` again"
        )


@secrets_group.command("status")
@click.pass_context
def secrets_status(ctx: click.Context) -> None:
    """Which master keys still decrypt stored values (a key at 0 can be removed)."""
    status = store_of(ctx).deployment.secrets_status()
    for position, (check, count) in enumerate(status.by_master_key, start=1):
        role = "encrypts" if position == 1 else "decrypts"
        click.echo(f"master key #{position} (check {check}, {role}): {count} value(s)")
    click.echo(f"from before contexts (rewrap them): {status.unbound}")
    click.echo(f"undecryptable with these keys: {status.unreadable}")
    if status.unreadable:
        raise click.ClickException("some stored values need a master key that is not configured")
