"""authlens scan / diff / redact on the sample captures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from capture_helpers import BROWSER_HAR, CAPTURES, FLOW_FILES, verdicts

from authlens.capture import scan
from authlens.cli import main

SECRETS = ("test-client-secret-4f1c9a", "test-refresh-token-8d2e5b7c1a", "test-api-key-5e0b8c2f7d9a41",
           "test-session-6a1f3e9b2c", "test-password-staging-1")
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")


def scan_json(capsys, *args) -> tuple[int, dict]:
    status = main(["scan", "--format", "json", *args])
    return status, json.loads(capsys.readouterr().out)


# ---- scan -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, status", [
    ("healthy.flow", 0), ("expired_token.flow", 1), ("role_missing.flow", 1)])
def test_scan_exit_status(capsys, path, status):
    assert main(["scan", str(CAPTURES / path)]) == status
    out = capsys.readouterr().out
    assert " seen, " in out and "│ capture " not in out  # one file: no need to name it


def test_fail_on_thresholds(capsys):
    path = str(CAPTURES / "expired_token.flow")
    assert main(["scan", "--fail-on", "never", path]) == 0
    assert main(["scan", "--fail-on", "info", str(CAPTURES / "healthy.flow")]) in (0, 1)
    assert main(["scan", str(CAPTURES / "nope.flow")]) == 2
    capsys.readouterr()


def test_scan_json_report(capsys):
    status, report = scan_json(capsys, str(CAPTURES))
    assert status == 1
    assert report["seen"] == sum(len(verdicts(p)) for p in FLOW_FILES)
    assert report["with_findings"] == len(report["flows"])
    expired = [f for f in report["flows"] if f["capture"].endswith("expired_token.flow")]
    assert expired[0]["cause"] == "token-expired" and expired[0]["flow"]


def test_scan_markdown(capsys):
    assert main(["scan", "--format", "markdown", str(CAPTURES / "insufficient_scope.flow")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("| # | status |") and "challenge-insufficient-scope" in out


def test_scan_har(capsys):
    status, report = scan_json(capsys, str(BROWSER_HAR))
    assert status == 1 and report["seen"] == 7
    assert "token-expired" in [f["cause"] for f in report["flows"]]


def test_parallel_chunks_equal_one_process(capsys, tmp_path, monkeypatch):
    big = tmp_path / "big.flow"
    big.write_bytes(b"".join(p.read_bytes() for p in FLOW_FILES) * 3)
    _, serial = scan_json(capsys, "--jobs", "1", str(big))
    monkeypatch.setattr(scan, "CHUNK", 7)
    monkeypatch.setattr(scan, "WARMUP", 40)  # > one pass over the captures: trackers see it all
    tasks = scan.plan(str(big), scan.CHUNK)
    assert len(tasks) > 4 and tasks[1].warm is not None
    _, parallel = scan_json(capsys, "--jobs", "2", str(big))
    assert parallel == serial


# ---- diff -----------------------------------------------------------------------------------


def test_diff_quoted_header_against_working(capsys):
    assert main(["diff", f"{CAPTURES / 'healthy.flow'}#1", str(CAPTURES / "quoted_header.flow")]) == 0
    out = capsys.readouterr().out
    assert '"Bearer·[eyJh' in out  # the quote and the space, made visible; the token redacted
    assert "≠ header authorization" in out and "≠ status" in out


def test_diff_credential_location_and_ids(capsys):
    from authlens import capture
    failing = next(capture.exchanges(str(CAPTURES / "api_key_in_query.flow")))
    assert main(["diff", f"{CAPTURES / 'healthy.flow'}#3",
                 f"{CAPTURES / 'api_key_in_query.flow'}#{failing.id[:8]}"]) == 0
    out = capsys.readouterr().out
    assert "≠ header x-api-key" in out and "≠ query api_key" in out
    assert "5e0b8c2f7d9a41" not in out
    assert main(["diff", str(CAPTURES / "healthy.flow"), f"{CAPTURES / 'healthy.flow'}#99"]) == 2


def test_diff_environment_claims(capsys):
    main(["diff", f"{CAPTURES / 'healthy.flow'}#1", f"{CAPTURES / 'wrong_environment.flow'}#1"])
    out = capsys.readouterr().out
    assert "≠ token iss" in out and "staging" in out


def test_mitm_diff_command(caplog):
    from mitmproxy import io as mitm_io

    from authlens.mitm.addon import Diagnose
    from authlens.mitm.commands import Commands
    flows = []
    for name in ("healthy.flow", "missing_bearer.flow"):
        with open(CAPTURES / name, "rb") as fo:
            flows.append(list(mitm_io.FlowReader(fo).stream())[-1 if name == "missing_bearer.flow" else 1])
    flows[0].request.path += "?access_token=qtok_2b7e151628aed2a6abf7158809cf4f3c"
    with caplog.at_level("INFO", logger="authlens"):
        Commands(Diagnose()).diff(flows)
    assert "no scheme" in caplog.text and "≠ credential" in caplog.text
    assert "access_token=REDACTED-" in caplog.text and "qtok_" not in caplog.text


# ---- redact ---------------------------------------------------------------------------------


def secrets_in(data: bytes) -> set[bytes]:
    found = {s.encode() for s in SECRETS if s.encode() in data}
    for match in JWT.finditer(data):
        found |= {match.group(0), match.group(1)}  # the token, and its signature alone
    return found


@pytest.mark.parametrize("path", FLOW_FILES + [BROWSER_HAR], ids=lambda p: p.stem)
def test_redacted_copy_has_no_secret_and_same_diagnoses(path, tmp_path, capsys):
    out = tmp_path / f"red{path.suffix}"
    assert main(["redact", str(path), str(out)]) == 0
    source, copy = path.read_bytes(), out.read_bytes()
    for secret in secrets_in(source):
        assert secret not in copy, secret
    assert _without_urls(verdicts(out)) == _without_urls(verdicts(path))


def _without_urls(rows):
    """The URL of api_key_in_query carries the secret; everything else must match."""
    return [(method, status, verdict, cause) for method, _, status, verdict, cause in rows]


def test_redaction_is_consistent_and_keeps_format_defects(tmp_path):
    from authlens import capture
    out = tmp_path / "q.flow"
    main(["redact", str(CAPTURES / "quoted_header.flow"), str(out)])
    (exchange,) = capture.exchanges(str(out))
    value = exchange.request.header("authorization")
    assert value.startswith('"Bearer eyJ') and value.endswith('"') and ".REDACTED" in value
    out2 = tmp_path / "r.flow"
    main(["redact", str(CAPTURES / "refresh_stale_token.flow"), str(out2)])
    first, _, third = capture.exchanges(str(out2))
    assert first.request.header("authorization") == third.request.header("authorization")
    assert verdicts(CAPTURES / "placeholder.flow") == verdicts(_redacted(tmp_path, "placeholder"))


def _redacted(tmp_path, story):
    out = tmp_path / f"{story}.flow"
    main(["redact", str(CAPTURES / f"{story}.flow"), str(out)])
    return out


def test_redaction_reads_urls_in_headers_and_non_http_messages(tmp_path):
    """Secrets outside the usual places: the code and implicit-grant token a sign-in redirect
    hands out, a Referer that carries a key, WebSocket, TCP and UDP messages (a token in a
    GraphQL subscription's connection_init, the handshake's token echoed in a frame)."""
    from mitmproxy import io as mitm_io
    from mitmproxy import websocket
    from mitmproxy.test import tflow
    from wsproto.frame_protocol import Opcode

    code, implicit, referer_key = "SplxlOBeZQQYbYS6WxSbIA9", "at-7Hq2Lr5Nw8Xv1Zc4", "rk_3f9a8b7c6d5e"
    ws_token, frame_token, tcp_token = "wst_5Jk8Pq1Rs4Tv7Wx0", "init-9Gh2Jk5Lm8Np1Qr", "tcp-secret-4Bc7Df0Gh3"
    login = tflow.tflow(resp=True)
    login.request.headers["Referer"] = f"https://app.example.test/home?api_key={referer_key}"
    login.response.status_code = 302
    login.response.headers["Location"] = (f"https://app.example.test/cb?code={code}&state=s1"
                                          f"#access_token={implicit}&token_type=Bearer")
    ws = tflow.twebsocketflow()
    ws.request.path = f"/socket?token={ws_token}"
    ws.websocket.messages = [
        websocket.WebSocketMessage(Opcode.TEXT, True, json.dumps(
            {"type": "connection_init", "payload": {"authToken": frame_token}}).encode()),
        websocket.WebSocketMessage(Opcode.TEXT, False, f'{{"echo":"{ws_token}"}}'.encode()),
        websocket.WebSocketMessage(Opcode.BINARY, True, b"\x00\xff" + ws_token.encode()),
    ]
    failed = tflow.tflow(err=True)  # its error message quotes its own credential
    failed.request.headers["X-API-Key"] = error_key = "ak_6Yt3Rw9Qz2Lp5Mn8"
    failed.error.msg = f"upstream reset after X-API-Key: {error_key}"
    tcp_flow, udp_flow = tflow.ttcpflow(), tflow.tudpflow()
    tcp_flow.comment = f"saw {tcp_token} here"
    for flow in (tcp_flow, udp_flow):
        flow.messages[0].content = json.dumps({"password": tcp_token}).encode()
        flow.messages[1].content = f"welcome {tcp_token}".encode()
    source, out = tmp_path / "odd.flow", tmp_path / "odd-redacted.flow"
    with open(source, "wb") as file:
        writer = mitm_io.FlowWriter(file)
        for flow in (login, ws, failed, tcp_flow, udp_flow):
            writer.add(flow)
    assert main(["redact", str(source), str(out)]) == 0
    copy = out.read_bytes()
    for secret in (code, implicit, referer_key, ws_token, frame_token, tcp_token, error_key):
        assert secret.encode() in source.read_bytes() and secret.encode() not in copy, secret
    with open(out, "rb") as file:
        red_login, red_ws, red_failed, red_tcp, _ = list(mitm_io.FlowReader(file).stream())
    location = red_login.response.headers["Location"]
    assert location.startswith("https://app.example.test/cb?code=REDACTED-")
    assert "&state=s1#access_token=REDACTED-" in location and location.endswith("&token_type=Bearer")
    assert red_ws.websocket.messages[2].content.startswith(b"\x00\xff")  # binary kept around it
    assert json.loads(red_ws.websocket.messages[0].content)["type"] == "connection_init"
    assert red_tcp.messages[1].content.startswith(b"welcome REDACTED-")
    assert red_tcp.comment.startswith("saw REDACTED-")
    assert red_failed.error.msg.startswith("upstream reset after X-API-Key: REDACTED-")


def test_redaction_reads_bodies_by_content_type_and_links(tmp_path):
    """Secrets whose name only the body's own format gives: a multipart login form, a SOAP
    WS-Security password, a form-encoded token response (GitHub's legacy answer), a Link header's
    next page and an X-Original-URL that carry a token. None of them were seen elsewhere first."""
    from mitmproxy import io as mitm_io
    from mitmproxy.test import tflow

    password, soap, issued, link_token, original = (
        "hunter2-Mp4Qs7Tv", "ws-pass-8Kd3Lf6Hj", "gho_2Wq5Er8Ty1Ui4Op", "lt_9Zx6Cv3Bn0Mm",
        "orig_4Rt7Yu1Io5")
    boundary = "----authlensBoundary7MA4YWxk"
    upload = tflow.tflow(resp=True)
    upload.request.method = "POST"
    upload.request.headers["Content-Type"] = f'multipart/form-data; boundary="{boundary}"'
    upload.request.content = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="username"\r\n\r\nada\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\n{password}\r\n'
        f'--{boundary}--\r\n').encode()
    upload.request.headers["X-Original-URL"] = f"/v1/export?access_token={original}&fmt=csv"
    upload.response.headers["Link"] = (f'<https://api.example.test/items?page=2&access_token='
                                       f'{link_token}>; rel="next", <https://api.example.test/'
                                       f'items?page=9>; rel="last"')
    login = tflow.tflow(resp=True)
    login.request.method = "POST"
    login.request.headers["Content-Type"] = "text/xml; charset=utf-8"
    login.request.content = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><wsse:Security>'
        '<wsse:UsernameToken><wsse:Username>ada</wsse:Username><wsse:Password Type="#Text">'
        f'{soap}</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header></s:Envelope>'
    ).encode()
    token = tflow.tflow(resp=True)
    token.response.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    token.response.content = f"access_token={issued}&scope=repo&token_type=bearer".encode()
    source, out = tmp_path / "bodies.flow", tmp_path / "bodies-redacted.flow"
    with open(source, "wb") as file:
        writer = mitm_io.FlowWriter(file)
        for flow in (upload, login, token):
            writer.add(flow)
    assert main(["redact", str(source), str(out)]) == 0
    copy = out.read_bytes()
    for secret in (password, soap, issued, link_token, original):
        assert secret.encode() in source.read_bytes() and secret.encode() not in copy, secret
    with open(out, "rb") as file:
        red_upload, red_login, red_token = list(mitm_io.FlowReader(file).stream())
    body = red_upload.request.content.decode()
    assert f'name="username"\r\n\r\nada\r\n--{boundary}' in body  # the rest kept as sent
    assert 'name="password"\r\n\r\nREDACTED-' in body and body.endswith(f"--{boundary}--\r\n")
    link = red_upload.response.headers["Link"]
    assert "page=2&access_token=REDACTED-" in link and link.endswith('page=9>; rel="last"')
    assert red_upload.request.headers["X-Original-URL"].endswith("&fmt=csv")
    assert b"<wsse:Username>ada</wsse:Username>" in red_login.request.content
    assert b'<wsse:Password Type="#Text">REDACTED-' in red_login.request.content
    assert red_token.response.content.startswith(b"access_token=REDACTED-")


def test_har_redaction_reads_the_redirect_url_and_websocket_messages(tmp_path):
    code, frame_token = "SplxlOBeZQQYbYS6WxSbIA9", "init-9Gh2Jk5Lm8Np1Qr"
    entry = {
        "startedDateTime": "2026-11-23T10:00:00.000Z", "time": 1,
        "request": {"method": "GET", "url": "https://login.example.test/authorize?client_id=app",
                    "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": 302, "statusText": "Found", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Location",
                                  "value": f"https://app.example.test/cb?code={code}"}],
                     "cookies": [], "content": {"size": 0, "mimeType": "text/html"},
                     "redirectURL": f"https://app.example.test/cb?code={code}",
                     "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
        "_webSocketMessages": [{"type": "send", "time": 1.0, "opcode": 1, "data": json.dumps(
            {"type": "connection_init", "payload": {"authToken": frame_token}})}],
    }
    source, out = tmp_path / "login.har", tmp_path / "login-redacted.har"
    source.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                          "entries": [entry]}}))
    assert main(["redact", str(source), str(out)]) == 0
    copy = out.read_text()
    assert code not in copy and frame_token not in copy
    (red,) = json.loads(copy)["log"]["entries"]
    assert red["response"]["redirectURL"].startswith("https://app.example.test/cb?code=REDACTED-")
    assert json.loads(red["_webSocketMessages"][0]["data"])["type"] == "connection_init"


# ---- scan on bad input ---------------------------------------------------------------------


def _truncated(tmp_path):
    """Two flows, then a third cut in the middle."""
    whole = (CAPTURES / "expired_token.flow").read_bytes() + (CAPTURES / "role_missing.flow").read_bytes()
    third = (CAPTURES / "expired_token.flow").read_bytes()  # one flow
    path = tmp_path / "cut.flow"
    path.write_bytes(whole + third[: len(third) // 2])
    return path, len(whole)


def test_a_bad_file_in_a_folder_is_named_skipped_and_the_rest_diagnosed(tmp_path, capsys):
    folder = tmp_path / "caps"
    folder.mkdir()
    (folder / "a_expired.flow").write_bytes((CAPTURES / "expired_token.flow").read_bytes())
    (folder / "b_garbage.flow").write_bytes(b"this is not a capture\n")
    (folder / "c_role.flow").write_bytes((CAPTURES / "role_missing.flow").read_bytes())
    status, report = scan_json(capsys, str(folder))
    err = capsys.readouterr().err
    assert status == 2
    assert {f["cause"] for f in report["flows"]} >= {"token-expired"}
    assert {Path(f["capture"]).name for f in report["flows"]} == {"a_expired.flow", "c_role.flow"}
    assert status == main(["scan", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'b_garbage.flow'}: not a readable .flow or HAR file" in err and "skipped" in err


def test_a_truncated_flow_file_is_read_up_to_the_cut(tmp_path, capsys):
    path, cut = _truncated(tmp_path)
    status, report = scan_json(capsys, str(path))
    before = len(verdicts(CAPTURES / "expired_token.flow")) + len(verdicts(CAPTURES / "role_missing.flow"))
    assert status == 2 and report["seen"] == before
    assert "token-expired" in [f["cause"] for f in report["flows"]]
    assert main(["scan", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}: the record at byte {cut} is cut off" in captured.err
    assert f"read the {before} flows before it" in captured.err and "token-expired" in captured.out


@pytest.mark.parametrize("what", ["empty folder", "0-byte file"])
def test_nothing_to_read_is_said_and_fails(tmp_path, capsys, what):
    if what == "empty folder":
        path = tmp_path / "nothing"
        path.mkdir()
        expected = "no capture in this folder"
    else:
        path = tmp_path / "zero.flow"
        path.write_bytes(b"")
        expected = "empty file (0 bytes)"
    assert main(["scan", str(path)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "┏" not in captured.out  # no empty table


def test_folder_scan_blocks_name_their_file(capsys):
    assert main(["scan", "-j1", "--no-progress", str(CAPTURES)]) == 1
    out = capsys.readouterr().out
    blocks = out.split("╭─")[1:]
    assert blocks and all("│ capture " in block for block in blocks)
    assert any(f"{CAPTURES / 'expired_token.flow'}" in block and "token-expired" in block for block in blocks)


def test_the_summary_counts_flows_not_findings(capsys):
    """credential-whitespace twice in one flow is one flow."""
    from authlens.render.report import Tally
    tally = Tally.of(2, [{"findings": [{"id": "credential-whitespace"}, {"id": "credential-whitespace"}]},
                         {"findings": [{"id": "credential-whitespace"}]}])
    assert tally.counts["credential-whitespace"] == 2


def test_one_flow_is_one_flow(capsys):
    from authlens.render import terminal
    from authlens.render.report import Tally
    console = terminal.make_console(None)
    with console.capture() as seen:
        console.print(terminal.summary_table(Tally(seen=1, with_findings=1)))
    assert "1 flow seen" in seen.get() and "1 flows" not in seen.get()
