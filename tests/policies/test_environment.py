"""``KEYSTILE_<TABLE>_<OPTION>`` variables over the config file, typed by the owner's schema."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from policies import ConfigError, Settings
from policies.environment import overlay


@dataclass(frozen=True)
class Options:
    name: str
    port: int = 25
    timeout: float = 10.0
    enabled: bool = True
    mode: Literal["a", "b"] = "a"
    header: str | None = None
    paths: Collection[str] = ()
    password: str | None = None


def test_variables_win_and_take_the_declared_type() -> None:
    env = {
        "KEYSTILE_DEMO_PORT": "2525",
        "KEYSTILE_DEMO_TIMEOUT": "2.5",
        "KEYSTILE_DEMO_ENABLED": "off",
        "KEYSTILE_DEMO_MODE": "b",
        "KEYSTILE_DEMO_HEADER": "",
        "KEYSTILE_DEMO_PATHS": "/health, /docs/*,",
        "KEYSTILE_DEMO_PASSWORD": "123456",  # stays text: the type decides, not the look
        "KEYSTILE_OTHER_PORT": "1",  # another table's
    }
    merged = overlay("demo", {"name": "file", "port": 1, "extra": "kept"}, Options, env)
    assert merged == {
        "name": "file",
        "extra": "kept",
        "port": 2525,
        "timeout": 2.5,
        "enabled": False,
        "mode": "b",
        "header": "",
        "paths": ["/health", "/docs/*"],
        "password": "123456",
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KEYSTILE_DEMO_PORT", "25a", "KEYSTILE_DEMO_PORT must be a whole number, not '25a'"),
        ("KEYSTILE_DEMO_TIMEOUT", "soon", "KEYSTILE_DEMO_TIMEOUT must be a number"),
        ("KEYSTILE_DEMO_ENABLED", "maybe", "KEYSTILE_DEMO_ENABLED must be true or false"),
    ],
)
def test_values_that_do_not_convert_name_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        overlay("demo", {}, Options, {variable: value})


def test_settings_section_reads_the_environment_it_was_loaded_from(
    tmp_path: Path, master_key: str, digest_secret: str
) -> None:
    path = tmp_path / "keystile.toml"
    path.write_text(
        f'[keystile]\nmaster_keys = ["{master_key}"]\ndigest_secret = "{digest_secret}"\n'
        '[demo]\nname = "from file"\nport = 1\n'
    )
    settings = Settings.load({"KEYSTILE_DEMO_PORT": "2"}, path)
    assert settings.section("demo", Options) == {"name": "from file", "port": 2}
    assert settings.section("demo") == {"name": "from file", "port": 1}  # no schema: file only
    assert "KEYSTILE_DEMO_PORT" not in repr(settings)
