"""Fixtures for the browser tests: headless Chromium (Debian's package, not a Playwright download).

These tests run with `make browser-test`, which sets LORAKIT_BROWSER_TESTS=1; a plain `pytest tests`
(`make test`) leaves them out, so it needs neither Chromium nor Playwright. Set CHROMIUM to use another
Chromium or Chrome binary than the first of chromium / chromium-browser / google-chrome on the PATH.
"""
from __future__ import annotations

import os

import pytest

from browser_support import SCREENSHOTS, chromium_path

if not os.environ.get("LORAKIT_BROWSER_TESTS"):
    collect_ignore_glob = ["test_*.py"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
