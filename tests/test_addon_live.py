"""The three ways authlens is used, for real: a live mitmdump between curl and a loopback API, the
same session replayed from its .flow file and from a HAR export, and the proxy left byte-exact."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest
from harness import Mitmdump, Response, curl

SECRET = "authlens-live-test-key-0123456789abcdef"
NOW = time.time()
VALID = jwt.encode({"iss": "https://login.test", "aud": "api://orders", "scp": "Orders.Read",
                    "iat": int(NOW - 60), "exp": int(NOW + 3600)}, SECRET, algorithm="HS256")
EXPIRED = jwt.encode({"iss": "https://login.test", "aud": "api://orders", "scp": "Orders.Read",
                      "iat": int(NOW - 4500), "exp": int(NOW - 900)}, SECRET, algorithm="HS256")

# path -> (Authorization header as sent, expected status, verdict, cause, marker)
CASES = {
    "/quoted": (f'"Bearer {VALID}"', 401, "authentication", "credential-quoted", ":warning:"),
    "/bare": (VALID, 401, "authentication", "scheme-missing", ":warning:"),
    "/empty": ("Bearer ", 401, "authentication", "credential-empty", ":warning:"),
    "/placeholder": ("Bearer {{accessToken}}", 401, "authentication", "credential-placeholder",
                     ":warning:"),
    "/expired": (f"Bearer {EXPIRED}", 401, "authentication", "token-expired", ":key:"),
    "/admin": (f"Bearer {VALID}", 403, "authorization", "token-scope-missing",
               ":no_entry:"),
}


def orders_api(request) -> Response:
    """A strict API: only ``Bearer <VALID>`` passes; /admin also needs Orders.Admin."""
    sent = request.header("Authorization") or ""
    if sent != f"Bearer {VALID}":
        return Response(401, [("WWW-Authenticate", 'Bearer realm="orders", error="invalid_token"'),
                              ("Content-Type", "application/json")],
                        b'{"error":"invalid_token"}')
    if request.path == "/admin":
        return Response(403, [("WWW-Authenticate", 'Bearer realm="orders", '
                               'error="insufficient_scope", scope="Orders.Admin"')])
    return Response(200, [("Content-Type", "application/json")], b'{"orders":[]}')


@pytest.fixture
def api(upstream):
    for path in [*CASES, "/ok"]:
        upstream.route(path, handler=orders_api)
    return upstream


def send_all(proxy_url: str, api) -> None:
    for path, (authorization, status, *_) in CASES.items():
        done = curl(proxy_url, api.url(path), "-o", "/dev/null", "-w", "%{http_code}",
                    "-H", f"Authorization: {authorization}")
        assert done.stdout.decode() == str(status), (path, done)
    assert curl(proxy_url, api.url("/ok"), "-H", f"Authorization: Bearer {VALID}").returncode == 0


def by_path(flows) -> dict:
    return {f.request.path: f for f in flows}


def assert_diagnosed(flows) -> None:
    flows = by_path(flows)
    for path, (_, status, verdict, cause, marker) in CASES.items():
        flow = flows[path]
        result = flow.metadata["authlens"]
        assert (result["status"], result["verdict"], result["cause"]) == (status, verdict, cause)
        assert flow.comment.startswith(f"{cause}: "), flow.comment  # the cause first
        assert f"[authlens] {verdict.upper()} ({cause})" in flow.comment.splitlines()[0]
        assert flow.comment.count("[authlens]") == 1
        assert flow.marked == marker, path
    healthy = flows["/ok"]
    assert "authlens" not in healthy.metadata and not healthy.comment and not healthy.marked


def test_live_mitmdump_diagnoses_every_refusal(api, mitmdump, tmp_path):
    report = tmp_path / "report.json"
    proxy = mitmdump(options={"authlens_report": report})
    send_all(proxy.proxy_url, api)
    out = proxy.stop()

    assert_diagnosed(proxy.read_flows())
    # the rich terminal: one block per problem, then the summary table; never a whole token
    assert "AUTHENTICATION (token-expired)" in out and "AUTHORIZATION" in out
    assert "authlens: 7 flows seen, 6 with findings" in out
    assert "Traceback" not in out
    assert VALID not in out and EXPIRED not in out
    # the JSON report
    flows = {f["url"].rsplit("/", 1)[1]: f for f in json.loads(report.read_text())["flows"]}
    assert flows["expired"]["cause"] == "token-expired"
    assert {f["id"] for f in flows["admin"]["findings"]} >= {"token-scope-missing",
                                                              "challenge-insufficient-scope"}
    assert "Orders.Admin" in flows["admin"]["summary"]
    assert VALID not in report.read_text() and EXPIRED not in report.read_text()


def test_replay_of_flow_and_har_gives_the_same_diagnoses_without_doubling(api, mitmdump, tmp_path):
    proxy = mitmdump(options={"hardump": tmp_path / "session.har"})
    send_all(proxy.proxy_url, api)
    proxy.stop()
    live = by_path(proxy.read_flows())

    # a capture read days later is judged at the time it was sent
    once = Mitmdump(tmp_path / "once")
    once.replay(proxy.flow_file)
    assert_diagnosed(once.read_flows())
    twice = Mitmdump(tmp_path / "twice")  # replaying an annotated capture does not append again
    twice.replay(once.flow_file)
    assert_diagnosed(twice.read_flows())
    for path, flow in by_path(twice.read_flows()).items():
        assert flow.comment == live[path].comment

    har = Mitmdump(tmp_path / "har")
    har.replay(tmp_path / "session.har")
    assert_diagnosed(har.read_flows())


def test_upstream_receives_byte_identical_requests_with_and_without_authlens(api, mitmdump):
    def raw_requests(with_authlens: bool):
        api.requests.clear()
        proxy = mitmdump() if with_authlens else mitmdump(script=None)
        send_all(proxy.proxy_url, api)
        proxy.stop()
        return [r.raw for r in api.requests]

    without = raw_requests(False)
    with_addon = raw_requests(True)
    assert len(without) == len(CASES) + 1
    assert with_addon == without


# ---- one process: analysis on mitmproxy's own thread --------------------------------------


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux ``/proc``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    kids = [int(c) for c in children.read().split()]
            except OSError:  # the task ended meanwhile
                continue
            found += kids
            todo += kids
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_live_mitmdump_starts_no_process_and_prints_each_block_after_its_flow_line(api, mitmdump):
    proxy = mitmdump(write_flows=False)
    send_all(proxy.proxy_url, api)
    assert descendants(proxy.proc.pid) == []
    assert descendants(os.getpid()) == [proxy.proc.pid]  # the check sees a child where there is one
    out = proxy.stop()
    for path, (_, status, verdict, cause, _) in CASES.items():
        line = out.index(f"GET {api.url(path)}")  # mitmdump's own line for the flow
        block = out.index(f"{status} GET {api.url(path)}")  # authlens' block heading
        assert line < block, path
        assert f"{verdict.upper()} ({cause})" in out[block:]
    assert "authlens: 7 flows seen, 6 with findings" in out
    assert "Traceback" not in out and VALID not in out


# ---- GitHub's SSO refusal in a 200 ---------------------------------------------------------

SSO_SECRET = "AbCdEf0123456789ssoRequestSecret"
SSO_URL = f"https://github.com/orgs/acme/sso?authorization_request={SSO_SECRET}"
GITHUB_TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"


def test_live_mitmdump_names_github_sso_on_a_200(upstream, mitmdump):
    """A loopback API answering as GitHub does for a token not authorized for an org's SAML SSO:
    a 200 with ``X-GitHub-SSO: required; url=...``. The same token's healthy calls before it
    let the cheap gate learn the request side; the SSO answer must still be analysed."""
    json_headers = [("Content-Type", "application/json; charset=utf-8")]
    upstream.route("/user", headers=json_headers, body=b'{"login": "octocat"}')
    upstream.route("/orgs/acme/repos", headers=[*json_headers,
                                                ("X-GitHub-SSO", f"required; url={SSO_URL}")],
                   body=b"[]")
    upstream.route("/user/repos", headers=[*json_headers, ("X-GitHub-SSO",
                                                           "partial-results; organizations=123,456")],
                   body=b'[{"id": 1}]')
    proxy = mitmdump()
    auth = f"Authorization: Bearer {GITHUB_TOKEN}"
    for path in ("/user", "/user", "/orgs/acme/repos", "/user/repos"):
        done = curl(proxy.proxy_url, upstream.url(path), "-o", "/dev/null", "-w", "%{http_code}",
                    "-H", auth)
        assert done.stdout.decode() == "200", (path, done)
    out = proxy.stop()

    flows = proxy.read_flows()
    sso = next(f for f in flows if f.request.path == "/orgs/acme/repos")
    result = sso.metadata["authlens"]
    assert (result["status"], result["verdict"], result["cause"]) == (
        200, "authorization", "sso-not-authorized")
    assert sso.comment.startswith("sso-not-authorized: ")
    assert "https://github.com/orgs/acme/sso?authorization_request=" in sso.comment
    assert sso.marked == ":no_entry:"
    partial = next(f for f in flows if f.request.path == "/user/repos")
    found = {f["id"]: f for f in partial.metadata["authlens"]["findings"]}
    assert partial.metadata["authlens"]["verdict"] is None
    assert found["sso-partial-results"]["severity"] == "warning"
    healthy = [f for f in flows if f.request.path == "/user"]
    assert len(healthy) == 2 and not any(f.comment or f.marked for f in healthy)
    assert "AUTHORIZATION (sso-not-authorized)" in out
    assert SSO_SECRET not in out and GITHUB_TOKEN not in out
    assert all(SSO_SECRET not in (f.comment or "") for f in flows)
