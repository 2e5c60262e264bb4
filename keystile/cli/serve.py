"""``keystile serve``: the gateway in front of your ASGI app, under uvicorn."""

from __future__ import annotations

import os

import click

from keystile.cli.base import main


@main.command("serve")
@click.argument("target", metavar="MODULE:APP")
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(dir_okay=False),
    help="Catalog file (.json/.toml); default: the app's named routes.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve(
    ctx: click.Context, target: str, catalog_file: str | None, host: str, port: int, workers: int
) -> None:
    """Serve MODULE:APP behind the gateway (settings from the environment / --config)."""
    import uvicorn  # the serving stack loads only here

    from keystile import serving
    from policies import Settings

    settings = Settings.load(config_file=ctx.find_root().params["config"])
    catalog = serving.resolve_catalog(serving.load_target(target), catalog_file)
    fingerprint = serving.publish_catalog(settings, catalog)
    click.echo(f"catalog {fingerprint}: {', '.join(catalog.module_names())}")
    # Workers are fresh processes: they rebuild the app from these.
    os.environ[serving.ENV_TARGET] = target
    os.environ[serving.ENV_CATALOG] = os.path.abspath(catalog_file) if catalog_file else ""
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
