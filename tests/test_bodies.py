"""Vendor error bodies: right vendor, code and verdict; never raise; bounded."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.analyze import Analyzer
from authlens.model import Exchange, RequestView, ResponseView

AUTHN, AUTHZ = "authentication", "authorization"


def diagnose(status, body, url="https://api.example.com/x", headers=(), req_headers=(),
             method="GET", req_body=b""):
    if not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    ex = Exchange(RequestView(method, url, tuple(req_headers), req_body),
                  ResponseView(status, tuple(headers), bytes(body)))
    return Analyzer().analyze(ex)


def body_finding(d):
    return next((f for f in d.findings if f.id in ("error-in-body", "route-not-found")
                 or f.id.startswith("oauth-")), None)


BEARER = (("Authorization", "Bearer opaque-token-value-1234567890"),)


def test_graph_codes():
    d = diagnose(401, {"error": {"code": "InvalidAuthenticationToken", "message": "expired"}},
                 "https://graph.microsoft.com/v1.0/me", req_headers=BEARER)
    f = body_finding(d)
    assert "Microsoft Graph" in f.message and "InvalidAuthenticationToken" in f.message
    assert f.effective_verdict == AUTHN
    d = diagnose(403, {"error": {"code": "Authorization_RequestDenied", "message": "no"}},
                 "https://graph.microsoft.com/v1.0/users", req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHZ, "token-scope-missing")


def test_graph_authorization_code_on_a_401_is_authorization():
    d = diagnose(401, {"error": {"code": "Authorization_RequestDenied", "message": "x"}},
                 "https://graph.microsoft.com/v1.0/users", req_headers=BEARER)
    assert d.verdict == AUTHZ


def test_sharepoint_odata_verbose_and_odata_error():
    body = {"error": {"code": "-2147024891, System.UnauthorizedAccessException",
                      "message": {"lang": "en-US", "value": "Access denied."}}}
    d = diagnose(403, body, "https://contoso.sharepoint.com/_api/web", req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHZ, "permission-missing")
    assert "Access denied." in body_finding(d).message and "SharePoint" in body_finding(d).message
    d = diagnose(403, {"odata.error": {"code": "-2147024891, System.UnauthorizedAccessException",
                                       "message": {"lang": "en-US", "value": "Denied"}}},
                 "https://contoso.sharepoint.com/_api/web", req_headers=BEARER)
    assert d.verdict == AUTHZ and "Denied" in body_finding(d).message


def test_arm_codes():
    for code, verdict in (("InvalidAuthenticationTokenAudience", AUTHN),
                          ("AuthenticationFailed", AUTHN), ("AuthorizationFailed", AUTHZ)):
        d = diagnose(401 if verdict == AUTHN else 403, {"error": {"code": code, "message": "m"}},
                     "https://management.azure.com/subscriptions", req_headers=BEARER)
        assert d.verdict == verdict, code
        assert "Azure Resource Manager" in body_finding(d).message


def test_google_errorinfo_and_legacy():
    body = {"error": {"code": 403, "message": "m", "status": "PERMISSION_DENIED",
                      "details": [{"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}
    f = body_finding(diagnose(403, body, req_headers=BEARER))
    assert "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in f.message and f.effective_verdict == AUTHZ
    body = {"error": {"code": 401, "message": "m", "errors": [{"reason": "authError"}]}}
    assert body_finding(diagnose(401, body, req_headers=BEARER)).effective_verdict == AUTHN
    body = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
                      "details": [{"reason": "API_KEY_INVALID"}]}}
    d = diagnose(400, body)
    assert (d.verdict, d.cause) == (AUTHN, "credential-invalid")


def test_google_400_validation_error_is_not_a_refusal():
    body = {"error": {"code": 400, "message": "Invalid value", "status": "INVALID_ARGUMENT",
                      "details": [{"reason": "BAD_FIELD"}]}}
    d = diagnose(400, body, req_headers=BEARER)
    assert d.verdict is None and body_finding(d) is None


def test_github_messages_sso_and_scopes():
    url = "https://api.github.com/user"
    d = diagnose(401, {"message": "Bad credentials"}, url, req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHN, "credential-invalid")
    d = diagnose(403, {"message": "Resource not accessible by integration"}, url,
                 req_headers=BEARER)
    assert d.verdict == AUTHZ
    d = diagnose(403, {"message": "Resource protected by organization SAML enforcement."},
                 url, headers=[("X-GitHub-SSO", "required; url=https://github.com/orgs/o/sso")],
                 req_headers=BEARER)
    f = body_finding(d)
    assert dict(f.evidence)["url"] == "https://github.com/orgs/o/sso"
    d = diagnose(403, {"message": "API rate limit exceeded for user."}, url, req_headers=BEARER)
    assert d.verdict == "unknown" and d.cause == "error-in-body"


def test_slack_ok_false_on_200():
    d = diagnose(200, {"ok": False, "error": "invalid_auth"}, "https://slack.com/api/auth.test",
                 req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHN, "credential-invalid")
    d = diagnose(200, {"ok": False, "error": "missing_scope", "needed": "chat:write",
                       "provided": "channels:read"}, "https://slack.com/api/chat.postMessage",
                 req_headers=BEARER)
    assert d.verdict == AUTHZ and "chat:write" in body_finding(d).message
    d = diagnose(200, {"ok": False, "error": "channel_not_found"}, "https://slack.com/api/x",
                 req_headers=BEARER)
    assert d.verdict is None  # not an auth error
    d = diagnose(200, {"ok": True}, "https://slack.com/api/x", req_headers=BEARER)
    assert d.verdict is None
    # the error after other fields, past where the gate looks for "error": "ok" lets it through
    d = diagnose(200, {"ok": False, "warning": "superfluous_charset, missing_charset",
                       "error": "not_authed"}, "https://slack.com/api/x", req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHN, "error-in-body")


def test_stripe():
    body = {"error": {"type": "invalid_request_error",
                      "message": "Invalid API Key provided: sk_test_****Aso0"}}
    assert diagnose(401, body, "https://api.stripe.com/v1/x").verdict == AUTHN
    body = {"error": {"type": "invalid_request_error", "code": "resource_missing",
                      "message": "No such customer"}}
    assert diagnose(400, body, "https://api.stripe.com/v1/x").verdict is None


def test_aws_api_gateway():
    d = diagnose(403, {"message": "Missing Authentication Token"},
                 "https://abc.execute-api.us-west-2.amazonaws.com/api/typo",
                 headers=[("x-amzn-ErrorType", "MissingAuthenticationTokenException")])
    assert (d.verdict, d.cause) == ("unknown", "route-not-found")
    d = diagnose(401, {"message": "Unauthorized"},
                 "https://abc.execute-api.us-west-2.amazonaws.com/dev/items", req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHN, "error-in-body")
    d = diagnose(403, {"message": "Forbidden"}, headers=[("x-amzn-ErrorType",
                                                         "ForbiddenException:")],
                 req_headers=[("x-api-key", "k" * 40)])
    assert d.verdict == AUTHZ


def test_oauth_token_endpoint_errors():
    url = "https://login.example.com/oauth2/token"
    for code, cause, verdict in (("invalid_grant", "oauth-invalid-grant", AUTHN),
                                 ("invalid_client", "oauth-invalid-client", AUTHN),
                                 ("unauthorized_client", "oauth-unauthorized-client", AUTHZ),
                                 ("invalid_scope", "oauth-invalid-scope", AUTHZ),
                                 ("invalid_request", "oauth-invalid-request", "unknown")):
        d = diagnose(400, {"error": code}, url, method="POST")
        assert (d.verdict, d.cause) == (verdict, cause), code


def test_oauth_form_encoded_on_200_github_style():
    d = diagnose(200, b"error=bad_verification_code&error_description=The+code+is+wrong",
                 "https://github.com/login/oauth/access_token", method="POST")
    assert (d.verdict, d.cause) == (AUTHN, "oauth-invalid-grant")


def test_oauth_pending_is_not_a_failure():
    d = diagnose(400, {"error": "authorization_pending"}, "https://login.example.com/token",
                 method="POST")
    assert d.verdict is None


def test_aadsts_codes_decide_the_verdict():
    url = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    d = diagnose(400, {"error": "invalid_grant",
                       "error_description": "AADSTS50173: The provided grant has expired"}, url)
    assert (d.verdict, d.cause) == (AUTHN, "oauth-invalid-grant")
    assert "revoked" in body_finding(d).message
    d = diagnose(400, {"error": "invalid_grant", "error_description":
                       "AADSTS65001: The user or administrator has not consented"}, url)
    assert (d.verdict, d.cause) == (AUTHZ, "error-in-body")
    d = diagnose(400, {"error": "invalid_grant", "error_description": "AADSTS53003: blocked"}, url)
    assert d.verdict == AUTHZ
    d = diagnose(401, b"<html>Sign-in failed AADSTS700016: app not found</html>", url)
    assert "AADSTS700016" in body_finding(d).message


def test_problem_json():
    d = diagnose(403, {"type": "https://example.net/no-access", "title": "No access",
                       "detail": "Role missing"}, headers=[("Content-Type",
                                                            "application/problem+json")],
                 req_headers=BEARER)
    f = body_finding(d)
    assert "No access" in f.message and f.effective_verdict == AUTHZ


def test_hidden_404():
    d = diagnose(404, {"message": "Not Found"}, "https://api.github.com/repos/o/private",
                 req_headers=BEARER)
    assert (d.verdict, d.cause) == (AUTHZ, "status-hidden-404")
    d = diagnose(404, {"message": "Not Found"}, "https://api.github.com/repos/o/private")
    assert d.verdict is None  # no credential: nothing was hidden from it
    d = diagnose(404, b"Not Found", "https://shop.example.com/typo", req_headers=BEARER)
    assert d.verdict is None  # unknown API: a 404 is a 404
    d = diagnose(404, {"message": "Not Found"}, "https://api.github.com/repos/o/r",
                 headers=[("X-OAuth-Scopes", "repo"), ("X-Accepted-OAuth-Scopes", "repo")],
                 req_headers=BEARER)
    assert "missing_scopes" not in dict(body_finding(d) and body_finding(d).evidence or ())
    d = diagnose(404, b"{}", "https://other.example.com/api/x",
                 headers=[("X-OAuth-Scopes", "read:user"), ("X-Accepted-OAuth-Scopes", "repo")],
                 req_headers=BEARER)
    assert "status-hidden-404" in [f.id for f in d.findings]
    assert (d.verdict, d.cause) == (AUTHZ, "token-scope-missing")  # rules: names the scope


def test_successes_read_no_body():
    big = json.dumps({"error": {"code": "AccessDenied"}}).encode()
    assert diagnose(200, big, req_headers=BEARER).verdict is None
    assert diagnose(500, big, req_headers=BEARER).verdict is None


def test_no_secret_in_vendor_message():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    d = diagnose(401, {"error": {"code": "InvalidAuthenticationToken",
                                 "message": f"Token {token} is bad"}},
                 "https://graph.microsoft.com/v1.0/me", req_headers=[("Authorization",
                                                                     f"Bearer {token}")])
    assert all(token not in f.message for f in d.findings)


def test_garbage_bodies_never_raise():
    for body in (b"\xff\xfe\x00garbage", b"{" * 100_000, b"[" * 50_000, b"\x80" * 1000,
                 b'{"error": {"code": 5}}', b'{"error": null}', b"null", b"[]", b'"x"',
                 b'{"ok": false, "error": 3}', b"error=&&&==", b"{\"message\": [1]}",
                 b"x" * 5_000_000):
        for status in (200, 400, 401, 403, 404):
            diagnose(status, body, req_headers=BEARER)


def test_one_megabyte_body_is_quick():
    body = b'{"error":{"code":"' + b"A" * 1_000_000 + b'"}}'
    start = time.perf_counter()
    diagnose(401, body, req_headers=BEARER)
    diagnose(401, b"AADSTS" * 200_000, req_headers=BEARER)
    assert time.perf_counter() - start < 0.5


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([200, 400, 401, 403, 404, 407]))
def test_fuzz_binary_bodies(body, status):
    diagnose(status, body, req_headers=BEARER)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["error", "code", "message", "ok", "status", "details", "reason",
                         "errors", "type", "error_description", "odata.error", "title"]),
        children, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([200, 400, 401, 403, 404]),
       st.sampled_from(["https://graph.microsoft.com/v1.0/me", "https://api.github.com/repos/a/b",
                        "https://slack.com/api/x", "https://x.execute-api.us-east-1.amazonaws.com/",
                        "https://contoso.sharepoint.com/_api/web"]))
def test_fuzz_json_shapes(value, status, url):
    d = diagnose(status, json.dumps(value).encode(), url, req_headers=BEARER)
    json.dumps(d.to_dict())


SSO_SECRET = "AbCdEf0123456789secretvalue"
SSO_URL = f"https://github.com/orgs/acme/sso?authorization_request={SSO_SECRET}"


def test_github_sso_required_on_a_200_is_the_cause_with_the_url_redacted():
    """GitHub answers 200 (the org's data left out) when the token lacks SAML SSO authorization:
    a refusal all the same, read from the header on any host, presets in force or not."""
    d = diagnose(200, b"[]", "http://127.0.0.1:8080/user/repos", req_headers=BEARER,
                 headers=[("X-GitHub-SSO", f"required; url={SSO_URL}")])
    assert (d.verdict, d.cause) == (AUTHZ, "sso-not-authorized")
    cause = d.cause_finding
    assert "https://github.com/orgs/acme/sso?authorization_request=" in cause.message
    assert SSO_SECRET not in json.dumps(d.to_dict())
    assert cause.fix.startswith("Permissions: the token's owner authorizes it")
    assert "SAML single sign-on" in cause.entry.cite


def test_github_sso_url_is_shown_in_full_only_when_revealing():
    from authlens.analyze import Settings
    ex = Exchange(RequestView("GET", "https://api.github.com/user/repos", BEARER),
                  ResponseView(200, (("X-GitHub-SSO", f"required; url={SSO_URL}"),), b"[]"))
    d = Analyzer(Settings(reveal=True)).analyze(ex)
    assert d.cause == "sso-not-authorized" and SSO_URL in d.cause_finding.message


def test_github_sso_partial_results_is_a_warning_not_a_refusal():
    d = diagnose(200, b"[]", "https://api.github.com/user/repos", req_headers=BEARER,
                 headers=[("X-GitHub-SSO", "partial-results; organizations=123,456")])
    assert (d.verdict, d.cause) == (None, None) and d.noteworthy
    f = next(f for f in d.findings if f.id == "sso-partial-results")
    assert f.severity == "warning" and f.effective_verdict is None
    assert "123,456" in f.message
    assert not [f for f in d.findings if f.severity == "error"]


def test_github_sso_header_on_a_403_names_sso():
    d = diagnose(403, {"message": "Resource protected by organization SAML enforcement. You "
                                  "must grant your Personal Access token access."},
                 "https://ghe.example.com/api/v3/orgs/acme", req_headers=BEARER,
                 headers=[("X-GitHub-SSO", f"required; url={SSO_URL}")])
    assert (d.verdict, d.cause) == (AUTHZ, "sso-not-authorized")
    assert SSO_SECRET not in json.dumps(d.to_dict())


def test_field_values_read_lists_and_names_holding_a_dot():
    from authlens.bodies import field_values
    data = {"error": {"details": [{"reason": "A"}, {"x": 1}, {"reason": "B"}]},
            "odata.error": {"code": "C"}, "errors": [{"code": "D"}]}
    assert field_values(data, "error.details.*.reason") == ["A", "B"]
    assert field_values(data, "error.details.2.reason") == ["B"]
    assert field_values(data, "odata.error.code") == ["C"]
    assert field_values(data, "errors.0.code") == ["D"]
    assert field_values(data, "error.missing") == [] and field_values([], "0") == []
