"""The ``[leaks]`` options and the README's table of them agree: each one, its variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from gateway.leaks.config import LeakConfig
from policies.environment import variable


def test_every_option_has_its_readme_row() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for field in fields(LeakConfig):
        row = f"| `{field.name}` | `{variable('leaks', field.name)}` |"
        assert row in readme, f"README: no [leaks] row for {field.name}"
