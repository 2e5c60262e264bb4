"""Options are checked at construction, with messages an operator can act on."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway import GatewayConfig, KeyGateMiddleware
from policies import ConfigError, Settings
from tests.gateway.apps import starlette_app


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


def test_every_option_has_a_default_and_a_toml_name() -> None:
    parameters = inspect.signature(KeyGateMiddleware.__init__).parameters
    for option in GatewayConfig.option_names():
        assert option in parameters, option
        assert parameters[option].default is not inspect.Parameter.empty, option
