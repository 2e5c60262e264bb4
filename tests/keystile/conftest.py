"""CLI fixtures: the environment a ``keystile`` command gets (the suite's Redis, its secrets)."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(redis_url: str, master_key: str, digest_secret: str) -> dict[str, str]:
    return {
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
