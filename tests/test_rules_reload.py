"""Rules reload in a real running mitmdump: a changed file takes effect without a restart, a broken
one is reported with file:line while the last good rules stay in force."""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from harness import free_port

ROOT = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).parent / "mitmdump"


class Refuse(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(output: Path, needle: str, timeout=20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in mitmdump output:\n{output.read_text(errors='replace')}")


RULE = '[[rule]]\nname = "Local"\nhosts = ["127.0.0.1"]\n[[rule.credential]]\n{place}\n'


@pytest.mark.skipif(not MITMDUMP.exists(), reason="mitmdump not installed beside this python")
def test_rules_reload_in_a_running_mitmdump(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "local.toml"
    rule_file.write_text(RULE.format(place='header = "X-API-Key"'))
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port, output = free_port(), tmp_path / "out.txt"
    with output.open("wb") as sink:
        proxy = subprocess.Popen(
            [str(MITMDUMP), "-s", str(ROOT / "addon.py"), "--listen-host", "127.0.0.1", "-p", str(port),
             "--set", f"authlens_rules={rules}", "--set", "authlens_presets=false",
             "--set", "authlens_output=json", "--set", "termlog_verbosity=info"],
            stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(output, "proxy listening")
        client = httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
        url = f"http://127.0.0.1:{upstream.server_port}/v1/orders"

        def diagnosis(n):
            client.get(url, headers={"Authorization": "Bearer " + "t" * 40})
            lines = [json.loads(line) for line in wait_for(output, '"url"').splitlines()
                     if line.startswith("{")]
            deadline = time.monotonic() + 10
            while len(lines) < n and time.monotonic() < deadline:
                time.sleep(0.1)
                lines = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
            assert len(lines) == n, output.read_text()
            return [f["id"] for f in lines[-1]["findings"]]

        assert "apikey-wrong-place" in diagnosis(1)

        time.sleep(1.1)
        rule_file.write_text(RULE.format(place='header = "X-API-Key"') + "oops = [\n")
        assert "apikey-wrong-place" in diagnosis(2)  # the last good rules stay in force
        text = wait_for(output, "rule file error")
        assert f"{rule_file}:6: not valid TOML" in text

        time.sleep(1.1)
        rule_file.write_text(RULE.format(place='schemes = ["Basic"]'))
        found = diagnosis(3)
        assert "scheme-unexpected" in found and "apikey-wrong-place" not in found
    finally:
        proxy.terminate()
        proxy.wait(20)
        upstream.shutdown()


@pytest.mark.skipif(not MITMDUMP.exists(), reason="mitmdump not installed beside this python")
def test_a_broken_rule_file_at_start_up_does_not_stop_a_replay(tmp_path):
    """On ``-nr`` mitmdump exits 1 on an error logged during start-up: a bad rule file is a
    warning naming file:line, the replay still runs and is diagnosed."""
    rules = tmp_path / "bad.toml"
    rules.write_text(RULE.format(place='header = "X-API-Key"') + "oops = [\n")
    done = subprocess.run(
        [str(MITMDUMP), "-nr", str(ROOT / "captures" / "expired_token.flow"), "-s",
         str(ROOT / "addon.py"), "--set", f"confdir={tmp_path}", "--set", f"authlens_rules={rules}",
         "--set", "authlens_output=json"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{rules}:6: not valid TOML" in done.stdout + done.stderr
    assert '"cause": "token-expired"' in done.stdout
