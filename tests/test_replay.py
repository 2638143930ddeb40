"""Replaying captures through the addon: re-reading (-nr ... -w), client replay (-C) against a live
loopback upstream, server replay (-S) to a real client. Same verdicts, no doubled annotations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import httpx
import pytest
from capture_helpers import CAPTURES, ROOT, verdicts
from harness import BIN
from mitmproxy import io as mitm_io

from authlens.render.text import COMMENT_PREFIX

sys.path.insert(0, str(CAPTURES))
import make_captures  # noqa: E402

STORIES = ("refresh_stale_token", "quoted_header", "insufficient_scope")


def mitmdump(*args: str, env: dict | None = None, wait: bool = True):
    cmd = [str(BIN / "mitmdump"), "-q", "--set", "authlens_output=off", "-s", str(ROOT / "addon.py"), *args]
    if wait:
        return subprocess.run(cmd, check=True, timeout=60, env=env, cwd=ROOT)
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def read(path):
    with open(path, "rb") as fo:
        return list(mitm_io.FlowReader(fo).stream())


def annotations(path):
    return [(f.comment, f.marked) for f in read(path)]


@pytest.fixture(scope="module")
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_captures.World)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("story", STORIES)
def test_rereading_an_annotated_capture_does_not_double_comments(story, tmp_path):
    once, twice = tmp_path / "once.flow", tmp_path / "twice.flow"
    mitmdump("-nr", str(CAPTURES / f"{story}.flow"), "-w", str(once))
    mitmdump("-nr", str(once), "-w", str(twice))
    first = annotations(once)
    assert any(COMMENT_PREFIX in comment for comment, _ in first)
    assert annotations(twice) == first
    assert all(comment.count(COMMENT_PREFIX) <= 1 for comment, _ in first)


@pytest.mark.parametrize("story", STORIES)
def test_client_replay_gives_the_same_verdicts(story, tmp_path, upstream):
    out = tmp_path / "client.flow"
    env = {**os.environ, "LOOPBACK_PORT": str(upstream)}
    mitmdump("-n", "-C", str(CAPTURES / f"{story}.flow"), "-s", str(CAPTURES / "loopback_dns.py"),
             "--set", "client_replay_concurrency=1", "-w", str(out), env=env)
    assert _outcomes(out) == _outcomes(CAPTURES / f"{story}.flow")
    assert all(f.comment.count(COMMENT_PREFIX) <= 1 for f in read(out))


@pytest.mark.parametrize("story", STORIES)
def test_server_replay_gives_the_same_verdicts(story, tmp_path):
    out = tmp_path / "server.flow"
    port = make_captures.free_port()
    proxy = mitmdump("--listen-host", "127.0.0.1", "--listen-port", str(port), "-S",
                     str(CAPTURES / f"{story}.flow"), "--set", "server_replay_extra=kill",
                     "-w", str(out), wait=False)
    try:
        make_captures.wait_for_port(port)
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=10) as client:
            for flow in read(CAPTURES / f"{story}.flow"):  # a real client sends the same requests
                request = flow.request
                client.request(request.method, request.url, content=request.raw_content,
                               headers=[(k, v) for k, v in request.headers.fields
                                        if k.lower() not in (b"content-length", b"host")])
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
    replayed = _outcomes(out)
    assert replayed == _outcomes(CAPTURES / f"{story}.flow")


def _outcomes(path):
    """(method, url, status, verdict): the cause of a token-time finding can shift with the
    replay's clock, the verdict may not."""
    return [row[:4] for row in verdicts(path)]
