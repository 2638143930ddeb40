"""Token and authorization requests checked against the authorization server metadata (RFC 8414)
seen earlier in the traffic (authlens.oauth.discovery): oauth-metadata-mismatch, only on a refusal
that the mismatch explains, only after the metadata passed through. Live:
tests/test_metadata_live.py."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

from factories import NOW

from authlens.analyze import Analyzer, default_trackers
from authlens.model import Exchange, RequestView, ResponseView

AS = "https://login.example.test"
METADATA = {
    "issuer": AS, "authorization_endpoint": AS + "/oauth2/authorize",
    "token_endpoint": AS + "/oauth2/token", "jwks_uri": AS + "/jwks",
    "grant_types_supported": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    "code_challenge_methods_supported": ["S256"],
}
BASIC = "Basic " + base64.b64encode(b"app:app-secret").decode()
FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")


class Session:
    def __init__(self):
        self.analyzer = Analyzer(trackers=default_trackers())
        self.count = 0
        self.exchanges: dict[str, Exchange] = {}

    def send(self, method, url, status, headers=(), body=b"", response_headers=(),
             response_body=b""):
        self.count += 1
        flow = f"flow-{self.count}"
        ex = Exchange(RequestView(method, url, tuple(headers), body, timestamp=NOW + self.count),
                      ResponseView(status, tuple(response_headers), response_body,
                                   timestamp=NOW + self.count + 0.01), id=flow, client="10.0.0.1")
        self.exchanges[flow] = ex
        return self.analyzer.analyze(ex)

    def metadata(self, **changes):
        body = json.dumps({**METADATA, **changes}).encode()
        return self.send("GET", AS + "/.well-known/openid-configuration", 200,
                         response_headers=[JSON], response_body=body)

    def token(self, form, status=200, answer=None, url=AS + "/oauth2/token", basic=True,
              response_headers=(JSON,)):
        headers = [FORM, *((("Authorization", BASIC),) if basic else ())]
        answer = answer if answer is not None else {"access_token": "at-" + "1" * 30,
                                                    "token_type": "Bearer", "expires_in": 3600}
        body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return self.send("POST", url, status, headers=headers, body=urlencode(form).encode(),
                         response_headers=response_headers, response_body=body)


CODE = {"grant_type": "authorization_code", "code": "c0de",
        "redirect_uri": "https://app.example.test/cb", "code_verifier": "v" * 43}


def _mismatch(d):
    return next(f for f in d.findings if f.id == "oauth-metadata-mismatch")


def test_grant_not_supported_explains_unsupported_grant_type():
    s = Session()
    s.metadata()
    d = s.token({"grant_type": "password", "username": "ana", "password": "pw"}, 400,
                {"error": "unsupported_grant_type"})
    assert (d.verdict, d.cause) == ("authentication", "oauth-metadata-mismatch")
    assert "grant_type 'password'" in d.cause_finding.message
    assert "['authorization_code', 'refresh_token']" in d.cause_finding.message
    assert "oauth-invalid-request" in [f.id for f in d.findings]  # outranked: it explains it
    assert ("metadata", "flow-1") == d.cause_finding.links[0][:2]


def test_client_secret_in_the_form_where_only_basic_is_taken():
    s = Session()
    s.metadata()
    d = s.token({**CODE, "client_id": "app", "client_secret": "app-secret"}, 401,
                {"error": "invalid_client"}, basic=False)
    assert (d.verdict, d.cause) == ("authentication", "oauth-metadata-mismatch")
    message = d.cause_finding.message
    assert "client_secret_post" in message and "client_secret_basic" in message
    assert "Authorization: Basic" in message
    assert dict(d.cause_finding.evidence)["field"] == "token_endpoint_auth_methods_supported"


def test_guessed_token_path_answered_404():
    s = Session()
    s.metadata()
    d = s.token(CODE, 404, b"Not Found", url=AS + "/token",
                response_headers=[("Content-Type", "text/plain")])
    assert (d.verdict, d.cause) == ("authentication", "oauth-metadata-mismatch")
    assert f"went to {AS}/token" in d.cause_finding.message
    assert f"token_endpoint is '{AS}/oauth2/token'" in d.cause_finding.message


def test_pkce_plain_refused_where_only_s256_is_supported():
    s = Session()
    s.metadata()
    query = urlencode({"response_type": "code", "client_id": "app", "state": "s",
                       "redirect_uri": "https://app.example.test/cb", "code_challenge": "x" * 43,
                       "code_challenge_method": "plain"})
    d = s.send("GET", AS + "/oauth2/authorize?" + query, 302, response_headers=[(
        "Location", "https://app.example.test/cb?error=invalid_request&state=s")])
    assert (d.verdict, d.cause) == ("authentication", "oauth-metadata-mismatch")
    assert "PKCE method 'plain'" in d.cause_finding.message and "S256" in \
        d.cause_finding.message
    accepted = s.send("GET", AS + "/oauth2/authorize?" + query, 302, response_headers=[(
        "Location", "https://app.example.test/cb?code=abc&state=s")])
    assert accepted.findings == []  # the server took it after all: nothing to say


def test_success_says_nothing_whatever_the_metadata_says():
    s = Session()
    s.metadata()
    ok = s.token({"grant_type": "client_credentials", "client_id": "app",
                  "client_secret": "app-secret"}, basic=False)
    assert ok.findings == [] and ok.verdict is None
    elsewhere = s.token(CODE, url=AS + "/token")  # an alias that works
    assert "oauth-metadata-mismatch" not in [f.id for f in elsewhere.findings]
    assert elsewhere.verdict is None


def test_unrelated_errors_are_not_blamed_on_the_metadata():
    s = Session()
    s.metadata()
    expired = s.token({"grant_type": "password"}, 400, {"error": "invalid_grant"})
    assert "oauth-metadata-mismatch" not in [f.id for f in expired.findings]
    other_path = s.token(CODE, 400, {"error": "invalid_grant"}, url=AS + "/token")
    assert other_path.cause == "oauth-invalid-grant"  # an OAuth error: a token endpoint too


def test_nothing_without_the_metadata_in_the_traffic():
    s = Session()
    d = s.token({"grant_type": "password"}, 400, {"error": "unsupported_grant_type"})
    assert "oauth-metadata-mismatch" not in [f.id for f in d.findings]
    listed_nothing = Session()
    listed_nothing.metadata(grant_types_supported=[], token_endpoint_auth_methods_supported=[])
    d = listed_nothing.token({"grant_type": "password", "client_secret": "x"}, 400,
                             {"error": "unsupported_grant_type"}, basic=False)
    assert "oauth-metadata-mismatch" not in [f.id for f in d.findings]


def test_replay_and_rerun_give_the_same_findings():
    s = Session()
    s.metadata()
    first = s.token({"grant_type": "password"}, 400, {"error": "unsupported_grant_type"})
    again = s.analyzer.analyze(s.exchanges["flow-2"])
    assert again.findings == first.findings
    rerun = Session()  # -nr: a fresh process over the same flows
    for ex in s.exchanges.values():
        last = rerun.analyzer.analyze(ex)
    assert last.findings == first.findings
