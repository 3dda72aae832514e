"""Browser fixtures: Debian's Chromium driven by Playwright against the app served over HTTP."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.browser import ARTIFACTS, TOUCH, VIEWPORTS, layout_problems, save_screenshot, sign_in
from tests.helpers import running

# Older test modules import these from here; new code imports them from tests.e2e.browser.
__all__ = ["ARTIFACTS", "TOUCH", "VIEWPORTS", "layout_problems", "save_screenshot", "sign_in"]

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    # Fail, never skip: a browser suite that silently skips in CI hides every UI bug.
    pytest.fail("Chromium not found: run `make test` (installs Debian's chromium) or set CHROMIUM")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = chromium_path()
        try:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        except Exception as error:  # fail, never skip (see chromium_path)
            pytest.fail(f"Chromium at {path} could not start: {error}", pytrace=False)
        yield browser
        browser.close()


@pytest.fixture
def base_url(app):
    with running(app) as url:
        yield url


class Console:
    """Console messages and page errors collected from a browser context."""

    def __init__(self):
        self.messages: list[str] = []

    def attach(self, page):
        page.on("console", lambda msg: self.messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: self.messages.append(f"pageerror: {err}"))
        page.on("requestfinished", lambda req: self._check(req))
        return page

    def _check(self, request):
        response = request.response()
        if response is not None and response.status == 404:
            self.messages.append(f"missing: {request.url}")

    def missing(self) -> list[str]:
        """Resources the page asked for that the server does not have (a favicon, a script)."""
        return [m for m in self.messages if m.startswith("missing: ")]

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "Content-Security-Policy" in m]


@pytest.fixture
def new_page(browser):
    """Factory: a page in a fresh browser context (own cookies), with console capture."""
    contexts = []

    def make(viewport=(1366, 768)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        console = Console()
        page = console.attach(context.new_page())
        page.console = console
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()
