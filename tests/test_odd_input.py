"""Odd input never breaks the proxy or the CLI: impossible token times, closed pipes, unreadable,
truncated and empty captures."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Mitmdump
from mitmproxy import io as mitm_io
from mitmproxy.test import tflow

from authlens.analyze import Analyzer
from authlens.model import Exchange, RequestView, ResponseView
from authlens.render import terminal, text

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_767_000_000.0


def b64(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def token(payload: str) -> str:
    """A JWT whose payload is this JSON text exactly (``NaN`` and ``1e400`` are valid to Python)."""
    return f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(payload)}.c2ln"


ODD_TIMES = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "1e300",
             "253402300800", "-99999999999999", "1e15"]


@pytest.mark.parametrize("value", ODD_TIMES)
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_impossible_token_times_never_raise(claim, value):
    other = {"exp": '"iat": 1767000000', "nbf": '"exp": 1767003600', "iat": '"exp": 1767003600'}[claim]
    jwt = token(f'{{"iss": "https://idp.example/", {other}, "{claim}": {value}}}')
    exchange = Exchange(RequestView("GET", "https://api.example/v1", [("Authorization", f"Bearer {jwt}")],
                                    timestamp=NOW),
                        ResponseView(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')], b"",
                                     timestamp=NOW))
    diagnosis = Analyzer().analyze(exchange)
    assert diagnosis.verdict == "authentication"
    shown = diagnosis.to_dict()
    json.dumps(shown)
    text.explain(shown, now=NOW)
    text.comment(shown)
    terminal.render_block(shown, width=100, color_system=None)


def odd_capture(path: Path) -> None:
    with open(path, "wb") as fo:
        writer = mitm_io.FlowWriter(fo)
        for value in ("NaN", "1e400", "-Infinity"):
            flow = tflow.tflow(resp=True)
            flow.request.headers["Authorization"] = "Bearer " + token(f'{{"exp": {value}, "iat": NaN}}')
            flow.response.status_code = 401
            writer.add(flow)
        last = tflow.tflow(resp=True)
        last.request.path = "/the-last-flow"
        last.response.status_code = 403
        writer.add(last)


def test_mitmdump_reads_a_capture_with_impossible_times_to_the_end(tmp_path):
    odd_capture(tmp_path / "odd.flow")
    out = Mitmdump(tmp_path, write_flows=False).replay(tmp_path / "odd.flow")  # raises on exit 1
    assert "/the-last-flow" in out and "Traceback" not in out


# ---- the CLI into a closed pipe -----------------------------------------------------------


@pytest.mark.parametrize("args", [["catalog"], ["rules", "check"], ["rules", "schema"],
                                  ["scan", str(ROOT / "captures")]])
def test_a_closed_pipe_ends_the_command_quietly(args):
    """``authlens catalog | head -1``: no BrokenPipeError traceback. The reader is gone before
    the first write, as ``head`` is once it has its lines."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "authlens", *args], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT / "addons",
                              env={**os.environ, "COLUMNS": "100"})
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141
