"""mitmdump's terminal: each authlens block right after its own flow's line, on ``-nr`` and live."""

from __future__ import annotations

import re
import time

from capture_helpers import CAPTURES
from factories import mint
from harness import Mitmdump, proxied_client

FLOW_LINE = re.compile(r"^\S+: (GET|POST|PUT|DELETE|PATCH) (\S+)")
BLOCK_TOP = re.compile(r"^╭─ \S+ (GET|POST|PUT|DELETE|PATCH) (\S+)")


def assert_each_block_follows_its_flow(out: str) -> int:
    last_flow, blocks = None, 0
    for line in out.splitlines():
        flow = FLOW_LINE.match(line)
        if flow:
            last_flow = (flow[1], flow[2])
            continue
        top = BLOCK_TOP.match(line)
        if top:
            blocks += 1
            assert last_flow is not None, f"a block before any flow line:\n{out}"
            assert top[2].rstrip("…").startswith(last_flow[1][: len(top[2].rstrip("…"))]) \
                and top[1] == last_flow[0], f"block {top[0]!r} after flow line {last_flow}:\n{out}"
            last_flow = None  # one block per flow line
    return blocks


def test_on_nr_each_block_follows_its_flow_line(tmp_path):
    both = tmp_path / "both.flow"
    both.write_bytes(b"".join((CAPTURES / name).read_bytes() for name in
                              ("refresh_stale_token.flow", "expired_token.flow", "role_missing.flow")))
    out = Mitmdump(tmp_path, write_flows=False).replay(both)
    assert assert_each_block_follows_its_flow(out) >= 3


def test_live_each_block_follows_its_flow_line(tmp_path, upstream):
    upstream.route("/denied", status=401, body="no\n",
                   headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
    upstream.route("/fine", body="ok\n")
    with Mitmdump(tmp_path, write_flows=False, options={"authlens_offload": False}) as proxy:
        with proxied_client(proxy.proxy_url) as client:
            for _ in range(5):
                client.get(upstream.url("/denied"), headers={"Authorization": f"Bearer {mint(lifetime=-60)}"})
                client.get(upstream.url("/fine"))
        time.sleep(0.5)
        out = proxy.stop()
    assert assert_each_block_follows_its_flow(out) == 5


def test_a_bad_nr_file_gets_mitmproxys_error_and_no_empty_table(tmp_path):
    bad = tmp_path / "bad.flow"
    bad.write_bytes(b"this is not a flow file\n")
    proxy = Mitmdump(tmp_path, write_flows=False)
    try:
        proxy.replay(bad)
    except RuntimeError:
        pass  # mitmdump may exit non-zero on an unreadable file: its call, not ours
    out = proxy.output()
    assert "bad.flow" in out or "Traceback" in out or "rror" in out
    assert "┏" not in out and "flows seen" not in out and "0 flows" not in out
