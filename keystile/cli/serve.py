"""``keystile serve``: the gateway in front of your ASGI app, under uvicorn."""

from __future__ import annotations

import os

import click

from keystile.cli.base import REDIS_URL, main, with_home_hint
from keystile.home import Home


@main.command("serve")
@click.argument("target", metavar="MODULE:APP")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to import MODULE from (as uvicorn's --app-dir).",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(dir_okay=False),
    help="Catalog file (.json/.toml); default: the app's named routes.",
)
@click.option(
    "--force-catalog",
    is_flag=True,
    help="Publish the catalog even if it disarms live rules or rate limits (or is empty).",
)
@click.option(
    "--exempt",
    "exempt",
    multiple=True,
    metavar="PATH",
    help="A path that needs no key (repeat; a final '*' covers the segments below), "
    "e.g. --exempt /health --exempt '/docs*' --exempt /openapi.json.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve(
    ctx: click.Context,
    target: str,
    app_dir: str,
    catalog_file: str | None,
    force_catalog: bool,
    exempt: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
) -> None:
    """Serve MODULE:APP behind the gateway (settings from the environment / --config;
    with `keystile --embedded serve`, the data folder's own Redis and secrets)."""
    import uvicorn  # the serving stack loads only here

    from keystile import serving
    from policies import Settings

    root = ctx.find_root()
    if root.params["embedded"]:
        home = Home(root.params["data_dir"])
        settings = home.settings(root.with_resource(home.serve_redis()))
        os.environ.update(serving.settings_environment(settings))  # for the workers too
    else:
        settings = with_home_hint(
            lambda: Settings.load(config_file=root.params["config"]), root.params
        )
    root.meta[REDIS_URL] = settings.redis_url
    exempt_paths = serving.exempt_paths(settings, exempt)  # a bad path: one line, exit 1
    app_dir = os.path.abspath(app_dir)
    catalog = serving.resolve_catalog(serving.load_target(target, app_dir), catalog_file)
    fingerprint = serving.publish_catalog(settings, catalog, force=force_catalog)
    click.echo(f"catalog {fingerprint}: {', '.join(catalog.module_names())}")
    if exempt_paths:
        click.echo(f"no key needed for: {', '.join(exempt_paths)}")
    else:
        click.echo("every path needs a key (open one, e.g. /health or /docs, with --exempt PATH)")
    leak_routes = serving.leak_report_routes(settings)
    if leak_routes:
        click.echo(f"leak reports: {', '.join(leak_routes)} (README: Leak reports)")
    # Workers are fresh processes: they rebuild the app from these.
    os.environ[serving.ENV_TARGET] = target
    os.environ[serving.ENV_APP_DIR] = app_dir
    os.environ[serving.ENV_CATALOG] = os.path.abspath(catalog_file) if catalog_file else ""
    os.environ[serving.ENV_EXEMPT] = "\n".join(exempt)
    if ctx.find_root().params["config"]:
        os.environ["KEYSTILE_CONFIG"] = os.path.abspath(ctx.find_root().params["config"])
    uvicorn.run(
        "keystile.serving:create_gateway_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
