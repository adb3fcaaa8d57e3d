"""Browser fixtures: a real RadBook server on a free port, driven by Debian's chromium.

Shared by every end-to-end test (requesters, hub, admin). The server is a second
Flask app over the *same* test database as the ``app`` fixture, so a test can load
data with the ordinary ``demo``/``db`` fixtures, act in the browser, then assert on
what the database holds. Unlike ``TestConfig``, CSRF protection is on: the browser
submits real forms with real tokens.

Usage::

    def test_something(page, live_server, demo):
        login_as(page, live_server, "staff.kudrang")
        page.get_by_role("link", name="ขอตรวจใหม่").click()
        ...
        fresh(demo)  # end the test's read transaction before asserting on the database

Screenshots for a look at the layout: ``phone_page`` is 360x740; the
``save_screenshot`` fixture, called as ``save_screenshot(page, "name")``, writes
``$E2E_SCREENSHOT_DIR/name.png`` (default: under pytest's tmp dir) and returns the path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DEMO_PASSWORD = "radbook-demo"
# Generous: two cores shared with other test runs; a slow page is not a failure here.
DEFAULT_TIMEOUT_MS = 20_000


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real browser against a live server")


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class LiveServer:
    url: str
    app: Flask

    def __call__(self, path: str = "/") -> str:
        """``live_server("/requests")`` → absolute URL."""
        return self.url + path


@pytest.fixture(scope="session")
def live_server(app, database_url) -> Iterator[LiveServer]:
    """A threaded werkzeug server on 127.0.0.1 and a free port (port 0), for the session.

    Depends on ``app`` so the schema has been migrated before the first request.
    """

    class E2EConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        WTF_CSRF_ENABLED = True

    server_app = create_app(E2EConfig)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=server_app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with server_app.app_context():
            _db.engine.dispose()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    pw = manager.start()
    try:
        yield pw
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def browser(playwright_instance):
    # Debian's chromium, never a downloaded one; no network beyond 127.0.0.1.
    chromium = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


def _context(browser, **kwargs):
    context = browser.new_context(locale="th-TH", timezone_id="Asia/Bangkok", **kwargs)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    # Nothing from the internet: any request that leaves 127.0.0.1 fails the page load
    # and is recorded, so a test can assert the list is empty.
    context.external_requests = []

    def _guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            route.continue_()
        else:
            context.external_requests.append(url)
            route.abort()

    context.route("**/*", _guard)
    # Every page runs under RadBook's Content-Security-Policy (no inline script or
    # style): anything the browser refuses under it is recorded and fails the test.
    context.csp_violations = []

    def _console(message):
        if "Content Security Policy" in message.text:
            context.csp_violations.append(
                f"{message.page.url if message.page else ''}: {message.text}"
            )

    context.on("console", _console)
    return context


def _close(context) -> None:
    violations = list(context.csp_violations)
    context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def page(browser, live_server):
    """A desktop-sized page (1280x900) in a fresh browser context (no cookies)."""
    context = _context(browser, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    try:
        yield pg
    finally:
        _close(context)


@pytest.fixture
def phone_page(browser, live_server):
    """A 360x740 phone-sized page with touch, in a fresh browser context."""
    context = _context(
        browser,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    pg = context.new_page()
    try:
        yield pg
    finally:
        _close(context)


def login_as(page, live_server: LiveServer, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the real form (with its CSRF token) and wait for the landing page."""
    page.goto(live_server("/login"))
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()
    if "/login" in page.url:
        raise AssertionError(f"login as {username} failed: {page.url}")


def fresh(db) -> None:
    """Forget what the test's session read earlier, so the next query sees the server's writes."""
    db.session.rollback()
    db.session.expire_all()


def screenshot_dir(tmp_path_factory=None) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    if configured:
        path = Path(configured)
    elif tmp_path_factory is not None:
        path = tmp_path_factory.getbasetemp() / "screenshots"
    else:
        path = Path("/tmp/radbook-e2e-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def save_screenshot(tmp_path_factory):
    def _save(page, name: str, full_page: bool = True) -> Path:
        path = screenshot_dir(tmp_path_factory) / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return _save


def tab_to(page, selector: str, limit: int = 80) -> int:
    """Press Tab until the focused element matches ``selector``; the number of presses.

    Fails when it is never reached: that element is not usable with the keyboard alone.
    """
    # Tab only once the target is in the page: on a slow machine the tabbing could
    # otherwise run through a page that is still being built.
    page.wait_for_load_state("load")
    page.locator(selector).first.wait_for(state="attached")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(
            "(s) => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return presses
    raise AssertionError(f"{selector} not reachable with Tab in {limit} presses on {page.url}")


def assert_fits_width(page) -> None:
    """No horizontal scrolling: the page is no wider than the viewport."""
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide on a {width}px screen"
