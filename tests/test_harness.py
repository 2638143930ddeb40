"""The harness itself, against real mitmdump/mitmweb/chromium, with the throwaway addon_seen.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from harness import Mitmdump, Response, curl, proxied_client, send_raw
from mitmproxy.version import VERSION

SEEN = Path(__file__).parent / "addon_seen.py"
VERSION_TUPLE = tuple(int(x) for x in VERSION.split(".")[:3])
CHALLENGES = [
    ("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"'),
    ("WWW-Authenticate", 'Basic realm="api"'),
]
ALL_COLUMNS = ["tls", "icon", "path", "method", "status", "size", "time", "comment"]


def test_upstream_records_exact_bytes_and_repeats_headers(upstream):
    upstream.route("/secret", status=401, headers=CHALLENGES, body="denied")
    sent = (
        b"POST /secret?x=1 HTTP/1.1\r\nHost: example\r\nX-MiXeD-Case:  two  spaces\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    reply = send_raw(upstream.port, sent)
    assert reply.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b'WWW-Authenticate: Bearer realm="api", error="invalid_token"\r\n' in reply
    assert b'WWW-Authenticate: Basic realm="api"\r\n' in reply
    assert reply.endswith(b"\r\n\r\ndenied")
    [req] = upstream.requests
    assert req.raw == sent
    assert (req.method, req.path, req.body) == ("POST", "/secret", b"abcde")
    assert req.header("x-mixed-case") == "two  spaces"


def test_upstream_handler_route_and_404(upstream):
    upstream.route("/echo", handler=lambda r: Response(200, [("X-Method", r.method)], r.body))
    assert httpx.put(upstream.url("/echo"), content=b"hi", trust_env=False).headers["x-method"] == "PUT"
    assert httpx.get(upstream.url("/nope"), trust_env=False).status_code == 404
    upstream.route("/text", handler=lambda r: Response(200, [], '{"token": "é"}'))
    assert httpx.get(upstream.url("/text"), trust_env=False).content == '{"token": "é"}'.encode()


def test_mitmdump_writes_addon_annotations(upstream, mitmdump):
    upstream.route("/api", status=401, headers=CHALLENGES, body="no")
    proxy = mitmdump(script=SEEN)
    with proxied_client(proxy.proxy_url) as client:
        r = client.get(upstream.url("/api"), headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401
    assert r.headers.get_list("www-authenticate") == [v for _, v in CHALLENGES]
    assert upstream.requests[0].header("Authorization") == "Bearer abc"
    assert proxy.ca_cert.is_file()  # private CA in the instance's confdir, not ~/.mitmproxy
    out = proxy.stop()
    assert "addon_seen: /api -> 401" in out
    assert "addon_seen: done" in out  # SIGINT ran the done hook
    [flow] = proxy.read_flows()
    assert (flow.comment, flow.marked) == ("seen", ":no_entry:")
    assert flow.response.headers.get_all("WWW-Authenticate") == [v for _, v in CHALLENGES]


def test_request_reaches_upstream_byte_identical(upstream, mitmdump):
    """Without an addon mitmproxy keeps header case, order and values; it rewrites the absolute-form
    request line to origin form and re-serializes each header as ``Name: value``."""
    upstream.route("/b", body="ok")
    proxy = mitmdump(script=None)
    head = b"Host: 127.0.0.1:%d\r\nauthorization: Bearer t0k\r\nX-Odd:%%s\r\nConnection: close\r\n" % (
        upstream.port
    )
    body = b"Content-Length: 3\r\n\r\nabc"
    reply = send_raw(
        proxy.listen_port,
        b"POST http://127.0.0.1:%d/b HTTP/1.1\r\n" % upstream.port + head % b"v" + body,
    )
    assert reply.startswith(b"HTTP/1.1 200")
    assert upstream.requests[0].raw == b"POST /b HTTP/1.1\r\n" + head % b" v" + body


def test_curl_through_proxy(upstream, mitmdump):
    upstream.route("/c", status=403, headers=[("Content-Type", "text/plain")], body="forbidden")
    proxy = mitmdump(script=SEEN)
    res = curl(proxy.proxy_url, upstream.url("/c"), "-i")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(b"HTTP/1.1 403")
    assert res.stdout.endswith(b"forbidden")
    assert upstream.requests[0].header("User-Agent").startswith("curl/")


def test_replay_mode_runs_addon_over_saved_flows(upstream, mitmdump, tmp_path):
    upstream.route("/r", status=401)
    plain = mitmdump(script=None)
    with proxied_client(plain.proxy_url) as client:
        client.get(upstream.url("/r"))
    plain.stop()
    assert plain.read_flows()[0].comment == ""
    replay = Mitmdump(tmp_path, script=SEEN)
    out = replay.replay(plain.flow_file)
    assert "addon_seen: /r -> 401" in out
    assert "listening" not in out
    [flow] = replay.read_flows()
    assert flow.comment == "seen"


@pytest.mark.skipif(VERSION_TUPLE >= (11, 1, 2), reason="mitmweb < 11.1.2 has no web auth")
def test_mitmweb_without_auth(mitmweb):
    web = mitmweb(script=None)
    assert web.token is None
    assert web.url == f"http://127.0.0.1:{web.web_port}/"
    import urllib.request

    with urllib.request.urlopen(web.url + "flows", timeout=10) as r:
        assert r.status == 200


@pytest.mark.skipif(VERSION_TUPLE < (11, 1, 2), reason="mitmweb auth exists from 11.1.2")
def test_mitmweb_requires_token(mitmweb):
    import urllib.error
    import urllib.request

    web = mitmweb(script=None)
    assert web.token and web.url.endswith(f"/?token={web.token}")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{web.web_port}/flows", timeout=10)
    assert e.value.code == 403
    with urllib.request.urlopen(f"http://127.0.0.1:{web.web_port}/flows?token={web.token}") as r:
        assert r.status == 200
    assert web.get_json("/flows") == []


def test_mitmweb_shows_comment_in_json_and_page(upstream, mitmweb, page, artifacts):
    upstream.route("/w", status=403, body="nope")
    web = mitmweb(script=SEEN, options={"web_columns": ALL_COLUMNS})
    with proxied_client(web.proxy_url) as client:
        assert client.get(upstream.url("/w")).status_code == 403
    [flow] = web.get_json("/flows")
    assert flow["comment"] == "seen"
    assert flow["marked"] == "\u26d4"  # mitmweb sends the rendered emoji, not ":no_entry:"
    assert web.get_json("/options")["web_columns"]["value"] == ALL_COLUMNS

    page.goto(web.url)
    cell = page.locator("td.col-comment").first
    cell.wait_for(timeout=15000)
    assert cell.inner_text() == "seen"
    assert page.locator("th.col-comment").first.inner_text().strip() == "Comment"
    page.screenshot(path=str(artifacts / f"mitmweb-{VERSION}-comment.png"), full_page=True)
