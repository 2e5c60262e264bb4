"""``keystile usage``: what the gateways counted, and ``rules add --dry-run``'s impact."""

from __future__ import annotations

import json
from typing import Any

import click

from keystile.cli.base import main, store_of, when
from keystile.durations import parse_duration
from policies import PolicyStore, Rule
from policies.errors import KeystileError, NotFound
from policies.usage.request_counts import (
    ALLOWED,
    PUBLISHABLE,
    SDK,
    Impact,
    Report,
    action_name,
    origin_name,
)

MAX_SPAN = 400 * 86400  # the day buckets' retention
IMPACT_SPANS = (("24h", 86400.0), ("7d", 7 * 86400.0))


@main.command("usage")
@click.argument("workspace_id")
@click.option(
    "--key",
    "key",
    default=None,
    metavar="publishable|sdk|TOKEN_ID",
    help="One key's counts (default: the whole workspace).",
)
@click.option("--since", default="24h", show_default=True, help="How far back: 1h, 24h, 7d, 30d…")
@click.option(
    "--by",
    type=click.Choice(["outcome", "action", "origin"]),
    default="outcome",
    show_default=True,
    help="Rows per time bucket and outcome, per action, or per calling origin.",
)
@click.option("--json", "as_json", is_flag=True, help="Everything, as one JSON document.")
@click.pass_context
def usage(
    ctx: click.Context, workspace_id: str, key: str | None, since: str, by: str, as_json: bool
) -> None:
    """Requests the gateways counted for WORKSPACE_ID (flushed every few seconds)."""
    span = parse_duration(since)
    if not 0 < span <= MAX_SPAN:
        raise KeystileError(f"--since must be between 1s and {MAX_SPAN // 86400}d")
    store = store_of(ctx)
    subject = _subject(store, workspace_id, key)
    report = store.usage(workspace_id, since=span, subject=subject)
    if as_json:
        click.echo(json.dumps(_document(workspace_id, subject, span, report), indent=2))
    elif by == "outcome":
        outcomes = list(report.totals())
        rows = [
            [when(start), *(str(report.outcomes[o][i]) for o in outcomes)]
            for i, start in enumerate(report.starts)
            if any(report.outcomes[o][i] for o in outcomes)
        ]
        rows.append(["total", *(str(n) for n in report.totals().values())])
        _table([f"{report.grain.code} bucket (UTC)", *outcomes], rows)
    elif by == "action":
        rows = []
        for action, n in report.top_actions(n=1000).items():
            allowed = report.actions[action].get(ALLOWED, 0)
            rows.append([action_name(action), str(n), str(allowed), str(n - allowed)])
        _table(["action", "requests", "allowed", "refused"], rows)
    else:
        _table(
            ["origin", "requests"],
            [[origin_name(o), str(n)] for o, n in report.top_origins(1000).items()],
        )


def _subject(store: PolicyStore, ws: str, key: str | None) -> str | None:
    store.workspace(ws)  # an unknown workspace is an error, not an empty table
    if key is None or key in (PUBLISHABLE, SDK):
        return key
    if not store.has_token(ws, key):
        raise NotFound(f"--key: no token with id {key!r} in {ws} (or publishable, sdk)")
    return key


def _document(ws: str, subject: str | None, span: float, report: Report) -> dict[str, Any]:
    return {
        "workspace": ws,
        "key": subject,
        "since_seconds": span,
        "grain_seconds": report.grain.seconds,
        "buckets": report.starts,
        "outcomes": report.outcomes,
        "totals": report.totals(),
        "actions": report.actions,
        "origins": report.origins,
    }


def _table(header: list[str], rows: list[list[str]]) -> None:
    if not rows or rows == [["total"]]:
        click.echo("no requests counted in that range")
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def impacts(store: PolicyStore, ws: str, rule: Rule) -> list[tuple[str, Impact]]:
    """The rule checked as ``rules add`` would (workspace, catalog), then its impact."""
    store.workspace(ws)
    catalog = store.load_catalog()
    if catalog is None:
        raise KeystileError("no catalog is loaded yet: run `keystile catalog load FILE` first")
    catalog.check_rule(rule)
    return [(label, store.rule_impact(ws, rule, span=span)) for label, span in IMPACT_SPANS]


def echo_impact(rule: Rule, found: list[tuple[str, Impact]]) -> None:
    """``rules add --dry-run``: what the rule would have refused, nothing saved."""
    click.echo(f"dry run: {rule} is not saved; over the last")
    for label, impact in found:
        origins = ", ".join(f"{origin_name(o)} {n}" for o, n in list(impact.origins.items())[:5])
        click.echo(
            f"  {label}: it would have refused {impact.requests} request(s) of the "
            f"publishable key" + (f" (origins: {origins})" if origins else "")
        )
