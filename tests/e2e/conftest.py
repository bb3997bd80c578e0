"""Browser tests: Playwright driving Debian's Chromium against a real node process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.nodes import start_node, stop_node

# Assertions wait up to 30 s (Playwright's default is 5 s): CI runs the SQLite and PostgreSQL suites side by side on
# two cores, and a page's first request to a node warms its worker up. A failing check still fails, only later.
expect.set_options(timeout=30_000)

CHROMIUM = Path("/usr/bin/chromium")

# Playwright's sync API runs an event loop in this thread; these tests touch no database themselves.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="browser tests need Debian's Chromium at /usr/bin/chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def node(tmp_path_factory):
    """A seeded node on a free port, shared by the session's browser tests."""
    running = start_node(tmp_path_factory.mktemp("node"))
    yield running
    stop_node(running)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # An English-speaking browser: the product must still open in Russian (P13).
    return {**browser_context_args, "locale": "en-US"}
