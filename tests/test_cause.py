"""The cause: each sample capture's story, the precedence between competing findings, the
server's phrases and vendor codes (true and false positives), and the specific bugs of issue 23."""

from __future__ import annotations

import base64
import json

import pytest
from capture_helpers import CAPTURES
from factories import NOW, diagnose, exchange, ids, mint

from authlens import capture, catalog, scopes
from authlens.analyze import GENERIC, PRECEDENCE, RANK, Analyzer, cause_key, default_trackers
from authlens.model import Finding
from authlens.render import text

AUTHN, AUTHZ = "authentication", "authorization"
KEY, NO_ENTRY, WARN = ":key:", ":no_entry:", ":warning:"

# capture -> (method, status, verdict, cause, marker) of each refused flow, in order
STORIES = {
    "expired_token": [("GET", 401, AUTHN, "token-expired", KEY)],
    "quoted_header": [("GET", 401, AUTHN, "credential-quoted", WARN)],
    "missing_bearer": [("GET", 401, AUTHN, "scheme-missing", WARN)],
    "placeholder": [("GET", 401, AUTHN, "credential-placeholder", WARN)],
    "wrong_audience": [("GET", 401, AUTHN, "token-audience-mismatch", KEY)],
    "wrong_environment": [("GET", 401, AUTHN, "token-issuer-mismatch", KEY)],
    "insufficient_scope": [("POST", 403, AUTHZ, "token-scope-missing", NO_ENTRY)],
    "role_missing": [("GET", 403, AUTHZ, "token-scope-missing", NO_ENTRY)],
    "refresh_stale_token": [("GET", 401, AUTHN, "token-expired", KEY),
                            ("GET", 401, AUTHN, "token-stale", KEY)],
    "api_key_in_query": [("GET", 401, AUTHN, "apikey-wrong-place", WARN)],
    "healthy": [],
}


def story(name: str) -> list[dict]:
    analyzer = Analyzer(trackers=default_trackers())
    return [analyzer.analyze(e).to_dict() for e in capture.exchanges(str(CAPTURES / f"{name}.flow"))]


@pytest.mark.parametrize("name", sorted(STORIES))
def test_capture_story_cause(name):
    flows = story(name)
    refused = [(d["method"], d["status"], d["verdict"], d["cause"], text.marker(d))
               for d in flows if d["verdict"]]
    assert refused == STORIES[name]
    json.dumps(flows)  # the verdict enum is stored as its plain string
    assert all(type(d["verdict"]) in (str, type(None)) for d in flows)


def test_capture_messages_say_the_story():
    by_cause = {d["cause"]: d for name in STORIES for d in story(name) if d["cause"]}
    assert "api://billing" in by_cause["token-audience-mismatch"]["summary"]
    assert "login.staging.example.test" in by_cause["token-issuer-mismatch"]["summary"]
    assert "role 'admin'" in by_cause["token-scope-missing"]["summary"] or \
        "orders:write" in by_cause["token-scope-missing"]["summary"]
    assert "X-API-Key" in by_cause["apikey-wrong-place"]["summary"]
    assert "refresh" in by_cause["token-stale"]["summary"]
    role = [d for d in story("role_missing") if d["verdict"]][0]
    assert "lacks role 'admin'" in role["summary"] and "reader" in role["summary"]


# ---- the precedence table -------------------------------------------------------------------

# (winner, loser, why): each pair seen competing on one refused call
PAIRS = [
    ("credential-placeholder", "challenge-invalid-token", "a definite defect beats the server's generic code"),
    ("apikey-wrong-place", "credential-missing", "the key was sent, in the wrong place"),
    ("apikey-wrong-place", "error-in-body", "a definite defect beats the server's words"),
    ("credential-dropped-on-redirect", "credential-missing", "it says why the credential is missing"),
    ("route-not-found", "credential-missing", "no such route: the credential is irrelevant"),
    ("token-audience-mismatch", "challenge-invalid-token", "the server's specific words beat its code"),
    ("token-audience-mismatch", "error-in-body", "a mapped statement beats the generic finding"),
    ("token-issuer-mismatch", "error-in-body", "a mapped statement beats the generic finding"),
    ("token-stale", "token-expired", "staleness explains the expiry: a newer token existed"),
    ("token-expired", "challenge-invalid-token", "the token's fact beats the generic code"),
    ("credential-invalid", "scheme-unexpected", "servers take schemes they do not advertise"),
    ("token-scope-missing", "challenge-insufficient-scope", "names which scope the token lacks"),
    ("token-scope-missing", "error-in-body", "a mapped statement beats the generic finding"),
    ("scheme-unexpected", "challenge-invalid-token", "a definite defect beats a generic code"),
    ("scheme-unexpected", "token-lifetime-pattern", "a warning never outranks an error"),
    ("challenge-invalid-token", "token-lifetime-pattern", "a warning never outranks an error"),
    ("credential-missing", "status-unauthorized", "the bare status is the last resort"),
    ("error-in-body", "status-forbidden", "the server's words beat the bare status"),
    ("vendor-error", "error-in-body", "a code the rule maps beats an unmapped one"),
    ("oauth-invalid-grant", "error-in-body", "RFC 6749 §5.2 code beats the generic finding"),
]


def _finding(finding_id: str) -> Finding:
    verdict = None if catalog.get(finding_id).verdict else "unknown"  # route-not-found sets it
    return Finding(finding_id, finding_id, verdict=verdict)


@pytest.mark.parametrize(("winner", "loser", "why"), PAIRS, ids=[f"{w}>{lo}" for w, lo, _ in PAIRS])
def test_precedence_pair(winner, loser, why):
    assert cause_key(_finding(winner)) < cause_key(_finding(loser)), why
    for order in ([winner, loser], [loser, winner]):  # not list position
        found = [_finding(i) for i in order]
        assert min((f for f in found if f.effective_verdict), key=cause_key).id == winner


def test_precedence_lists_every_finding_that_can_be_a_cause_once():
    listed = [i for _tier, group in PRECEDENCE for i in group]
    assert len(listed) == len(set(listed))
    assert set(listed) <= set(catalog.CATALOG)
    can_explain = {e.id for e in catalog.CATALOG.values() if e.verdict} | {"route-not-found",
                                                                          "oauth-invalid-request"}
    assert can_explain <= set(listed), can_explain - set(listed)


def test_generic_findings_rank_last():
    generic = dict(PRECEDENCE)[GENERIC]
    assert min(RANK[g] for g in generic) > max(RANK[i] for t, group in PRECEDENCE
                                                 if t != GENERIC for i in group)


def test_generic_cause_quotes_the_server():
    d = diagnose(exchange(f"Bearer {mint()}", 403, url="https://api.example.test/x",
                          response_body=b'{"message": "tenant frozen by ops"}'))
    assert d.cause == "error-in-body"
    assert "The server said: 'tenant frozen by ops'" in d.summary
    assert d.cause_finding.to_dict()["fix"].endswith("The server said: 'tenant frozen by ops'.")


# ---- the server's phrases: true and false positives -------------------------------------------

def challenge(description: str, error: str = "invalid_token") -> tuple:
    return (("WWW-Authenticate", f'Bearer realm="api", error="{error}", '
                                 f'error_description="{description}"'),)


PHRASES = [
    ("The audience is invalid", {"aud": "api://billing"}, "token-audience-mismatch", "api://billing"),
    ("Invalid audience", {}, "token-audience-mismatch", "api://orders"),
    ("The issuer is not trusted", {"iss": "https://login.staging.example.test/t"},
     "token-issuer-mismatch", "login.staging.example.test"),
    ("Signature verification failed", {}, "token-signature-invalid", "Signature"),
    ("The access token expired", {}, "token-expired", "exp was"),
    ("Lifetime validation failed, the token is expired.", {}, "token-expired", "Lifetime"),
    ("Token has been revoked", {}, "token-revoked", "revoked"),
    ("The token is not active", {}, "token-revoked", "not active"),
    ("jwt expired", {}, "token-expired", "jwt expired"),
    ("token_expired", {}, "token-expired", "token_expired"),
    ("jwt audience invalid. expected: api://orders2", {}, "token-audience-mismatch", "api://orders"),
    ("jwt issuer invalid. expected: https://login.example.test/b", {}, "token-issuer-mismatch", "tenant-a"),
    ("invalid signature", {}, "token-signature-invalid", "invalid signature"),
    ("jwt not active", {"nbf": NOW + 600}, "token-not-yet-valid", "clock is off"),
    ("Token is not active", {"exp": NOW - 3600}, "token-expired", "expired"),
    ("The API key is invalid", {}, "credential-invalid", "API key"),
    ("Invalid username or password", {}, "credential-invalid", "password"),
    ("jwt malformed", {}, "token-malformed", "jwt malformed"),
]


@pytest.mark.parametrize(("said", "claims", "cause", "shown"), PHRASES, ids=[p[0] for p in PHRASES])
def test_challenge_description_names_the_cause(said, claims, cause, shown):
    d = diagnose(exchange(f"Bearer {mint(**claims)}", 401, response_headers=challenge(said)))
    assert (d.verdict, d.cause) == (AUTHN, cause), d.summary
    assert shown in d.summary


def test_expired_inside_the_leeway_is_expired_when_the_server_says_so():
    token = mint(issued=NOW - 3630, lifetime=3600)  # exp 30 s before sending: inside 60 s leeway
    d = diagnose(exchange(f"Bearer {token}", 401, response_headers=challenge("The token expired")))
    assert d.cause == "token-expired" and "exp was 30 s before" in d.summary


@pytest.mark.parametrize("body", [
    {"error": "forbidden", "error_description": "role 'admin' is required"},
    {"message": "User requires role \"admin\""},
    {"detail": "Required role 'admin' not present", "title": "Forbidden", "status": 403},
])
def test_role_required_is_confirmed_against_the_token(body):
    d = diagnose(exchange(f"Bearer {mint(roles=['reader'])}", 403,
                          response_body=json.dumps(body).encode()))
    assert (d.verdict, d.cause) == (AUTHZ, "token-scope-missing"), d.summary
    assert "admin" in d.summary and "reader" in d.summary


def test_missing_header_statement_finds_the_key_elsewhere():
    d = diagnose(exchange(None, 401, url="https://api.example.test/r?api_key=k-123456789",
                          response_body=b'{"message": "missing X-API-Key header"}'))
    assert d.cause == "apikey-wrong-place" and "X-API-Key" in d.summary


@pytest.mark.parametrize(("status", "body"), [
    (200, b'{"message": "audience api://orders, scope orders:read"}'),  # healthy: no error
    (404, b'{"message": "the token expired page does not exist"}'),      # not a refusal
    (401, b'{"message": "Please sign in"}'),                              # nothing to map
    (403, b'{"message": "monthly quota exhausted"}'),
])
def test_phrases_raise_no_false_alarm(status, body):
    d = diagnose(exchange(f"Bearer {mint()}", status, response_body=body))
    specific = {"token-audience-mismatch", "token-expired", "token-issuer-mismatch",
                "token-revoked", "token-scope-missing", "credential-invalid"}
    assert not specific & set(ids(d)), d.summary
    if status < 400:
        assert d.verdict is None


@pytest.mark.parametrize("body", [
    {"errorCode": "E0000011", "errorSummary": "Invalid token provided"},               # Okta
    {"detail": "Given token not valid for any token type", "code": "token_not_valid"},  # DRF
    {"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"},           # Auth0
])
def test_framework_bodies_name_an_invalid_credential(body):
    d = diagnose(exchange("Bearer opaque-token-123456", 401, response_body=json.dumps(body).encode()))
    assert (d.verdict, d.cause) == (AUTHN, "credential-invalid"), d.summary


@pytest.mark.parametrize("said", ["You don't have permission to access this project",
                                  "Operation not permitted for this account"])
def test_permission_words_on_a_403(said):
    d = diagnose(exchange(f"Bearer {mint()}", 403, response_body=json.dumps({"message": said}).encode()))
    assert (d.verdict, d.cause) == (AUTHZ, "permission-missing"), d.summary


def test_permission_words_on_a_401_are_not_authorization():
    d = diagnose(exchange(f"Bearer {mint()}", 401,
                          response_body=b'{"message": "access denied"}'))
    assert d.verdict == AUTHN and d.cause != "permission-missing"


# ---- vendor code families -----------------------------------------------------------------

VENDOR = [
    ("https://graph.microsoft.com/v1.0/me", 401,
     {"error": {"code": "InvalidAuthenticationTokenAudience", "message": "wrong audience"}},
     "token-audience-mismatch"),
    ("https://management.azure.com/x", 403,
     {"error": {"code": "AuthorizationFailed", "message": "no role assignment"}}, "permission-missing"),
    ("https://www.googleapis.com/x", 403,
     {"error": {"code": 403, "message": "m", "status": "PERMISSION_DENIED",
                "details": [{"reason": "SERVICE_DISABLED"}]}}, "api-access-not-configured"),
    ("https://api.github.com/user", 401, {"message": "Bad credentials"}, "credential-invalid"),
    ("https://slack.com/api/x", 200, {"ok": False, "error": "token_revoked"}, "token-revoked"),
    ("https://slack.com/api/x", 200, {"ok": False, "error": "missing_scope"}, "token-scope-missing"),
    ("https://api.stripe.com/v1/x", 401,
     {"error": {"message": "Invalid API Key provided: sk_test_***", "type": "invalid_request_error"}},
     "credential-invalid"),
    ("https://api.stripe.com/v1/x", 403,
     {"error": {"message": "no", "type": "invalid_request_error", "code": "permission_error"}},
     "permission-missing"),
]


@pytest.mark.parametrize(("url", "status", "body", "cause"), VENDOR, ids=[v[3] + ":" + v[0] for v in VENDOR])
def test_vendor_code_maps_to_a_specific_cause(url, status, body, cause):
    d = diagnose(exchange("Bearer opaque-token-123456", status, url=url,
                          response_body=json.dumps(body).encode()))
    assert d.cause == cause, d.summary
    assert d.verdict == catalog.get(cause).verdict


def test_unmapped_vendor_code_stays_generic():
    d = diagnose(exchange("Bearer opaque-token-123456", 403, url="https://graph.microsoft.com/x",
                          response_body=b'{"error": {"code": "SomethingNew", "message": "Nope"}}'))
    assert d.cause == "error-in-body"


def test_vendor_code_on_a_healthy_call_says_nothing():
    d = diagnose(exchange("Bearer opaque-token-123456", 200, url="https://slack.com/api/x",
                          response_body=b'{"ok": true, "error": "invalid_auth_not_really"}'))
    assert d.verdict is None


# ---- the specific bugs -------------------------------------------------------------------

def test_basic_password_with_trailing_newline():
    value = base64.b64encode(b"user:pass\n").decode()  # echo user:pass | base64
    d = diagnose(exchange(f"Basic {value}", 401, response_headers=(("WWW-Authenticate", "Basic"),)))
    assert d.cause == "basic-malformed" and "newline" in d.summary
    good = base64.b64encode(b"user:pass").decode()
    assert "basic-malformed" not in ids(diagnose(exchange(f"Basic {good}", 401)))


def test_tolerated_token_char_is_a_warning_never_the_cause():
    d = diagnose(exchange("Bearer abc!def123", 403, response_body=b'{"message": "nope"}'))
    assert "credential-unusual-char" in ids(d) and "credential-malformed" not in ids(d)
    assert d.cause != "credential-unusual-char" and d.verdict == AUTHZ
    assert "credential-malformed" in ids(diagnose(exchange("Bearer token=abc", 401)))


def test_400_with_a_definite_credential_defect_gets_a_verdict():
    d = diagnose(exchange("Bearer {{access_token}}", 400, response_body=b"bad request"))
    assert (d.verdict, d.cause) == (AUTHN, "credential-placeholder")
    assert diagnose(exchange(f"Bearer {mint()}", 400, response_body=b"bad field")).verdict is None


def test_200_that_says_auth_failed_without_a_credential():
    d = diagnose(exchange(None, 200, url="https://slack.com/api/auth.test",
                          response_body=b'{"ok": false, "error": "not_authed"}'))
    assert (d.verdict, d.cause) == (AUTHN, "credential-missing")


def test_lifetime_pattern_never_outranks_an_error():
    analyzer = Analyzer(trackers=default_trackers())
    d = None
    for i in range(4):  # four tokens, each refused 10 minutes after issue
        issued = NOW + i * 1000
        token = mint(issued=issued, lifetime=36000)
        d = analyzer.analyze(exchange(f"Bearer {token}", 401, sent=issued + 600,
                                      response_headers=challenge("nope")))
    assert "token-lifetime-pattern" in ids(d)
    assert d.cause == "challenge-invalid-token"


def test_lifetime_pattern_is_per_port():
    analyzer = Analyzer(trackers=default_trackers())
    found = []
    for i in range(4):
        issued = NOW + i * 1000
        url = f"http://127.0.0.1:{8101 + i}/x"  # four services on one host
        d = analyzer.analyze(exchange(f"Bearer {mint(issued=issued, lifetime=36000)}", 401,
                                      url=url, sent=issued + 600))
        found.extend(ids(d))
    assert "token-lifetime-pattern" not in found


def test_one_scopes_module_decides_coverage():
    assert scopes.covers("repo", "public_repo") and scopes.covers("repo", "repo:status")
    assert scopes.covers("admin:org", "read:org") and scopes.covers("user", "user:email")
    assert not scopes.covers("public_repo", "repo") and not scopes.covers("read:org", "admin:org")
    assert scopes.missing(["repo", "public_repo"], ["public_repo"], any_of=True) == []
    assert scopes.missing(["repo"], ["read:user"], any_of=True) == ["repo"]
    d = diagnose(exchange("Bearer ghp_x1234567890", 404, url="https://api.github.com/repos/o/r",
                          response_headers=(("X-OAuth-Scopes", "repo"),
                                            ("X-Accepted-OAuth-Scopes", "public_repo"))))
    assert "token-scope-missing" not in ids(d)
    assert "missing_scopes" not in dict(next(f for f in d.findings if f.id == "status-hidden-404").evidence)


def test_a_finding_is_reported_once_per_flow():
    d = diagnose(exchange(f"Bearer {mint(aud='api://billing')}", 401,
                          response_headers=challenge("The audience is invalid"),
                          response_body=b'{"error": "x", "message": "The audience is invalid"}'))
    assert ids(d).count("token-audience-mismatch") == 1


def test_rule_host_with_a_port_matches_that_port_only():
    from authlens.rules import RuleSet, load_text
    loaded = load_text('''
[[rule]]
name = "local orders"
hosts = ["127.0.0.1:8101"]
[[rule.credential]]
header = "X-API-Key"

[[rule]]
name = "any local"
hosts = ["127.0.0.1"]
''')
    assert not loaded.errors
    rules = RuleSet(loaded.rules)
    assert rules.match("127.0.0.1", "/x", "GET", 8101).name == "local orders"
    assert rules.match("127.0.0.1", "/x", "GET", 8102).name == "any local"
    assert rules.match("127.0.0.1:8101", "/x").name == "local orders"
    d = diagnose(exchange("Bearer abc", 401, url="http://127.0.0.1:8101/x"), rules=rules)
    assert d.cause == "apikey-wrong-place"


def test_generic_tier_is_the_catalogs_generic_entries():
    from authlens.analyze import GENERIC_IDS
    assert GENERIC_IDS == {e.id for e in catalog.CATALOG.values() if e.generic}


def test_catalog_cli_explains_an_id(capsys):
    from authlens.cli import main
    assert main(["catalog", "token-stale"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("token-stale (error, verdict authentication)")
    assert catalog.get("token-stale").explanation in out
    assert main(["catalog", "no-such-id"]) == 2


def test_explain_shows_the_causes_explanation():
    d = story("wrong_audience")[-1]
    assert f"why: {catalog.get('token-audience-mismatch').explanation}" in text.explain(d)


def test_docs_precedence_table_is_in_step():
    from pathlib import Path

    from authlens.analyze import precedence_markdown
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cause.md").read_text("utf-8")
    block = doc.split("<!-- precedence:start -->\n", 1)[1].split("<!-- precedence:end -->", 1)[0]
    assert block.strip() == precedence_markdown()


def test_an_edited_copy_of_the_newest_token_is_not_stale():
    """A tampered token carries the iat of the token just issued: not older, so not stale."""
    from authlens.model import Exchange as Ex
    from authlens.model import RequestView, ResponseView
    analyzer = Analyzer(trackers=default_trackers())
    issued = mint(issued=NOW - 1, aud="api://orders", client_id="cli")
    body = json.dumps({"access_token": issued, "token_type": "Bearer", "expires_in": 3600}).encode()
    grant = Ex(RequestView("POST", "https://login.example.test/token",
                           (("Content-Type", "application/x-www-form-urlencoded"),),
                           b"grant_type=client_credentials&client_id=cli&client_secret=s",
                           timestamp=NOW - 1),
               ResponseView(200, (("Content-Type", "application/json"),), body, timestamp=NOW - 0.5),
               id="grant", client="127.0.0.1")
    analyzer.analyze(grant)
    head, payload, sig = issued.split(".")
    edited = f"{head}.{payload}.{sig[:-4]}AAAA"
    d = analyzer.analyze(Ex(exchange(f"Bearer {edited}", 401).request,
                            exchange(f"Bearer {edited}", 401).response, id="use", client="127.0.0.1"))
    assert "token-stale" not in ids(d)
    older = mint(issued=NOW - 7200, lifetime=36000, aud="api://orders", client_id="cli")
    d = analyzer.analyze(Ex(exchange(f"Bearer {older}", 401).request,
                            exchange(f"Bearer {older}", 401).response, id="old", client="127.0.0.1"))
    assert d.cause == "token-stale"
