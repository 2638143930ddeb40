"""The MCP sign-in tracker (authlens.oauth.discovery) on neutral exchanges shaped like the MCP
Python SDK's traffic: the discovery 401 is a step, not a refusal; the metadata, the sign-in and the
token are judged against what the traffic said. Live: tests/test_mcp_live.py."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from factories import NOW, mint

from authlens.analyze import Analyzer, default_trackers
from authlens.model import Exchange, RequestView, ResponseView

MCP = "http://127.0.0.1:8001/mcp"
PRM = "http://127.0.0.1:8001/.well-known/oauth-protected-resource/mcp"
AS = "http://127.0.0.1:9000"
CHALLENGE = ('Bearer error="invalid_token", error_description="Authentication required", '
             f'resource_metadata="{PRM}"')


class Session:
    """One analyzer with the default trackers; ``send`` numbers the flows."""

    def __init__(self):
        self.analyzer = Analyzer(trackers=default_trackers())
        self.count = 0
        self.exchanges: dict[str, Exchange] = {}

    def send(self, method, url, status, *, headers=(), body=b"", response_headers=(),
             response_body=b"", client="10.0.0.1", flow=None):
        self.count += 1
        flow = flow or f"flow-{self.count}"
        ex = Exchange(RequestView(method, url, tuple(headers), body, timestamp=NOW + self.count),
                      ResponseView(status, tuple(response_headers), response_body,
                                   timestamp=NOW + self.count + 0.01), id=flow, client=client)
        self.exchanges[flow] = ex
        return self.analyzer.analyze(ex)

    def discovery_401(self, **kw):
        return self.send("POST", MCP, 401, response_headers=[("WWW-Authenticate", CHALLENGE)],
                         body=b'{"method":"server/discover"}', **kw)

    def metadata(self, resource=MCP, status=200, url=PRM):
        body = json.dumps({"resource": resource, "authorization_servers": [AS + "/"],
                           "scopes_supported": ["notes:read"],
                           "bearer_methods_supported": ["header"]})
        return self.send("GET", url, status, response_body=body.encode(),
                         response_headers=[("Content-Type", "application/json")])

    def server_metadata(self):
        body = json.dumps({"issuer": AS + "/", "authorization_endpoint": AS + "/authorize",
                           "token_endpoint": AS + "/token",
                           "grant_types_supported": ["authorization_code", "refresh_token"]})
        return self.send("GET", AS + "/.well-known/oauth-authorization-server", 200,
                         response_body=body.encode())

    def token(self, resource=MCP, aud=MCP, scope="notes:read", error=None):
        form = {"grant_type": "authorization_code", "code": "c0de", "client_id": "cli",
                "redirect_uri": "http://127.0.0.1:3030/callback", "code_verifier": "v" * 43}
        if resource:
            form["resource"] = resource
        access = mint(aud=aud, scope=scope, iss=AS + "/")
        answer = {"error": error} if error else {"access_token": access, "token_type": "Bearer",
                                                 "expires_in": 3600, "scope": scope,
                                                 "refresh_token": "r-" + scope}
        d = self.send("POST", AS + "/token", 400 if error else 200, body=urlencode(form).encode(),
                      headers=[("Content-Type", "application/x-www-form-urlencoded")],
                      response_body=json.dumps(answer).encode(),
                      response_headers=[("Content-Type", "application/json")])
        return d, access


def test_discovery_401_is_a_step_without_verdict_and_says_what_comes_next():
    s = Session()
    d = s.discovery_401()
    assert (d.verdict, d.cause) == (None, None)
    assert [f.id for f in d.findings] == ["discovery-challenge"]
    assert not d.noteworthy  # no marker, no alarm
    assert f"GET {PRM}" in d.findings[0].message and f"resource={MCP}" in d.findings[0].message


def test_healthy_sign_in_has_no_alarm_anywhere():
    s = Session()
    results = [s.discovery_401(), s.metadata(), s.server_metadata()]
    token_result, access = s.token()
    results.append(token_result)
    results.append(s.send("POST", MCP, 200, headers=[("Authorization", f"Bearer {access}")]))
    assert [r.verdict for r in results] == [None] * 5
    assert [r.noteworthy for r in results] == [False] * 5


def test_challenge_not_followed_names_the_next_step():
    s = Session()
    first = s.discovery_401()
    again = s.discovery_401()
    assert first.verdict is None
    assert (again.verdict, again.cause) == ("authentication", "discovery-not-followed")
    assert ("challenged-by", "flow-1") in {(link["relation"], link["flow"]) for link in again.links}
    assert f"GET {PRM}" in again.cause_finding.message


def test_following_resets_the_challenge():
    s = Session()
    s.discovery_401()
    s.metadata()
    assert s.discovery_401().verdict is None  # followed once: a new sign-in, another step


def test_metadata_404_at_the_challenge_url():
    s = Session()
    s.discovery_401()
    d = s.metadata(status=404)
    assert [f.id for f in d.findings] == ["resource-metadata-missing"]
    assert d.noteworthy and "answered 404" in d.findings[0].message
    assert ("challenged-by", "flow-1") in {(link["relation"], link["flow"]) for link in d.links}


def test_well_known_fallbacks_in_order_only_the_last_alarms():
    s = Session()
    path_based = s.metadata(status=404)  # no challenge named it: the root comes next
    assert path_based.findings == []
    root = s.metadata(status=404, url="http://127.0.0.1:8001/.well-known/oauth-protected-resource")
    assert [f.id for f in root.findings] == ["resource-metadata-missing"]


def test_metadata_not_json():
    s = Session()
    s.discovery_401()
    d = s.send("GET", PRM, 200, response_body=b"<html>login</html>")
    assert [f.id for f in d.findings] == ["resource-metadata-missing"]
    assert "no JSON" in d.findings[0].message or "JSON object" in d.findings[0].message


def test_metadata_resource_is_not_the_url_called():
    for resource, words in ((MCP + "/", "only a trailing slash differs"),
                            ("http://127.0.0.1:8001/other", "another path"),
                            ("https://mcp.example.test/mcp", "another host")):
        s = Session()
        s.discovery_401()
        d = s.metadata(resource=resource)
        assert [f.id for f in d.findings] == ["resource-metadata-missing"], resource
        assert words in d.findings[0].message and "RFC 9728 §3.3" in d.findings[0].message
    s = Session()
    s.discovery_401()
    assert s.metadata().findings == []


def test_token_request_without_resource_and_the_audience_it_causes():
    s = Session()
    s.discovery_401()
    s.metadata()
    s.server_metadata()
    issued, access = s.token(resource=None, aud=AS + "/")
    assert [f.id for f in issued.findings] == ["oauth-resource-missing"]
    assert issued.verdict is None
    refused = s.send("POST", MCP, 401, headers=[("Authorization", f"Bearer {access}")],
                     response_headers=[("WWW-Authenticate", CHALLENGE)])
    assert (refused.verdict, refused.cause) == ("authentication", "token-audience-mismatch")
    message = refused.cause_finding.message
    assert f"names resource {MCP}" in message and "sent no resource" in message
    assert {link["relation"] for link in refused.links} >= {"metadata", "issued-by"}


def test_authorization_request_without_resource():
    s = Session()
    s.discovery_401()
    s.metadata()
    d = s.send("GET", AS + "/authorize?" + urlencode({
        "response_type": "code", "client_id": "cli", "code_challenge": "x" * 43,
        "code_challenge_method": "S256", "redirect_uri": "http://127.0.0.1:3030/callback"}), 302)
    assert [f.id for f in d.findings] == ["oauth-resource-missing"]
    ok = s.send("GET", AS + "/authorize?" + urlencode({
        "response_type": "code", "client_id": "cli", "resource": MCP}), 302)
    assert ok.findings == []


def test_invalid_target():
    s = Session()
    s.discovery_401()
    s.metadata()
    d, _ = s.token(resource="http://127.0.0.1:8001/nope", error="invalid_target")
    assert (d.verdict, d.cause) == ("unknown", "oauth-invalid-target")


def test_scope_from_the_description():
    s = Session()
    s.discovery_401()
    s.metadata()
    _, access = s.token(scope="notes:write")
    d = s.send("POST", MCP, 403, headers=[("Authorization", f"Bearer {access}")],
               response_headers=[("WWW-Authenticate", 'Bearer error="insufficient_scope", '
                                  'error_description="Required scope: notes:read", '
                                  f'resource_metadata="{PRM}"')])
    assert (d.verdict, d.cause) == ("authorization", "token-scope-missing")
    assert "missing notes:read" in d.cause_finding.message
    assert "notes:write" in d.cause_finding.message


def test_replay_gives_the_same_findings_and_changes_nothing():
    s = Session()
    first = s.discovery_401()
    again = s.analyzer.analyze(s.exchanges["flow-1"])  # mitmdump -nr, a replay
    assert [f.id for f in again.findings] == [f.id for f in first.findings]
    assert s.discovery_401().cause == "discovery-not-followed"
    assert s.analyzer.analyze(s.exchanges["flow-2"]).cause == "discovery-not-followed"


def test_memory_is_bounded():
    from authlens.oauth.discovery import DiscoveryTracker
    tracker = DiscoveryTracker(limit=8, max_flows=16)
    analyzer = Analyzer(trackers=[tracker])
    for i in range(100):
        analyzer.analyze(Exchange(
            RequestView("POST", f"http://127.0.0.1:8001/mcp{i}", (), timestamp=NOW + i),
            ResponseView(401, (("WWW-Authenticate", CHALLENGE),)), id=f"f{i}", client=str(i)))
    assert len(tracker.challenges) <= 8 and len(tracker.flows) <= 16


def test_plain_401_without_resource_metadata_is_untouched():
    s = Session()
    d = s.send("GET", "https://api.example.test/v1", 401,
               response_headers=[("WWW-Authenticate", 'Bearer realm="api"')])
    assert d.cause == "credential-missing"


# ---- keys from traffic ---------------------------------------------------------------------

def _rsa(kid: str):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return key, {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def _signed(key, kid, **claims):
    import jwt
    return jwt.encode({"iss": AS + "/", "aud": MCP, "scope": "notes:read", "iat": int(NOW),
                       "exp": int(NOW) + 3600, **claims}, key, algorithm="RS256",
                      headers={"kid": kid})


def test_jwks_in_traffic_verifies_tokens_of_its_issuer():
    key, jwk = _rsa("k1")
    rotated, _ = _rsa("k2")
    s = Session()
    body = json.dumps({"issuer": AS + "/", "token_endpoint": AS + "/token",
                       "jwks_uri": AS + "/jwks"})
    s.send("GET", AS + "/.well-known/oauth-authorization-server", 200,
           response_body=body.encode())
    keys = s.send("GET", AS + "/jwks", 200, response_body=json.dumps({"keys": [jwk]}).encode())
    assert keys.findings == []

    def call(token):
        return s.send("POST", MCP, 401, headers=[("Authorization", f"Bearer {token}")],
                      response_headers=[("WWW-Authenticate", CHALLENGE)])

    good = call(_signed(key, "k1"))
    assert "token-kid-unknown" not in [f.id for f in good.findings]
    assert "token-signature-invalid" not in [f.id for f in good.findings]
    unknown = call(_signed(rotated, "k2"))
    assert (unknown.verdict, unknown.cause) == ("authentication", "token-kid-unknown")
    assert "'k2'" in unknown.cause_finding.message and "key ids: k1" in \
        unknown.cause_finding.message
    assert ("keys", "flow-2") in {(link["relation"], link["flow"]) for link in unknown.links}
    forged = call(_signed(rotated, "k1"))
    assert (forged.verdict, forged.cause) == ("authentication", "token-signature-invalid")


def test_jwks_without_metadata_belongs_to_its_origin():
    key, jwk = _rsa("k1")
    other, _ = _rsa("k1")
    s = Session()
    s.send("GET", AS + "/keys", 200, response_body=json.dumps({"keys": [jwk]}).encode())
    d = s.send("GET", "https://api.example.test/v1", 401,
               headers=[("Authorization", f"Bearer {_signed(other, 'k1')}")])
    assert d.cause == "token-signature-invalid"
    elsewhere = s.send("GET", "https://api.example.test/v1", 401, headers=[(
        "Authorization", f"Bearer {_signed(other, 'k1', iss='https://login.example.test/')}")])
    assert "token-signature-invalid" not in [f.id for f in elsewhere.findings]


def test_refresh_token_redeemed_twice_names_both_flows():
    s = Session()

    def refresh(token, answer):
        return s.send("POST", AS + "/token", 200 if "access_token" in answer else 400,
                      body=urlencode({"grant_type": "refresh_token", "refresh_token": token,
                                      "client_id": "cli"}).encode(),
                      response_body=json.dumps(answer).encode())

    first = refresh("r-1", {"access_token": "a-2", "refresh_token": "r-2", "expires_in": 60})
    assert first.findings == []
    again = refresh("r-1", {"error": "invalid_grant"})
    assert (again.verdict, again.cause) == ("authentication", "refresh-token-reused")
    assert ("redeemed-by", "flow-1") in {(link["relation"], link["flow"]) for link in again.links}
    assert "got invalid_grant" in again.cause_finding.message
    assert "new refresh token" in again.cause_finding.message
    assert refresh("r-2", {"access_token": "a-3", "refresh_token": "r-3"}).verdict is None
    replay = s.analyzer.analyze(s.exchanges["flow-1"])
    assert replay.findings == []  # a replay of the first redemption is not a reuse


def test_clock_skew_names_whose_clock():
    from email.utils import formatdate
    s = Session()

    def call(token, date):
        return s.send("GET", "https://api.example.test/v1", 401,
                      headers=[("Authorization", f"Bearer {token}")],
                      response_headers=[("Date", formatdate(date, usegmt=True)),
                                        ("WWW-Authenticate", 'Bearer error="invalid_token"')])

    ahead = call(mint(issued=NOW + 600), NOW + 1)  # both clocks agree; the token is ahead
    assert (ahead.verdict, ahead.cause) == ("authentication", "clock-skew")
    assert "issuer" in ahead.cause_finding.message and "10 min ahead" in \
        ahead.cause_finding.message
    assert "token-not-yet-valid" in [f.id for f in ahead.findings]
    server_ahead = call(mint(issued=NOW - 60, lifetime=300), NOW + 3 + 900)
    assert server_ahead.cause == "clock-skew"
    assert "server's clock" in server_ahead.cause_finding.message and "expired" in \
        server_ahead.cause_finding.message
    fine = call(mint(issued=NOW - 60), NOW + 4)
    assert "clock-skew" not in [f.id for f in fine.findings]
    expired = call(mint(issued=NOW - 7200), NOW + 5)  # plainly expired by both clocks
    assert expired.cause == "token-expired"
    server_behind = call(mint(issued=NOW + 6, nbf=int(NOW + 6)), NOW + 6 - 600)
    assert server_behind.cause == "clock-skew"  # a fresh token, a server 10 min behind
    assert "10 min behind the proxy's" in server_behind.cause_finding.message
    assert "not yet valid" in server_behind.cause_finding.message
    assert "The server's clock is off." in server_behind.cause_finding.message


# ---- DPoP ----------------------------------------------------------------------------------

def _proof(key, method, url, token=None, iat=None, nonce=None, typ="dpop+jwt"):
    import base64
    import hashlib

    import jwt
    from jwt.algorithms import ECAlgorithm
    claims = {"htm": method, "htu": url, "iat": int(NOW if iat is None else iat), "jti": "j1"}
    if token:
        claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()
                                                 ).rstrip(b"=").decode()
    if nonce:
        claims["nonce"] = nonce
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": typ, "jwk": jwk})


def _ec():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def test_dpop_proof_checked_against_its_request():
    key, s = _ec(), Session()
    token = mint()
    invalid = [("WWW-Authenticate", 'DPoP error="invalid_dpop_proof"')]

    def call(proof, url=MCP + "?page=2", auth=token):
        return s.send("POST", url, 401, response_headers=invalid,
                      headers=[("Authorization", f"DPoP {auth}"), ("DPoP", proof)])

    good = call(_proof(key, "POST", MCP, token))
    assert "dpop-proof-mismatch" not in [f.id for f in good.findings]
    for proof, words in ((_proof(key, "GET", MCP, token), "htm is 'GET'"),
                         (_proof(key, "POST", MCP + "?page=2", token), "no query or fragment"),
                         (_proof(key, "POST", "https://public.example.test/mcp", token),
                          "htu is 'https://public.example.test/mcp'"),
                         (_proof(key, "POST", MCP, token, iat=NOW - 3600), "before the request"),
                         (_proof(key, "POST", MCP, "another-token"), "ath is not the hash"),
                         (_proof(key, "POST", MCP), "no ath"),
                         (_proof(key, "POST", MCP, token, typ="JWT"), "typ is 'JWT'")):
        d = call(proof)
        assert (d.verdict, d.cause) == ("authentication", "dpop-proof-mismatch"), words
        assert words in d.cause_finding.message, (words, d.cause_finding.message)


def test_dpop_nonce_loop():
    key, s = _ec(), Session()
    token = mint()

    def call(nonce=None, offered="n-1"):
        return s.send("GET", MCP, 401, headers=[("Authorization", f"DPoP {token}"), (
            "DPoP", _proof(key, "GET", MCP, token, iat=NOW + s.count, nonce=nonce))],
            response_headers=[("WWW-Authenticate", 'DPoP error="use_dpop_nonce"'),
                              ("DPoP-Nonce", offered)])

    first = call()
    assert first.cause == "challenge-dpop-nonce"  # the normal first round
    again = call()
    assert (again.verdict, again.cause) == ("authentication", "dpop-nonce-loop")
    assert "carries no nonce" in again.cause_finding.message
    assert ("nonce-asked-by", "flow-1") in {(link["relation"], link["flow"])
                                            for link in again.links}
    ok = s.send("GET", MCP, 200, headers=[("Authorization", f"DPoP {token}"), (
        "DPoP", _proof(key, "GET", MCP, token, iat=NOW + 3, nonce="n-1"))])
    assert ok.verdict is None and not ok.noteworthy


def test_server_metadata_issuer_must_be_the_server_named():
    s = Session()
    s.discovery_401()
    s.metadata()  # names AS + "/"
    body = json.dumps({"issuer": AS, "token_endpoint": AS + "/token"})
    d = s.send("GET", AS + "/.well-known/oauth-authorization-server", 200,
               response_body=body.encode())
    assert [f.id for f in d.findings] == ["server-metadata-issuer-mismatch"]
    assert "only a trailing slash differs" in d.findings[0].message
    assert d.verdict is None and d.noteworthy
    assert s.server_metadata().findings == []  # issuer AS + "/": the one named


def test_garbage_from_servers_and_clients_never_raises():
    s = Session()
    broken = "http://[::1"
    s.send("POST", MCP, 401, response_headers=[(
        "WWW-Authenticate", f'Bearer resource_metadata="{broken}"')])
    for body in ({"resource": broken, "authorization_servers": [broken, 3, None]},
                 {"resource": 7}, {"keys": "no"}, {"keys": [{"kty": "nope"}]},
                 {"issuer": broken, "jwks_uri": {"x": 1}}, ["not", "an", "object"]):
        for path in ("/.well-known/oauth-protected-resource/mcp",
                     "/.well-known/oauth-authorization-server", "/jwks"):
            s.send("GET", "http://127.0.0.1:8001" + path, 200,
                   response_body=json.dumps(body).encode())
    d = s.send("POST", MCP, 401, headers=[("Authorization", f"DPoP {mint()}"),
                                          ("DPoP", _proof(_ec(), "POST", broken))],
               response_headers=[("WWW-Authenticate", 'DPoP error="use_dpop_nonce"')])
    assert "dpop-proof-mismatch" in [f.id for f in d.findings]
    s.send("POST", AS + "/token", 200, body=b"grant_type=refresh_token&refresh_token=",
           response_body=b"{")


def test_describe_knows_the_step_without_the_trackers():
    s = Session()
    s.discovery_401()
    looked_at = s.analyzer.describe(s.exchanges["flow-1"])  # mitmweb's detail view
    assert (looked_at.verdict, looked_at.cause) == (None, None)
    assert [f.id for f in looked_at.findings] == ["discovery-challenge"]
    again = s.discovery_401()
    assert "discovery-challenge" not in [f.id for f in again.findings]
