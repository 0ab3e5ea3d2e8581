"""The browser of the browser tests: Debian's `chromium-headless-shell` driven by Playwright.

Playwright never downloads a browser here: it launches the system's binary (`CHROMIUM`, or
PLANFLOW_TEST_CHROMIUM naming another). When the binary is missing the tests skip saying how to
install it; under `CI=true` they fail instead (.ci/run installs both).
Screenshots go to test-artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"  # Debian's package; /usr/bin wraps it
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root in a container, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--no-first-run",
]


def chromium_binary() -> str | None:
    named = os.environ.get("PLANFLOW_TEST_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium-headless-shell")


def missing(what: str) -> None:
    message = f"{what}; install it (apt-get install chromium-headless-shell fonts-wqy-microhei)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI needs it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped, not session-scoped: while Playwright's sync API runs, an asyncio loop is
    running in this thread, and later tests calling asyncio.run() would fail."""
    binary = chromium_binary()
    if binary is None:
        missing("no chromium-headless-shell binary")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
