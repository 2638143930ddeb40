"""Diagnoses that travel: HAR 1.2 files written by ``authlens scan --har-out`` and by the
``authlens.har`` command carry each diagnosis (entry ``comment`` and ``_authlens``), redacted;
they validate against npm's har-schema (through har-validator, installed by scripts/setup into
.venv-npm), mitmproxy's own HAR loader reads them back, and ``authlens scan`` shows the stored
diagnosis beside a fresh one. ``.flow`` files written with ``-w`` keep the diagnosis too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
from capture_helpers import CAPTURES, FLOW_FILES, ROOT
from factories import mint
from harness import proxied_client, read_flows

from authlens.cli import main

NPM = ROOT / ".venv-npm" / "node_modules"
VALIDATE = """
const v = require(process.argv[1] + '/har-validator');
const data = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
v.har(data).then(() => console.log('valid'))
  .catch(e => { console.log(JSON.stringify(e.errors || e.message)); process.exit(1); });
"""
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")
SECRETS = ("test-client-secret-4f1c9a", "test-refresh-token-8d2e5b7c1a",
           "test-api-key-5e0b8c2f7d9a41", "test-session-6a1f3e9b2c", "test-password-staging-1")


def har_errors(path) -> str:
    """'' when ``path`` is a valid HAR 1.2 per har-schema, else the validator's errors."""
    node = shutil.which("node")
    if node is None or not (NPM / "har-validator").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node or .venv-npm/node_modules/har-validator missing (scripts/setup)")
        pytest.skip("node or har-validator missing (scripts/setup installs them)")
    run = subprocess.run([node, "-e", VALIDATE, str(NPM), str(path)], capture_output=True,
                         text=True, timeout=60)
    return "" if run.returncode == 0 and run.stdout.strip() == "valid" else run.stdout + run.stderr


def scan_json(capsys, *args) -> dict:
    main(["scan", "--format", "json", "--jobs", "1", *args])
    return json.loads(capsys.readouterr().out)


def mitmproxy_reads(path) -> list:
    """The flows mitmproxy's own reader (``mitmproxy.io``, HAR through ``mitmproxy.io.har``) gets."""
    return read_flows(path)


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_har_out_carries_each_diagnosis_validates_and_reads_back(path, tmp_path, capsys):
    out = tmp_path / "out.har"
    scanned = scan_json(capsys, str(path), "--har-out", str(out))["flows"]
    assert har_errors(out) == ""
    har = json.loads(out.read_text("utf-8"))
    entries = har["log"]["entries"]
    assert len(mitmproxy_reads(out)) == len(entries) == len(read_flows(path))
    by_flow = {d["flow"]: d for d in scanned}
    ids = [f.id for f in read_flows(path)]
    for flow_id, entry in zip(ids, entries, strict=True):
        diagnosis = by_flow.get(flow_id)
        if diagnosis is None:
            assert "_authlens" not in entry and not entry.get("comment")
            continue
        assert (entry["_authlens"]["verdict"], entry["_authlens"]["cause"]) == \
            (diagnosis["verdict"], diagnosis["cause"])
        assert "[authlens] " in entry["comment"].split("\n")[0]
        if diagnosis["verdict"]:
            assert f"({diagnosis['cause']})" in entry["comment"].split("\n")[0]
            assert "\nFix: " in entry["comment"]
    text = out.read_text("utf-8")
    assert not [s for s in SECRETS if s in text]
    assert not [m.group(1) for m in JWT.finditer(text) if not m.group(1).startswith("REDACTED")]
    # read back: the stored diagnosis beside a fresh one of the redacted copy, and the same
    again = scan_json(capsys, str(out))["flows"]
    stored = [d for d in again if "stored" in d]
    assert len(stored) == len(scanned)
    assert [d["stored"]["differs"] for d in stored] == [False] * len(stored)
    assert [(d["verdict"], d["cause"]) for d in stored] == \
        [(d["verdict"], d["cause"]) for d in scanned]


def test_scan_says_when_the_stored_diagnosis_differs(tmp_path, capsys):
    out = tmp_path / "q.har"
    scan_json(capsys, str(CAPTURES / "quoted_header.flow"), "--har-out", str(out))
    har = json.loads(out.read_text("utf-8"))
    (refused,) = [e for e in har["log"]["entries"] if e.get("_authlens", {}).get("verdict")]
    refused["_authlens"]["cause"] = "token-expired"  # as an older authlens might have said
    out.write_text(json.dumps(har), "utf-8")
    (flow,) = [d for d in scan_json(capsys, str(out))["flows"] if d["verdict"]]
    assert flow["cause"] == "credential-quoted"
    assert flow["stored"] == {"verdict": "authentication", "cause": "token-expired", "differs": True}
    for fmt in ("rich", "markdown"):
        main(["scan", "--no-progress", "--format", fmt, str(out)])
        assert ("stored in the HAR: authentication (token-expired), DIFFERS from now"
                in capsys.readouterr().out)


def test_the_schema_check_can_fail(tmp_path, capsys):
    out = tmp_path / "bad.har"
    scan_json(capsys, str(CAPTURES / "healthy.flow"), "--har-out", str(out))
    har = json.loads(out.read_text("utf-8"))
    har["log"]["entries"][0]["time"] = "slow"
    out.write_text(json.dumps(har), "utf-8")
    assert "should be number" in har_errors(out)


def test_authlens_har_command_in_mitmweb_and_the_w_flow_file_keep_the_diagnosis(upstream, mitmweb,
                                                                                tmp_path, capsys):
    upstream.route("/api/profile", status=401, body="denied\n",
                   headers=[("WWW-Authenticate", 'Bearer realm="api"')])
    upstream.route("/api/health", body='{"ok": true}', headers=[("Content-Type", "application/json")])
    token = mint(issued=time.time() - 60, lifetime=3600)
    web = mitmweb()  # -w out.flow: flows analysed in the proxy's thread, written with the result
    with proxied_client(web.proxy_url) as client:
        client.get(upstream.url("/api/profile"), headers={"Authorization": f'"Bearer {token}"'})
        client.get(upstream.url("/api/health"), headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 10
    while not any(f["marked"] for f in web.get_json("/flows")) and time.monotonic() < deadline:
        time.sleep(0.05)
    out = tmp_path / "view.har"
    web.command("authlens.har", str(out))
    web.stop()
    assert har_errors(out) == ""
    text = out.read_text("utf-8")
    assert token not in text and token.rsplit(".", 1)[1] not in text
    quoted, healthy = json.loads(text)["log"]["entries"]
    assert quoted["_authlens"]["cause"] == "credential-quoted"
    assert "[authlens] AUTHENTICATION (credential-quoted)" in quoted["comment"].split("\n")[0]
    assert "_authlens" not in healthy
    assert [f.request.path for f in mitmproxy_reads(out)] == ["/api/profile", "/api/health"]
    # the .flow file mitmweb wrote with -w keeps the diagnosis, and scan exports it the same
    written = read_flows(web.flow_file)
    assert written[0].metadata["authlens"]["cause"] == "credential-quoted"
    assert "credential-quoted" in written[0].comment and "authlens" not in written[1].metadata
    again = tmp_path / "again.har"
    scan_json(capsys, str(web.flow_file), "--har-out", str(again))
    assert json.loads(again.read_text("utf-8"))["log"]["entries"][0]["_authlens"]["cause"] == \
        "credential-quoted"
