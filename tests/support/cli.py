"""Running ``keystile`` commands in-process (click's runner), as the CLI tests do."""

from __future__ import annotations

from click.testing import CliRunner, Result

from keystile.cli import main


def cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def ok(env: dict[str, str], *args: str) -> str:
    result = cli(env, *args)
    assert result.exit_code == 0, result.output
    return result.output
