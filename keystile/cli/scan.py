"""``keystile scan``: find Keystile keys in files, folders and stdin, offline (no Redis).

Exit status: 1 when a secret key (SDK access key, workspace token) is found, 0 when only
publishable keys or nothing, 2 on a usage error or an unreadable path (what could be read
is still reported). The key itself is never printed: its kind and workspace only.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from keystile.cli.base import main
from keystile.scan import Report, Scanner

JSON_VERSION = 1
FAILED = 2  # unreadable input, bad arguments: apart from 1, "a secret key was found"


class ScanError(click.ClickException):
    exit_code = FAILED


@main.command("scan")
@click.argument(
    "paths", nargs=-1, metavar="[PATH]...", type=click.Path(exists=True, allow_dash=True)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Skip files and folders whose name, or path, matches (repeatable): "
    "'*.min.js', 'node_modules', 'tests/fixtures/*'.",
)
@click.option("--binary", is_flag=True, help="Read binary files too (default: skipped).")
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links found in folders.")
@click.option(
    "--serve-verifier",
    metavar="HOST:PORT",
    help="Instead of scanning: answer TruffleHog's verify requests (docs/scanning.md).",
)
@click.pass_context
def scan(
    ctx: click.Context,
    paths: tuple[str, ...],
    as_json: bool,
    excludes: tuple[str, ...],
    binary: bool,
    follow_symlinks: bool,
    serve_verifier: str | None,
) -> None:
    """Find Keystile keys (format and checksum) in PATH... (files, folders, - for stdin);
    print where, their kind and workspace, never the key."""
    if serve_verifier is not None:
        if paths:
            raise click.UsageError("--serve-verifier scans nothing: give no PATH")
        _serve(serve_verifier)
        return
    if not paths:
        raise click.UsageError("give a PATH to scan (a file, a folder, or - for stdin)")
    scanner = Scanner(excludes=excludes, binary=binary, follow_symlinks=follow_symlinks)
    report = scanner.scan(paths)
    if as_json:
        click.echo(json.dumps(_document(report), indent=2))
    else:
        _print(report)
    for path, reason in report.errors:
        click.echo(f"keystile scan: cannot read {_printable(path)}: {reason}", err=True)
    ctx.exit(FAILED if report.errors else 1 if report.secrets else 0)


def _print(report: Report) -> None:
    for finding in report.findings:
        key = finding.key
        note = "" if key.secret else " (public by design)"
        click.echo(
            f"{_printable(finding.path)}:{key.line}:{key.column}: {key.kind.label} "
            f"({key.kind.value}_) "
            f"of workspace {key.workspace_id}{note}"
        )
    publishable = len(report.findings) - report.secrets
    summary = (
        f"keystile scan: {_count(report.files, 'file')} read, "
        f"{_count(report.secrets, 'secret key')} and "
        f"{_count(publishable, 'publishable key')} found"
    )
    if report.binary:
        summary += f"; {_count(len(report.binary), 'binary file')} skipped (--binary reads them)"
    click.echo(summary, err=True)
    if report.secrets:
        click.echo(
            "keystile scan: keep secret keys out of files (use the environment or a secret "
            "store); one already committed or shared is leaked: roll an SDK key "
            "(keystile keys roll-sdk WS), revoke a token (keystile tokens revoke WS KEY_ID)",
            err=True,
        )


def _printable(path: str) -> str:
    """A file name as text output shows it: a newline, an escape sequence or an undecodable
    byte in it escaped (``\\n``, ``\\x1b``), so it can neither forge a line nor reach the
    terminal. ``--json`` keeps it exact."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _document(report: Report) -> dict[str, Any]:
    """The ``--json`` shape (stable; a change bumps ``version``): docs/scanning.md."""
    return {
        "version": JSON_VERSION,
        "findings": [
            {
                "path": finding.path,
                "line": finding.key.line,
                "column": finding.key.column,
                "kind": finding.key.kind.value,
                "label": finding.key.kind.label,
                "secret": finding.key.secret,
                "workspace_id": finding.key.workspace_id,
            }
            for finding in report.findings
        ],
        "secrets": report.secrets,
        "files_read": report.files,
        "skipped_binary": report.binary,
        "errors": [{"path": path, "reason": reason} for path, reason in report.errors],
    }


def _serve(address: str) -> None:
    from keystile.scan_verifier import verifier

    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise click.UsageError(
            f"--serve-verifier takes HOST:PORT (127.0.0.1:8740), not {address!r}"
        )
    try:
        server = verifier(host, int(port))
    except OSError as exc:
        raise ScanError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    shown = f"http://{address.rpartition(':')[0]}:{server.server_address[1]}/"
    click.echo(f"keystile scan: TruffleHog verifier on {shown} (Ctrl-C stops it)", err=True)
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
