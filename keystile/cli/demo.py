"""``keystile demo``: run the whole product locally (see :mod:`keystile.demo`)."""

from __future__ import annotations

import os

import click

from keystile.cli.base import main
from keystile.home import Home


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KEYSTILE_DEMO_HOST")
@click.option(
    "--api-port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="KEYSTILE_DEMO_API_PORT",
)
@click.option(
    "--admin-port",
    default=8001,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="KEYSTILE_DEMO_ADMIN_PORT",
)
@click.option(
    "--smtp-port",
    default=8025,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="KEYSTILE_DEMO_SMTP_PORT",
)
@click.option(
    "--data-dir",
    "data_dir",
    type=click.Path(),
    default=None,
    help="Data folder (also accepted before the command: keystile --data-dir DIR demo).",
)
@click.option(
    "--trusted-host",
    "trusted_host",
    multiple=True,
    metavar="NAME",
    help="Another Host name to answer (the demo refuses all but the ones it binds to).",
)
@click.pass_context
def demo(
    ctx: click.Context,
    host: str,
    api_port: int,
    admin_port: int,
    smtp_port: int,
    trusted_host: tuple[str, ...],
    data_dir: str | None,
) -> None:
    """Serve a sample API behind the gateway and the admin's Tokens page.

    Keys and rules persist in the data folder (--data-dir); REDIS_URL uses an external Redis
    (`keystile --embedded demo` ignores it).
    Only the Host names it binds to are answered (--trusted-host adds one); a --host beyond
    loopback prints a warning.
    """
    from keystile.demo import DemoOptions, run_demo  # the serving stack loads only here

    root = ctx.find_root()
    # `keystile --embedded demo`: the data folder's own Redis, whatever REDIS_URL says.
    external = os.environ.get("KEYSTILE_REDIS_URL") or os.environ.get("REDIS_URL")
    options = DemoOptions(
        host,
        api_port,
        admin_port,
        smtp_port,
        None if root.params["embedded"] else external,
        trusted_host,
    )
    run_demo(Home(data_dir or root.params["data_dir"]), options)
