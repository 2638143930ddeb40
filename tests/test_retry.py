"""``authlens.retry`` end to end: a real mitmweb -s addon.py, real refused calls from httpx, the
command run through mitmweb's REST API (``POST /commands/authlens.retry``, as its command bar
does), mitmproxy's own client replay, and a loopback upstream that accepts only the corrected
form of each request. Plus the core's corrections on their own.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse

import pytest
from factories import mint
from harness import Mitmweb, Response, Upstream, proxied_client

from authlens import corrections
from authlens.analyze import Analyzer
from authlens.model import Exchange, RequestView, ResponseView

TOKEN = mint(issued=time.time() - 60, lifetime=3600, aud="api://orders")
API_KEY = "k-" + secrets.token_hex(12)
USER, PASSWORD = "alice", "wonder-" + secrets.token_hex(4)
BEARER = ("WWW-Authenticate", 'Bearer realm="api"')


def _only(expected: str, challenge=BEARER):
    def handler(req):
        if req.header("Authorization") == expected:
            return Response(200, [("Content-Type", "application/json")], '{"ok": true}')
        return Response(401, [challenge, ("Content-Type", "text/plain")], "denied\n")
    return handler


def _reports(key: str):
    """An API that takes its key only in X-API-Key (and says so in its challenge)."""
    def handler(req):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.target).query)
        if req.header("X-API-Key") == key and "api_key" not in query:
            return Response(200, [("Content-Type", "application/json")], '{"reports": []}')
        return Response(401, [("WWW-Authenticate", 'ApiKey realm="reports", header="X-API-Key"'),
                              ("Content-Type", "application/json")],
                        '{"error": "unauthorized", "message": "missing X-API-Key header"}')
    return handler


class Issuer:
    """A token endpoint (client credentials, opaque tokens) and an API that takes only the newest."""

    def __init__(self):
        self.issued: list[str] = []

    def token(self, req):
        self.issued.append("at-" + secrets.token_hex(16))
        return Response(200, [("Content-Type", "application/json")], json.dumps(
            {"access_token": self.issued[-1], "token_type": "Bearer", "expires_in": 3600}))

    def orders(self, req):
        if self.issued and req.header("Authorization") == f"Bearer {self.issued[-1]}":
            return Response(200, [("Content-Type", "application/json")], "[]")
        return Response(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')], "")


# path -> (what the client sends: headers, query), the finding the retry corrects
KINDS = {
    "/quoted": ({"Authorization": f'"Bearer {TOKEN}"'}, "credential-quoted"),
    "/invisible": ({"Authorization": f"Bearer {TOKEN}\u200b".encode()}, "credential-whitespace"),
    "/doubled": ({"Authorization": f"Bearer Bearer {TOKEN}"}, "scheme-duplicated"),
    "/bare": ({"Authorization": TOKEN}, "scheme-missing"),
    "/basic": ({"Authorization": f"Basic {USER}:{PASSWORD}"}, "basic-malformed"),
    "/reports?api_key=" + API_KEY: ({}, "error-in-body"),
}
OUTCOMES = {
    "/quoted": "with the quotes removed the server answered 200 — the quotes were the cause",
    "/invisible": "with the stray whitespace removed the server answered 200",
    "/doubled": "with the scheme written once the server answered 200",
    "/bare": "with `Bearer` added in front the server answered 200",
    "/basic": "with user:password base64-encoded the server answered 200",
    "/reports": "with the key moved to header X-API-Key the server answered 200",
}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """mitmweb after one refused call of each kind, a stale token, a POST and a placeholder."""
    upstream = Upstream().start()
    for path in ("/quoted", "/invisible", "/doubled", "/bare", "/unsafe"):
        upstream.route(path, handler=_only(f"Bearer {TOKEN}"))
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    upstream.route("/basic", handler=_only(f"Basic {encoded}", ("WWW-Authenticate", 'Basic realm="x"')))
    upstream.route("/reports", handler=_reports(API_KEY))
    upstream.route("/placeholder", handler=_only(f"Bearer {TOKEN}"))
    issuer = Issuer()
    upstream.route("/oauth2/token", handler=issuer.token)
    upstream.route("/orders", handler=issuer.orders)
    proxy = Mitmweb(tmp_path_factory.mktemp("retry"), write_flows=False).start()
    try:
        with proxied_client(proxy.proxy_url) as client:
            for path, (headers, _) in KINDS.items():
                assert client.get(upstream.url(path), headers=headers).status_code == 401
            client.post(upstream.url("/unsafe"), headers={"Authorization": f'"Bearer {TOKEN}"'})
            client.get(upstream.url("/placeholder"),
                       headers={"Authorization": "Bearer {{access_token}}"})
            form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": "s3"}
            old = client.post(upstream.url("/oauth2/token"), data=form).json()["access_token"]
            client.post(upstream.url("/oauth2/token"), data=form)
            assert client.get(upstream.url("/orders"),
                              headers={"Authorization": f"Bearer {old}"}).status_code == 401
        _wait(proxy, lambda flows: sum(1 for f in flows if f["marked"]) >= 9)
        proxy.upstream, proxy.issuer = upstream, issuer
        yield proxy
    finally:
        proxy.stop()
        upstream.stop()


def _wait(proxy, ready, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flows = proxy.get_json("/flows")
        if ready(flows):
            return flows
        time.sleep(0.1)
    raise AssertionError(json.dumps(proxy.get_json("/flows"), indent=1)[:4000])


def _retry(web, path: str, *flags: str) -> tuple[str, dict, dict]:
    """Run the command on the flow of ``path``; (its answer, the original, the retried flow)."""
    answer = web.command("authlens.retry", f"~u {path} & !~marker repeat", *flags)

    def done(flows):
        return any(f["marked"] == "🔁" and path in f["request"]["path"] and "server" in f["comment"]
                   for f in flows) or "not sent" in answer
    flows = _wait(web, done)
    original = next(f for f in flows if path in f["request"]["path"] and f["marked"] != "🔁")
    retried = next((f for f in flows if path in f["request"]["path"] and f["marked"] == "🔁"), {})
    return answer, original, retried


@pytest.mark.parametrize("path", list(KINDS), ids=lambda p: p.split("?")[0].strip("/"))
def test_retry_corrects_each_kind_and_the_server_proves_it(web, path):
    sent_before = len(web.upstream.requests)
    answer, original, retried = _retry(web, path.split("?")[0])
    assert "sent again as flow" in answer, answer
    outcome = OUTCOMES[path.split("?")[0]]
    assert outcome in retried["comment"] and outcome in original["comment"]
    assert retried["response"]["status_code"] == 200 and original["response"]["status_code"] == 401
    assert f"retry of flow {original['id']}" in retried["comment"]
    assert f"retried as flow {retried['id']}" in original["comment"]
    assert len(web.upstream.requests) == sent_before + 1  # exactly one request sent: the retry
    # the secrets are on the wire (the server needs them) but never in what authlens shows
    headers = json.dumps(retried["request"]["headers"])  # the replayed flow's record, in mitmweb
    for shown in (answer, retried["comment"], original["comment"], headers):
        for secret in (TOKEN, API_KEY, PASSWORD, TOKEN.rsplit(".", 1)[1]):
            assert secret not in shown
    if path.startswith(("/quoted", "/bare", "/doubled", "/invisible")):
        shown = f"Bearer {TOKEN[:4]}…{TOKEN[-4:]} ({len(TOKEN)} chars"
        assert f"Authorization: {shown}" in retried["comment"]
        assert any(k == "Authorization" and v.startswith(shown)
                   for k, v in retried["request"]["headers"])


def test_retry_substitutes_the_newer_token_the_proxy_saw_issued(web):
    answer, original, retried = _retry(web, "/orders")
    assert "the newer token" in answer and "sent again" in answer
    assert retried["response"]["status_code"] == 200
    assert "the stale token was the cause" in retried["comment"]
    newest = web.issuer.issued[-1]
    assert web.upstream.requests[-1].header("Authorization") == f"Bearer {newest}"
    assert newest not in retried["comment"] and newest not in answer
    assert newest not in json.dumps(retried["request"]["headers"])


def test_retry_sends_no_unsafe_method_unless_told(web):
    sent_before = len(web.upstream.requests)
    answer = web.command("authlens.retry", "~u /unsafe")
    assert "not sent: POST may have side effects; pass --unsafe" in answer
    time.sleep(0.5)
    assert len(web.upstream.requests) == sent_before
    answer, original, retried = _retry(web, "/unsafe", "--unsafe")
    assert retried["request"]["method"] == "POST" and retried["response"]["status_code"] == 200
    assert len(web.upstream.requests) == sent_before + 1


def test_retry_says_when_no_safe_correction_exists(web):
    sent_before = len(web.upstream.requests)
    answer = web.command("authlens.retry", "~u /placeholder")
    assert "not sent: credential-placeholder: no safe mechanical correction" in answer
    flows = _wait(web, lambda fs: any("not retried" in f["comment"] for f in fs))
    assert any("/placeholder" in f["request"]["path"] for f in flows if "not retried" in f["comment"])
    assert len(web.upstream.requests) == sent_before
    with pytest.raises(RuntimeError, match="unknown flag"):
        web.command("authlens.retry", "~u /placeholder", "--force")


# ---- the core on its own --------------------------------------------------------------------

def _diagnosed(authorization: str, challenge: str = 'Bearer realm="api"'):
    request = RequestView("GET", "https://api.example.test/v1/x",
                          (("Authorization", authorization),))
    response = ResponseView(401, (("WWW-Authenticate", challenge),))
    return request, Analyzer().analyze(Exchange(request, response)).to_dict()


def test_corrections_rebuild_only_what_the_evidence_fixes():
    request, diagnosis = _diagnosed(f"'Bearer  {TOKEN}\u00a0'")
    fixed = corrections.correct(request, diagnosis)
    assert dict(fixed.headers)["Authorization"] == f"Bearer {TOKEN}"
    assert {f.finding for f in fixed.fixes} >= {"credential-quoted", "credential-whitespace"}
    # a bare token and a challenge that names two schemes: which one is not guessed
    request, diagnosis = _diagnosed(TOKEN, 'Bearer realm="a", Basic realm="b"')
    fixed = corrections.correct(request, diagnosis)
    assert not fixed.fixes and fixed.unfixable[0][0] == "scheme-missing"
    # a Basic value that is neither base64 nor user:password in clear
    request, diagnosis = _diagnosed("Basic not-base64-at-all!", 'Basic realm="x"')
    fixed = corrections.correct(request, diagnosis)
    assert not fixed.fixes and "cannot be derived" in dict(fixed.unfixable)["basic-malformed"]


def test_outcome_wording():
    request, diagnosis = _diagnosed(f'"Bearer {TOKEN}"')
    fixed = corrections.correct(request, diagnosis)
    assert corrections.outcome(fixed, 200, False, "") == (
        "with the quotes removed the server answered 200 — the quotes were the cause")
    assert corrections.outcome(fixed, 401, True, "token-expired: ...") == (
        "still 401: the quotes were not the only problem; the server now says: token-expired: ...")


# ---- authlens retry FILE#N on captures (mitmdump -n -C does the sending) ------------------------

def _captured_token(story: str) -> str:
    from capture_helpers import CAPTURES
    from harness import read_flows
    value = read_flows(CAPTURES / f"{story}.flow")[0].request.headers["Authorization"]
    return value.strip('"').split()[-1]


@pytest.mark.parametrize("story, wanted, outcome", [
    ("quoted_header", lambda t: f"Bearer {t}", "the quotes were the cause"),
    ("missing_bearer", lambda t: f"Bearer {t}", "the missing scheme was the cause"),
])
def test_cli_retry_on_a_capture(story, wanted, outcome, upstream, capsys, tmp_path):
    from capture_helpers import CAPTURES
    from harness import read_flows

    from authlens.cli import main
    token = _captured_token(story)
    upstream.route("/v1/orders", handler=_only(wanted(token)))
    out = tmp_path / "both.flow"
    status = main(["retry", f"{CAPTURES / story}.flow#0", "--to", upstream.url(), "-w", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert outcome in printed and token not in printed
    assert upstream.requests[-1].header("Authorization") == wanted(token)
    original, retried = read_flows(out)
    assert retried.response.status_code == 200 and retried.marked == ":repeat:"
    assert outcome in retried.comment and f"retried as flow {retried.id}" in original.comment
    assert retried.metadata["authlens_retry"]["of"] == original.id
    assert token not in retried.request.headers["Authorization"]  # kept redacted once sent


def test_cli_retry_moves_the_key_and_guards_unsafe_methods(upstream, capsys):
    from capture_helpers import CAPTURES

    from authlens.cli import main
    upstream.route("/v1/reports", handler=_reports("test-api-key-5e0b8c2f7d9a41"))  # the capture's
    assert main(["retry", f"{CAPTURES}/api_key_in_query.flow#0", "--to", upstream.url()]) == 0
    assert "the key moved to header X-API-Key the server answered 200" in capsys.readouterr().out
    sent = len(upstream.requests)
    # insufficient_scope: GET works, the POST is refused; a POST is not sent without --unsafe
    assert main(["retry", f"{CAPTURES}/insufficient_scope.flow#1", "--to", upstream.url()]) == 2
    assert "not sent: POST may have side effects" in capsys.readouterr().out
    assert len(upstream.requests) == sent


def test_retry_from_the_console_ui_command_prompt(tmp_path, upstream):
    """The console UI (``mitmproxy``) under tmux: ``:authlens.retry @focus`` on the focused flow."""
    import shutil
    if shutil.which("tmux") is None:
        pytest.skip("tmux is missing")
    from harness import BIN, REPO, curl, free_port
    from test_console_ui import Tmux
    upstream.route("/api/profile", handler=_only(f"Bearer {TOKEN}"))
    port = free_port()
    console = Tmux(tmp_path, [str(BIN / "mitmproxy"), "-s", str(REPO / "addon.py"),
                              "--listen-host", "127.0.0.1", "--listen-port", str(port),
                              "--set", f"confdir={tmp_path / 'confdir'}"])
    try:
        console.wait_for("Flows")
        deadline = time.monotonic() + 20
        while curl(f"http://127.0.0.1:{port}", upstream.url("/api/profile"), "-H",
                   f'Authorization: "Bearer {TOKEN}"').returncode != 0:
            assert time.monotonic() < deadline, "the console UI's proxy never answered"
            time.sleep(0.2)
        console.wait_for("/api/profile", "\u26a0")  # :warning: the request is malformed
        sent = len(upstream.requests)
        console.keys(":")
        console.keys("authlens.retry @focus", "Enter")
        screen = console.wait_for("sent again as flow")  # the command's answer, in an overlay
        assert "sent again as flow" in screen and "with the quotes removed" in screen, screen
        assert TOKEN not in screen and TOKEN.rsplit(".", 1)[1] not in screen
        console.keys("q")  # close the overlay: back to the flow list
        screen = console.wait_for(" 200 ", "\U0001f501")  # :repeat: the retried flow, answered
        assert len(upstream.requests) == sent + 1
        assert upstream.requests[-1].header("Authorization") == f"Bearer {TOKEN}"
        rows = [line for line in screen.splitlines() if "/api/profile" in line]
        assert len(rows) == 2 and " 200 " in next(r for r in rows if "\U0001f501" in r), screen
    finally:
        console.kill()


KEY_RULE = '''
[[rule]]
name = "Keys API"
hosts = ["keys.example"]
[[rule.credential]]
header = "X-API-Key"
'''


@pytest.mark.parametrize("sent", ["query", "header"])
def test_corrections_move_the_key_where_the_rule_says(sent):
    from authlens.analyze import Settings
    from authlens.rules import RuleSet, load_text
    loaded = load_text(KEY_RULE, "user.toml")
    analyzer = Analyzer(Settings(rules=RuleSet(loaded.rules, loaded.jwks)))
    key = "k" * 32
    url = "https://keys.example/x" + (f"?api_key={key}&page=2" if sent == "query" else "?page=2")
    headers = (("Authorization", f"Bearer {key}"),) if sent == "header" else ()
    request = RequestView("GET", url, headers)
    diagnosis = analyzer.analyze(Exchange(request, ResponseView(401))).to_dict()
    assert diagnosis["cause"] == "apikey-wrong-place"
    fixed = corrections.correct(request, diagnosis)
    assert [f.finding for f in fixed.fixes] == ["apikey-wrong-place"]
    assert dict(fixed.headers) == {"X-API-Key": key}
    assert fixed.url == "https://keys.example/x?page=2"
    # and the corrected request is one the rule accepts
    again = analyzer.analyze(Exchange(RequestView("GET", fixed.url, tuple(fixed.headers)),
                                      ResponseView(401))).to_dict()
    assert "apikey-wrong-place" not in [f["id"] for f in again["findings"]]
