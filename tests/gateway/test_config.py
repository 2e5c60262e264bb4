"""Options are checked at construction, with messages an operator can act on."""

from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway import GatewayConfig, KeyGateMiddleware
from gateway.config import GatewayOptions
from policies import ConfigError, Settings
from tests.support.apps import starlette_app


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bearer_header": None, "key_header": None}, "cannot both be disabled"),
        ({"bearer_header": "x-key", "key_header": "X-Key"}, "must be different"),
        ({"key_header": "bad header"}, "key_header must be an HTTP header name"),
        ({"exempt_paths": "/health"}, "not a string"),
        ({"exempt_paths": ["health"]}, "must start with '/'"),
        ({"exempt_paths": ["/a*b"]}, "final '\\*'"),
        ({"unmatched": "maybe"}, "unmatched must be one of 'deny', 'allow'"),
        ({"websocket_denial": "reject"}, "websocket_denial must be one of"),
        ({"pass_preflight": "yes"}, "pass_preflight must be true or false"),
        ({"cache_size": 0}, "cache_size must be a positive whole number"),
        ({"cache_size": 1.5}, "cache_size must be a positive whole number"),
        ({"retry_after": True}, "retry_after must be a positive whole number"),
        ({"stale_bound": -1}, "stale_bound must be a positive number of seconds"),
        ({"check_interval": float("nan")}, "check_interval must be a positive number"),
        ({"stale_bound": 0.5, "check_interval": 1.0}, "at least check_interval"),
        ({"cache_ttl": 10, "stale_bound": 20}, "cache_ttl must be at least stale_bound"),
        ({"reconnect_min": 3, "reconnect_max": 1}, "must not exceed reconnect_max"),
        ({"store_timeout": 0}, "store_timeout must be a positive number of seconds"),
        ({"store_timeout": "1"}, "store_timeout must be a positive number of seconds"),
    ],
)
def test_bad_options_fail_at_construction(
    settings: Settings, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        KeyGateMiddleware(starlette_app(), settings=settings, **options)


def test_settings_without_secrets_fail_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYSTILE_MASTER_KEYS", "KEYSTILE_DIGEST_SECRET", "KEYSTILE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="no master key"):
        KeyGateMiddleware(starlette_app())


def test_gateway_table_of_the_config_file(
    tmp_path: Path, redis_url: str, master_key: str, digest_secret: str
) -> None:
    config = tmp_path / "keystile.toml"
    config.write_text(
        f'[keystile]\nredis_url = "{redis_url}"\nmaster_keys = ["{master_key}"]\n'
        f'digest_secret = "{digest_secret}"\n'
        '[gateway]\nexempt_paths = ["/health", "/docs/*"]\nstale_bound = 10\n'
        'key_header = ""\nunmatched = "allow"\nstore_timeout = 0.25\n'
    )
    settings = Settings.load(environ={}, config_file=config)
    gate = KeyGateMiddleware.from_settings(
        starlette_app(), settings, registry=CollectorRegistry(), unmatched="deny"
    )
    assert gate.config.exempt_paths == ("/health", "/docs/*")
    assert gate.config.stale_bound == 10
    assert gate.config.store_timeout == 0.25
    assert gate.config.key_header is None  # "" disables it in TOML
    assert gate.config.unmatched == "deny"  # keyword overrides win over the file


def test_unknown_names_in_the_gateway_table(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown option\\(s\\) in \\[gateway\\]: stale"):
        GatewayConfig.from_mapping({"stale": 5})


def test_each_option_is_declared_once_and_the_rest_agrees() -> None:
    """GatewayConfig's fields are the declaration: the constructor's typed keywords, and the
    README's configuration table (each option's variable and its default, in one row)."""
    hints = typing.get_type_hints(GatewayConfig)
    assert typing.get_type_hints(GatewayOptions) == {
        f.name: hints[f.name] for f in fields(GatewayConfig)
    }
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if "KEYSTILE_GATEWAY_" in line]
    for field in fields(GatewayConfig):
        variable = field.name.upper()
        row = next(
            (r for r in rows if f"KEYSTILE_GATEWAY_{variable}`" in r or f"`_{variable}`" in r), None
        )
        assert row is not None, f"README: no configuration row for {field.name}"
        assert _readme_default(field.default) in row, (field.name, row)


def _readme_default(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if value in (None, ()):
        return "none" if value == () else "off"
    return f"`{value}`"


def test_an_unknown_keyword_is_a_config_error(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown gateway option\\(s\\): stale_after"):
        KeyGateMiddleware(starlette_app(), settings=settings, stale_after=3)  # type: ignore[call-arg]
