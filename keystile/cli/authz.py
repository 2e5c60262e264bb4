"""``keystile authz``: the gateway's decision as a service for nginx, Caddy, Traefik, Envoy."""

from __future__ import annotations

import os

import click

from keystile.authz_server import SERVERS, ServerName, default_server
from keystile.cli.base import REDIS_URL, main, with_home_hint
from keystile.home import Home


@main.command("authz")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--server",
    type=click.Choice(SERVERS),
    help="HTTP server (default: granian when installed, with keystile[fast]; else uvicorn).",
)
@click.pass_context
def authz(
    ctx: click.Context, host: str, port: int, workers: int, server: ServerName | None
) -> None:
    """Answer a reverse proxy's auth checks (options: [authz] and [gateway], or
    KEYSTILE_AUTHZ_* / KEYSTILE_GATEWAY_*; the catalog: `keystile catalog load FILE`).
    With `keystile --embedded authz`, the data folder's own Redis and secrets."""
    from gateway.authz.service import AuthzService  # the serving stack loads only here
    from keystile import authz_server, serving
    from policies import Settings

    root = ctx.find_root()
    config = root.params["config"]
    if root.params["embedded"]:
        home = Home(root.params["data_dir"])
        embedded = home.settings(root.with_resource(home.serve_redis()))
        os.environ.update(serving.settings_environment(embedded))  # for the workers too
    # [authz] and [gateway] from the file
    settings = with_home_hint(lambda: Settings.load(config_file=config), root.params)
    root.meta[REDIS_URL] = settings.redis_url
    # Built once here so that a bad option is one line and exit 1 before the server starts.
    AuthzService.from_settings(settings)
    server = server or default_server()
    if not authz_server.installed(server):
        extra = "fast" if server == "granian" else "serve"
        raise click.ClickException(f"{server} is not installed: pip install 'keystile[{extra}]'")
    if config:
        os.environ["KEYSTILE_CONFIG"] = os.path.abspath(config)
    click.echo(f"keystile authz: {server} on http://{host}:{port}, {workers} worker(s)", err=True)
    authz_server.run(server, host=host, port=port, workers=workers)
