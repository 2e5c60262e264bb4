"""``keystile notify``: a workspace's security notifications, and the delivery worker.

The operator's side of what the Tokens page does behind one-time passwords: whoever runs
the CLI already holds the deployment's secrets.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click

from admin_plugin.mailer import SmtpConfig, SmtpMailer
from keystile.cli.base import ACTOR, main, settings_of, store_of, when
from keystile.notify.config import NotifyOptions
from keystile.notify.worker import NotifyWorker
from policies.notify import events, webhooks
from policies.operations import notify


def options_of(ctx: click.Context) -> NotifyOptions:
    return NotifyOptions.from_settings(settings_of(ctx))


@main.group("notify")
def notify_group() -> None:
    """Security notifications: webhook endpoint, mail addresses, test, status, worker."""


@notify_group.command("endpoint")
@click.argument("workspace")
@click.argument("url")
@click.pass_context
def notify_endpoint(ctx: click.Context, workspace: str, url: str) -> None:
    """Send WORKSPACE's webhooks to URL; prints the new signing secret (shown once)."""
    store = store_of(ctx)
    policy = options_of(ctx).endpoints
    secret = store.run(notify.set_endpoint(store.ctx, workspace, url, policy, actor=ACTOR))
    click.echo(f"webhooks of {workspace} go to {url}")
    click.echo(f"signing secret (shown once): {secret}")


@notify_group.command("remove-endpoint")
@click.argument("workspace")
@click.pass_context
def notify_remove(ctx: click.Context, workspace: str) -> None:
    """Stop WORKSPACE's webhooks (queued ones end as failed)."""
    store = store_of(ctx)
    store.run(notify.remove_endpoint(store.ctx, workspace, actor=ACTOR))
    click.echo(f"{workspace} has no webhook endpoint now")


@notify_group.command("rotate-secret")
@click.argument("workspace")
@click.pass_context
def notify_rotate(ctx: click.Context, workspace: str) -> None:
    """A new signing secret for WORKSPACE's endpoint (shown once); the old one stops."""
    store = store_of(ctx)
    secret = store.run(notify.rotate_secret(store.ctx, workspace, actor=ACTOR))
    click.echo(f"signing secret (shown once): {secret}")


@notify_group.command("emails")
@click.argument("workspace")
@click.argument("addresses", nargs=-1)
@click.pass_context
def notify_emails(ctx: click.Context, workspace: str, addresses: tuple[str, ...]) -> None:
    """Mail WORKSPACE's notifications to ADDRESSES (none: to nobody)."""
    store = store_of(ctx)
    set_to = store.run(notify.set_emails(store.ctx, workspace, list(addresses), actor=ACTOR))
    click.echo(f"notifications of {workspace} are mailed to: {', '.join(set_to) or 'nobody'}")


@notify_group.command("test")
@click.argument("workspace")
@click.pass_context
def notify_test(ctx: click.Context, workspace: str) -> None:
    """Send a signed test event to WORKSPACE's endpoint now; exit 1 if it is not accepted."""
    store = store_of(ctx)
    url, secret = store.run(notify.endpoint(store.ctx, workspace))
    event = events.event(events.TEST, workspace, store.ctx.clock(), {"actor": ACTOR})
    outcome = webhooks.post(url, secret, event, options_of(ctx).endpoints)
    said = outcome.describe()
    store.run(notify.record_test(store.ctx, workspace, said, outcome.ok, actor=ACTOR))
    if not outcome.ok:
        raise click.ClickException(f"the test event was not delivered: {said}")
    click.echo(f"test event {said}")


@notify_group.command("status")
@click.argument("workspace")
@click.pass_context
def notify_status(ctx: click.Context, workspace: str) -> None:
    """Where WORKSPACE's notifications go, each channel's last outcome, the dead letters."""
    store = store_of(ctx)
    state = store.run(notify.settings(store.ctx, workspace))
    click.echo(f"endpoint: {state.url or '-'}")
    click.echo(f"emails: {', '.join(state.emails) or '-'}")
    click.echo(f"queue: {state.pending} waiting, {state.dropped} dropped, {state.dead} failed")
    for name, c in state.channels.items():
        outcome = c.status + (f" ({c.error})" if c.error else "") if c.status else "-"
        retry = f", next retry {when(c.next_retry)}" if c.next_retry else ""
        click.echo(f"{name}: {c.delivered} delivered, last {outcome}{retry}")
    for letter in state.dead_letters:
        click.echo(
            f"failed: {letter.get('type')} {letter.get('id')} via {letter.get('channel')} "
            f"after {letter.get('tries')} tries: {letter.get('error')}"
        )


@notify_group.command("run")
@click.option("--once", is_flag=True, help="One pass over what is due, then exit.")
@click.pass_context
def notify_run(ctx: click.Context, once: bool) -> None:
    """The delivery worker: sends due notifications until stopped (SIGINT/SIGTERM).

    Mail needs the [smtp] table; several workers may run side by side."""
    store, settings = store_of(ctx), settings_of(ctx)
    smtp: dict[str, Any] = settings.section("smtp", SmtpConfig)
    mailer = SmtpMailer(SmtpConfig.from_mapping(smtp)) if smtp else None
    worker = NotifyWorker(store, options_of(ctx), mailer)
    if once:
        tried = 0
        while (done := worker.tick()) > 0:
            tried += done
        click.echo(f"{tried} deliveries tried")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo("keystile notify: delivering (Ctrl+C to stop)")
    worker.run(stop)
