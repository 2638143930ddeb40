"""Shared fixtures: upstream server, mitmdump/mitmweb factories, headless Debian chromium."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

os.environ["AUTHLENS_RAISE"] = "1"  # before authlens is imported; mitmdump and mitmweb inherit it

import pytest  # noqa: E402
from harness import Mitmdump, Mitmweb, Upstream  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
os.environ["AUTHLENS_KEY_FILE"] = os.path.join(tempfile.mkdtemp(prefix="authlens-key-"), "fp.key")
"""The fingerprint key of this test run (inherited by every mitmdump it starts): never the user's."""
ARTIFACTS = Path(__file__).parent / "artifacts"
"""Screenshots and other files worth looking at after a run (git-ignored)."""


@pytest.fixture
def upstream():
    """A running `harness.Upstream` on 127.0.0.1; program it with ``upstream.route(...)``."""
    with Upstream() as server:
        yield server


@pytest.fixture
def serve():
    """``serve(app) -> base URL``: a WSGI app (Flask) on its own loopback port for the test."""
    from werkzeug.serving import make_server

    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def mitmdump(tmp_path):
    """Factory: ``mitmdump(script=..., options={...})`` -> started `Mitmdump`, stopped at teardown."""
    started: list[Mitmdump] = []

    def start(**kwargs) -> Mitmdump:
        started.append(Mitmdump(tmp_path, **kwargs).start())
        return started[-1]

    yield start
    for m in started:
        m.stop()


@pytest.fixture
def mitmweb(tmp_path):
    """Factory: ``mitmweb(script=..., options={...})`` -> started `Mitmweb`, stopped at teardown."""
    started: list[Mitmweb] = []

    def start(**kwargs) -> Mitmweb:
        started.append(Mitmweb(tmp_path, **kwargs).start())
        return started[-1]

    yield start
    for m in started:
        m.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium via Playwright (sync API). Skipped without chromium, except in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (CI=true: browser tests must run)")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser page (own context, so no cookies leak between tests)."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config):
    # Deprecation noise from inside mitmproxy and its dependencies (pyparsing >= 3.3 camelCase API,
    # ldap3/passlib imported by mitmproxy's proxyauth); our own code still warns normally.
    for module in ("mitmproxy", "pyparsing", "ldap3", "passlib"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}(\\..*)?$")
