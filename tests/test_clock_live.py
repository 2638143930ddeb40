"""Whose clock is off, through a real mitmdump: resource servers on loopback whose clocks are
set 15 minutes ahead, 10 minutes behind, or right (their ``Date`` header and their token check
both use that clock), called by httpx with HS256 tokens from an issuer whose clock is right, or
10 minutes ahead. ``clock-skew`` must name the server's clock when the ``Date`` is minutes away
from the send time and only it fails the token, and the issuer's when both clocks agree and the
token's iat/nbf lie ahead of them; a right clock and a fresh token say nothing; -nr agrees."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import jwt
from harness import Mitmdump, Response, Upstream

SECRET = "clock-test-signing-key-0123456789abcdef"
STEP = "X-Test-Step"


def resource_server(clock_offset: float) -> Upstream:
    """Checks exp and nbf by its own clock, ``clock_offset`` seconds off, with 30 s leeway; its
    one ``Date`` header tells that clock."""
    def orders(req) -> Response:
        now = time.time() + clock_offset
        date = ("Date", formatdate(now, usegmt=True))
        bearer = (req.header("Authorization") or "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(bearer, SECRET, algorithms=["HS256"], audience="api://orders",
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False})
        except jwt.PyJWTError:
            claims = None
        if claims is None or claims["exp"] + 30 < now or claims.get("nbf", 0) - 30 > now:
            return Response(401, [date, ("Content-Type", "application/json"), (
                "WWW-Authenticate", 'Bearer error="invalid_token", '
                'error_description="The token is expired or not yet valid"')],
                b'{"error": "invalid_token"}')
        return Response(200, [date, ("Content-Type", "application/json")], b'{"orders": []}')

    server = Upstream()
    server.route("/v1/orders", handler=orders)
    return server.start()


def token(issuer_offset: float = 0, lifetime: float = 600) -> str:
    now = int(time.time() + issuer_offset)
    return jwt.encode({"iss": "https://issuer.example.test", "aud": "api://orders",
                       "sub": "ana", "iat": now, "nbf": now, "exp": now + lifetime},
                      SECRET, algorithm="HS256")


def test_whose_clock_is_off_through_mitmdump(tmp_path):
    servers = [resource_server(offset) for offset in (900, -600, 0)]
    ahead, behind, right = (server.url("/v1/orders") for server in servers)
    try:
        _story(tmp_path, ahead, behind, right)
    finally:
        for server in servers:
            server.stop()


def _story(tmp_path, ahead: str, behind: str, right: str) -> None:
    with Mitmdump(tmp_path, options={"authlens_output": "rich"}) as proxy:
        with httpx.Client(proxy=proxy.proxy_url, trust_env=False, timeout=10) as http:
            def call(step: str, url: str, bearer: str) -> int:
                return http.get(url, headers={"Authorization": f"Bearer {bearer}",
                                              STEP: step}).status_code

            assert call("server-ahead", ahead, token()) == 401  # expired by its clock only
            assert call("server-behind", behind, token()) == 401  # not yet valid by its clock
            assert call("issuer-ahead", right, token(issuer_offset=600)) == 401
            assert call("healthy", right, token()) == 200
    assert "internal error" not in proxy.output()
    flows = proxy.read_flows()

    def meta(flow):
        return flow.metadata.get("authlens") or {}

    def step(name):
        [flow] = [f for f in flows if f.request.headers.get(STEP) == name]
        return flow

    server_ahead = step("server-ahead")
    assert (meta(server_ahead).get("verdict"), meta(server_ahead).get("cause")) == (
        "authentication", "clock-skew")
    assert "The server's clock (Date: " in server_ahead.comment
    assert "15 min ahead of the proxy's" in server_ahead.comment
    assert "token #" in server_ahead.comment and " is expired" in server_ahead.comment
    assert "The server's clock is off." in server_ahead.comment
    [finding] = [f for f in meta(server_ahead)["findings"] if f["id"] == "clock-skew"]
    assert 890 <= finding["evidence"]["server_skew_s"] <= 910

    server_behind = step("server-behind")
    assert meta(server_behind).get("cause") == "clock-skew"
    assert "10 min behind the proxy's" in server_behind.comment
    assert "not yet valid" in server_behind.comment and "server's clock is off" in \
        server_behind.comment

    issuer_ahead = step("issuer-ahead")
    assert meta(issuer_ahead).get("cause") == "clock-skew"
    assert "the clock of the issuer that signed it is about 10 min ahead" in issuer_ahead.comment
    assert "which agree" in issuer_ahead.comment and "server's clock is off" not in \
        issuer_ahead.comment

    healthy = step("healthy")
    assert not meta(healthy) and not healthy.comment

    replayed = Mitmdump(tmp_path, options={"authlens_output": "off"})
    replayed.replay(proxy.flow_file)
    assert [f.comment for f in replayed.read_flows()] == [f.comment for f in flows]
