"""Debian's Chromium driven by Playwright, as every browser test launches it.

Never ``playwright install``: nothing can be downloaded on the machines this runs on. Where
``KEYSTILE_REQUIRE_BROWSER`` is set (CI), a missing chromium fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> Iterator[Browser]:
    """A headless Chromium for a fixture to yield from (closed afterwards)."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("KEYSTILE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (KEYSTILE_REQUIRE_BROWSER) but not installed")
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
