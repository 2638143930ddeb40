"""Credentials lost on the way, with real clients through a real mitmdump and loopback servers.

requests and curl follow a redirect to another port; headless chromium calls an API on another
origin; a requests session outlives its cookie. Each test reads the flows mitmdump wrote (``-w``)
and checks the findings and links in ``flow.metadata["authlens"]``, the comment and the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from flask import Flask, Response, redirect, request

REPO = Path(__file__).resolve().parent.parent
GOOD = "Bearer good-token-0123456789abcdef"


# ---- fixtures ------------------------------------------------------------------------------

class Proxy:
    """The harness's real mitmdump with the addon, plus its flows and JSON report once stopped."""

    def __init__(self, mitmdump, tmp: Path):
        self.report = tmp / "report.json"
        self.mitmdump = mitmdump(options={"authlens_report": self.report, "authlens_output": "json"})
        self.url = self.mitmdump.proxy_url

    def flows(self) -> list:
        self.mitmdump.stop()
        return self.mitmdump.read_flows()

    def report_flows(self) -> list:
        self.mitmdump.stop()
        return json.loads(self.report.read_text())["flows"]


@pytest.fixture
def proxy(mitmdump, tmp_path):
    return Proxy(mitmdump, tmp_path)


def session(proxy: Proxy) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"http": proxy.url, "https": proxy.url}
    return s


def by_url(flows, url: str, method: str = "GET"):
    """The one flow for ``url`` (query ignored) and ``method``."""
    [flow] = [f for f in flows if f.request.url.split("?")[0] == url and f.request.method == method]
    return flow


def diagnosis(flow) -> dict:
    return flow.metadata.get("authlens") or {}


def finding_ids(flow) -> list:
    return [f["id"] for f in diagnosis(flow).get("findings", [])]


def assert_linked(flow, relation: str, other) -> None:
    link = {"relation": relation, "flow": other.id}
    assert any(link.items() <= seen.items() for seen in diagnosis(flow)["links"]), diagnosis(flow)
    assert f"See flow {other.id} ({relation})" in flow.comment


# ---- redirects ------------------------------------------------------------------------------

def api_server() -> Flask:
    app = Flask("api")

    @app.get("/data")
    def data():
        if request.headers.get("Authorization") != GOOD:
            return Response("no credential", 401, {"WWW-Authenticate": 'Bearer realm="api"'})
        return {"ok": True}

    @app.get("/public")
    def public():
        return {"public": True}

    return app


def front_server(api: str) -> Flask:
    app = Flask("front")
    app.add_url_rule("/moved", "moved", lambda: redirect(api + "/data", 302))
    app.add_url_rule("/moved-public", "moved_public", lambda: redirect(api + "/public", 302))
    app.add_url_rule("/local", "local", lambda: redirect("/data", 302))
    app.add_url_rule("/data", "data", api_server().view_functions["data"])
    return app


def assert_dropped(flows, front: str, api: str) -> None:
    hop, follow = by_url(flows, front + "/moved"), by_url(flows, api + "/data")
    d = diagnosis(follow)
    assert (d["verdict"], d["cause"]) == ("authentication", "credential-dropped-on-redirect")
    [finding] = [f for f in d["findings"] if f["id"] == "credential-dropped-on-redirect"]
    assert front in finding["message"] and api in finding["message"]
    assert_linked(follow, "redirected-by", hop)
    assert "credential-dropped-on-redirect" in follow.comment


def test_requests_drops_authorization_on_a_redirect_to_another_port(proxy, serve):
    api = serve(api_server())
    front = serve(front_server(api))
    with session(proxy) as s:
        assert s.get(front + "/moved", headers={"Authorization": GOOD}).status_code == 401
        assert s.get(front + "/local", headers={"Authorization": GOOD}).status_code == 200
        assert s.get(front + "/moved-public", headers={"Authorization": GOOD}).status_code == 200
    flows = proxy.flows()
    assert_dropped(flows, front, api)
    healthy = [by_url(flows, url) for url in (front + "/local", front + "/data",
                                              front + "/moved-public", api + "/public")]
    assert not any(diagnosis(f) for f in healthy)
    [reported] = [f for f in proxy.report_flows() if f["cause"] == "credential-dropped-on-redirect"]
    assert reported["links"][0]["relation"] == "redirected-by"


def test_curl_drops_authorization_unless_told_to_trust_the_target(proxy, serve):
    api = serve(api_server())
    front = serve(front_server(api))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for trust in ([], ["--location-trusted"]):
        subprocess.run(["curl", "-sS", "-L", "--proxy", proxy.url, "-H", f"Authorization: {GOOD}",
                        *trust, front + "/moved"], check=True, capture_output=True, env=env)
    flows = proxy.flows()
    assert [f.response.status_code for f in flows] == [302, 401, 302, 200]
    assert_dropped(flows[:2], front, api)
    assert not any(diagnosis(f) for f in flows[2:])


# ---- cookie sessions ------------------------------------------------------------------------

def cookie_app(lifetime: int) -> Flask:
    app = Flask("sessions")
    sessions: dict = {}

    @app.post("/account/login")
    def login():
        sessions["s3cr3t-session"] = time.time() + lifetime
        response = redirect("/app", 302)
        response.set_cookie("sid", "s3cr3t-session", max_age=lifetime, httponly=True)
        response.set_cookie("theme", "dark", max_age=lifetime)
        return response

    @app.get("/api/orders")
    def orders():
        if sessions.get(request.cookies.get("sid", ""), 0) < time.time():
            return redirect("/account/login?next=/api/orders", 302)
        return {"orders": []}

    return app


def test_requests_session_outlives_its_cookie(proxy, serve):
    site = serve(cookie_app(lifetime=1))
    with session(proxy) as s:
        s.post(site + "/account/login", allow_redirects=False)
        assert s.get(site + "/api/orders", allow_redirects=False).status_code == 200
        time.sleep(1.6)
        assert s.get(site + "/api/orders", allow_redirects=False).status_code == 302
    flows = proxy.flows()
    login, fine, late = flows[0], flows[1], flows[2]
    assert not diagnosis(login) and not diagnosis(fine)
    d = diagnosis(late)
    assert (d["verdict"], d["cause"]) == ("authentication", "cookie-session-expired")
    assert "`sid`" in d["findings"][0]["message"] and "theme" not in json.dumps(d["findings"])
    assert_linked(late, "cookie-set-by", login)


# ---- the browser ------------------------------------------------------------------------------

def browser_page(browser, proxy: Proxy):
    """A page whose traffic, loopback included, goes through ``proxy``."""
    context = browser.new_context(proxy={"server": proxy.url, "bypass": "<-loopback>"})
    return context, context.new_page()


def strict_api(page_origin: str) -> Flask:
    """Refuses preflights and leaves CORS headers off its 401s (``/api/me``); ``/api/open``
    answers preflights but still refuses a bad token without CORS headers."""
    app = Flask("strict")
    cors = {"Access-Control-Allow-Origin": page_origin, "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Headers": "authorization"}

    @app.route("/api/me", methods=["GET", "OPTIONS"])
    def me():
        if request.headers.get("Authorization") != GOOD:
            return Response("unauthorized", 401)
        return Response("{}", 200, cors)

    @app.route("/api/open", methods=["GET", "OPTIONS"])
    def open_preflight():
        if request.method == "OPTIONS":
            return Response("", 204, cors)
        return me()

    return app


def healthy_api(page_origin: str) -> Flask:
    app = Flask("healthy")
    cors = {"Access-Control-Allow-Origin": page_origin, "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Headers": "authorization"}

    @app.route("/api/me", methods=["GET", "OPTIONS"])
    def me():
        if request.method == "OPTIONS":
            return Response("", 204, cors)
        ok = request.headers.get("Authorization") == GOOD
        return Response("{}" if ok else "unauthorized", 200 if ok else 401, cors)

    return app


FETCH = """async ([url, init]) => {
  try { const r = await fetch(url, init); return String(r.status); }
  catch (e) { return 'CORS error: ' + e.name; }
}"""


@pytest.mark.browser
def test_chromium_cross_origin_calls_against_a_strict_api(proxy, serve, browser):
    pages = Flask("pages")
    pages.add_url_rule("/", "index", lambda: "<!doctype html><title>app</title>")
    page_origin = serve(pages)
    strict, healthy = serve(strict_api(page_origin)), serve(healthy_api(page_origin))
    context, page = browser_page(browser, proxy)
    try:
        page.goto(page_origin + "/")
        auth = {"headers": {"Authorization": GOOD}}
        wrong = {"headers": {"Authorization": "Bearer wrong-token-0123456789abcdef"}}
        seen = {
            "cookies": page.evaluate(FETCH, [strict + "/api/me", {"credentials": "include"}]),
            "preflight": page.evaluate(FETCH, [strict + "/api/me", auth]),
            "open": page.evaluate(FETCH, [strict + "/api/open", wrong]),
            "healthy": page.evaluate(FETCH, [healthy + "/api/me", auth]),
            "healthy-401": page.evaluate(FETCH, [healthy + "/api/me", wrong]),
        }
    finally:
        context.close()
    assert seen == {"cookies": "CORS error: TypeError", "preflight": "CORS error: TypeError",
                    "open": "CORS error: TypeError", "healthy": "200", "healthy-401": "401"}
    flows = proxy.flows()

    hidden = diagnosis(by_url(flows, strict + "/api/me"))  # the credentials: 'include' GET
    [finding] = [f for f in hidden["findings"] if f["id"] == "cors-hides-status"]
    assert "The real status was 401" in finding["message"] and page_origin in finding["message"]

    preflight = by_url(flows, strict + "/api/me", "OPTIONS")
    d = diagnosis(preflight)
    assert (d["verdict"], d["cause"]) == ("authentication", "cors-preflight-auth")
    assert preflight.marked == ":wrench:" and "let OPTIONS preflights through" in preflight.comment

    real = by_url(flows, strict + "/api/open")
    assert "cors-hides-status" in finding_ids(real)
    assert_linked(real, "preflight", by_url(flows, strict + "/api/open", "OPTIONS"))

    for flow in flows:
        if flow.request.url.startswith((healthy, page_origin)):
            assert not {"cors-hides-status", "cors-preflight-auth"} & set(finding_ids(flow)), flow
