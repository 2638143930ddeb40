"""The console UI (``mitmproxy -s addon.py``) for real, under tmux: markers in the flow list, the
authlens view in the flow detail, and nothing written over the screen (even with
``authlens_output=json``, which would print JSON lines in mitmdump)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from factories import mint
from harness import BIN, REPO, curl, free_port

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is missing")


class Tmux:
    """One detached tmux server of our own (private socket), one window running ``command``."""

    def __init__(self, tmp_path, command: list[str]):
        self.base = ["tmux", "-S", str(tmp_path / "tmux.sock")]
        subprocess.run([*self.base, "new-session", "-d", "-x", "200", "-y", "50",
                        subprocess.list2cmdline(command)], check=True, cwd=tmp_path)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p"], check=True,
                              capture_output=True, text=True).stdout

    def wait_for(self, *texts: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(t in screen for t in texts) or time.monotonic() > deadline:
                return screen
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def console(tmp_path):
    port = free_port()
    tmux = Tmux(tmp_path, [str(BIN / "mitmproxy"), "-s", str(REPO / "addon.py"),
                           "--listen-host", "127.0.0.1", "--listen-port", str(port),
                           "--set", f"confdir={tmp_path / 'confdir'}",
                           "--set", "authlens_output=json"])
    tmux.proxy_url = f"http://127.0.0.1:{port}"
    try:
        yield tmux
    finally:
        tmux.kill()


def test_console_ui_shows_markers_and_view_and_keeps_the_screen_clean(console, upstream):
    upstream.route("/api/orders", status=401, body="denied",
                   headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
    upstream.route("/api/admin", status=403, body="denied",
                   headers=[("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="x"')])
    assert "Flows" in console.wait_for("Flows")
    now = time.time()
    for path, token in (("/api/orders", mint(issued=now - 7200)), ("/api/admin", mint(issued=now - 60))):
        deadline = time.monotonic() + 20
        while curl(console.proxy_url, upstream.url(path), "-H",
                   f"Authorization: Bearer {token}").returncode != 0:  # until the proxy listens
            assert time.monotonic() < deadline, "the console UI's proxy never answered"
            time.sleep(0.2)

    screen = console.wait_for("/api/orders", "/api/admin", "\U0001f511", "\u26d4")
    rows = {line.split()[4]: line for line in screen.splitlines() if "/api/" in line}
    assert rows["/api/orders"].rstrip().endswith("\U0001f511"), screen  # :key:
    assert rows["/api/admin"].rstrip().endswith("\u26d4"), screen  # :no_entry:
    assert '{"url"' not in screen and "[authlens]" not in screen, screen  # nothing printed over it

    console.keys("Enter")  # the first flow's detail: its response in the authlens view
    console.wait_for("Flow Details")
    console.keys("Tab")
    screen = console.wait_for("AUTHENTICATION (token-expired)", "now    expired")
    assert "authlens" in screen and "AUTHENTICATION (token-expired)" in screen, screen
    assert "  challenge   Bearer error='invalid_token'" in screen, screen
