"""``authlens.timeline`` through mitmproxy's command manager, on flows the adapter converts."""

import json

from mitmproxy import http
from mitmproxy.test import taddons, tflow

from authlens.mitm.adapter import exchange_from_flow
from authlens.mitm.addon import Diagnose
from authlens.mitm.commands import Commands


def _flow(request: http.Request, status: int, body: bytes, ctype: str) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request = request
    flow.response = http.Response.make(status, body, {"Content-Type": ctype})
    return flow


def test_timeline_command_tells_the_tokens_story():
    token_request = http.Request.make(
        "POST", "https://login.example.test/oauth/token",
        json.dumps({"grant_type": "password", "client_id": "spa", "username": "ana"}),
        {"Content-Type": "application/json"})
    issued = _flow(token_request, 200, json.dumps(
        {"access_token": "AT-command-0123456789", "expires_in": 1, "token_type": "Bearer"}
    ).encode(), "application/json")
    call = _flow(http.Request.make("GET", "https://api.example.test/v1/me", b"",
                                   {"Authorization": "Bearer AT-command-0123456789"}),
                 401, b"", "text/plain")
    call.request.timestamp_start = issued.response.timestamp_start + 5
    diagnose = Diagnose()
    analyzer = diagnose.analyzer
    assert exchange_from_flow(issued).request.body  # JSON at a well-known token path is read
    assert analyzer.analyze(exchange_from_flow(issued)).findings[0].id == "oauth-no-refresh-token"
    assert analyzer.analyze(exchange_from_flow(call)).cause == "token-expired"
    with taddons.context(Commands(diagnose)) as tctx:
        out = tctx.master.commands.call("authlens.timeline", [call])
        empty = tctx.master.commands.call("authlens.timeline", [tflow.tflow()])
    lines = out.splitlines()
    assert lines[0].startswith("client spa @")
    assert [line.split()[1] for line in lines[1:]] == ["issued", "expired", "used", "rejected"]
    assert "HTTP 401" in out
    assert "no token" in empty
