"""The routing differentials' fixtures: one event loop per module, the suite's settings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from policies import PolicyStore, Settings


@pytest.fixture
def settings_(settings: Settings) -> Settings:
    """``settings`` under another name (hypothesis's tests take it once per test)."""
    return settings


@pytest.fixture
def store_(store: PolicyStore) -> PolicyStore:
    """``store`` under another name (as ``settings_``)."""
    return store


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for a module's examples (a loop per example costs more than one)."""
    with asyncio.Runner() as runner:
        yield runner
