"""Gateway options from ``KEYSTILE_GATEWAY_*`` variables, as containers configure."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from policies import ConfigError, Settings
from tests.support.apps import starlette_app


def env(redis_url: str, master_key: str, digest_secret: str, **options: str) -> dict[str, str]:
    return {
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
        **{f"KEYSTILE_GATEWAY_{name.upper()}": value for name, value in options.items()},
    }


def test_every_kind_of_option_from_the_environment(
    redis_url: str, master_key: str, digest_secret: str
) -> None:
    settings = Settings.load(
        env(
            redis_url,
            master_key,
            digest_secret,
            exempt_paths="/health,/docs/*",
            stale_bound="12.5",
            cache_size="500",
            pass_preflight="false",
            unmatched="allow",
            key_header="",
        )
    )
    gate = KeyGateMiddleware.from_settings(starlette_app(), settings, registry=CollectorRegistry())
    assert gate.config.exempt_paths == ("/health", "/docs/*")
    assert gate.config.stale_bound == 12.5
    assert gate.config.cache_size == 500
    assert gate.config.pass_preflight is False
    assert gate.config.unmatched == "allow"
    assert gate.config.key_header is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cache_size": "many"}, "KEYSTILE_GATEWAY_CACHE_SIZE must be a whole number"),
        ({"stale_bound": "-3"}, "stale_bound must be a positive number of seconds"),
        ({"unmatched": "maybe"}, "unmatched must be one of"),
    ],
)
def test_bad_variables_fail_at_start(
    redis_url: str, master_key: str, digest_secret: str, options: dict[str, str], message: str
) -> None:
    settings = Settings.load(env(redis_url, master_key, digest_secret, **options))
    with pytest.raises(ConfigError, match=message):
        KeyGateMiddleware.from_settings(starlette_app(), settings, registry=CollectorRegistry())
