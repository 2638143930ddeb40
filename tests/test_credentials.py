"""Request-side credential extraction and linting (authlens.credentials) and the checks that
turn it into findings (authlens.credential_checks)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlens import (
    authorization,
    catalog,
    credential_checks,
    credential_lint,
    secrecy,
)
from authlens.analyze import Analyzer, Context, Settings
from authlens.credential_checks import CHECKS, unexpected_scheme
from authlens.credentials import Credential, extract_credentials, split_scheme
from authlens.model import Exchange, RequestView, ResponseView

JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
       "aWF0IjoxNTE2MjM5MDIyfQ.NHVaYe26MbtOYhSKkoKYdFVomg4i8ZJd8_-RU8VNbftc4TSMb4bXP3l3YlNWACwyXPGf")
OPAQUE = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


def exchange(headers=(), url="https://api.example.com/v1/things", status=None, method="GET",
             body=b"", resp_headers=()):
    response = ResponseView(status, tuple(resp_headers)) if status is not None else None
    return Exchange(RequestView(method, url, tuple(headers), body), response)


def analyze(headers=(), **kw):
    return Analyzer(checks=CHECKS).analyze(exchange(headers, **kw))


def ids(headers=(), **kw) -> list[str]:
    return [f.id for f in analyze(headers, **kw).findings]


def only(finding_id, headers=(), **kw):
    found = [f for f in analyze(headers, **kw).findings if f.id == finding_id]
    assert found, f"expected {finding_id}, got {ids(headers, **kw)}"
    return found


# --- healthy requests: no findings at all --------------------------------------------------------

HEALTHY = [
    [("Authorization", f"Bearer {JWT}")],
    [("Authorization", f"bearer {OPAQUE}")],
    [("Authorization", "Bearer mF_9.B5f-4.1JqM")],  # RFC 6750 example
    [("Authorization", "Bearer dGhpcyBpcyBwYWRkZWQ=")],
    [("Authorization", "Basic dGVzdDp0ZXN0")],
    [("Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")],  # RFC 7617 example
    [("Authorization", 'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html"'
                       ', algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
                       'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
                       'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
                       'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')],
    [("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                       "SignedHeaders=content-type;host;x-amz-date, "
                       "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")],
    [("Authorization", "Negotiate YIIJvwYGKwYBBQUCoIIJszCCCa+gJDAiBgkqhkiG9xIBAgIGCSqGSIb3EgECAgYKKwYB"
                       "BAGCNwICCqKCCYkEggmFYIIJgQYJKoZIhvcSAQICAQBuggllMIIJYaADAgEFoQMCAQ6iBwMFACAAAA==")],
    [("Authorization", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")],
    [("Authorization", "SharedKey myaccount:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=")],
    [("Authorization", 'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFa'
                       'bxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjY%3D"')],
    [("Authorization", "token ghp_16C7e42F292c6912E7710c838347Ae178B4a")],
    [("X-API-Key", "a8f5f167f44f4964e6c998dee827110c")],
    [("Ocp-Apim-Subscription-Key", "0123456789abcdef0123456789abcdef")],
    [("Private-Token", "glpat-xxXXxxXXxxXXxxXXxx12")],
    [("Authorization", f"DPoP {JWT}"), ("DPoP", JWT)],
    [("Cookie", "session=9f8e7d6c5b4a; theme=dark")],
    [("Cookie", "_ga=GA1.2.3; theme=dark")],
    [("Authorization", f"Bearer {JWT}"), ("Proxy-Authorization", "Basic dGVzdDp0ZXN0")],
]


@pytest.mark.parametrize("headers", HEALTHY, ids=lambda h: h[0][1][:20])
@pytest.mark.parametrize("status", [200, 401, 403])
def test_healthy_credentials_produce_no_findings(headers, status):
    assert ids(headers, status=status) == []


@pytest.mark.parametrize("headers", HEALTHY, ids=lambda h: h[0][1][:20])
def test_healthy_credentials_over_loopback_http(headers):
    for url in ("http://localhost:8080/x", "http://127.0.0.5/x", "http://[::1]:3000/x",
                "http://app.localhost/x"):
        assert ids(headers, url=url, status=200) == []


def test_clean_jwt_is_split_exactly():
    [cred] = extract_credentials(exchange([("Authorization", f"Bearer {JWT}")]).request)
    assert (cred.location, cred.name, cred.scheme, cred.value, cred.raw) == (
        "header", "Authorization", "Bearer", JWT, f"Bearer {JWT}")


# --- credential-missing --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_missing_when_refused(status):
    [f] = only("credential-missing", [("Accept", "*/*")], status=status)
    assert str(status) in f.message
    diagnosis = analyze([("Accept", "*/*")], status=status)
    assert diagnosis.cause == "credential-missing" and diagnosis.verdict == catalog.AUTHN


def test_missing_not_reported_when_not_refused_or_credential_present():
    assert ids([("Accept", "*/*")], status=200) == []
    assert ids([("Accept", "*/*")]) == []  # no response
    assert "credential-missing" not in ids([("Cookie", "a=b")], status=401)
    assert "credential-missing" not in ids([("X-Api-Key", "k" * 32)], status=401)
    assert "credential-missing" not in ids([("Api-Key", "k" * 32)], status=403)
    assert "credential-missing" not in ids([("X-Auth-Token", "k" * 32)], status=401)
    assert "credential-missing" not in ids([], url="https://x.io/?api_key=" + "k" * 20, status=401)
    assert "credential-missing" not in ids(
        [("Content-Type", "application/x-www-form-urlencoded")], method="POST",
        body=b"grant_type=client_credentials&client_id=a&client_secret=s3cr3t", status=401)
    assert "credential-missing" not in ids(
        [("Content-Type", "application/json")], method="POST", body=b'{"api_key": "abc"}',
        status=401)


def test_cookie_only_request_counts_as_credential():
    creds = extract_credentials(exchange([("Cookie", "theme=dark; lang=en")]).request)
    assert [(c.location, c.name) for c in creds] == [("cookie", "Cookie")]
    creds = extract_credentials(exchange([("Cookie", "theme=dark; sessionid=abc123")]).request)
    assert [(c.location, c.name, c.value) for c in creds] == [("cookie", "sessionid", "abc123")]


def test_missing_on_407_wants_proxy_authorization():
    [f] = only("credential-missing", [("Authorization", f"Bearer {JWT}")], status=407)
    assert "Proxy-Authorization" in f.message
    assert "credential-missing" not in ids([("Proxy-Authorization", "Basic dGVzdDp0ZXN0")],
                                           status=407)


def test_only_proxy_authorization_is_missing_for_origin():
    [f] = only("credential-missing", [("Proxy-Authorization", "Basic dGVzdDp0ZXN0")], status=401)
    assert "proxy consumes" in f.message


def test_cors_preflight_is_not_missing():
    assert "credential-missing" not in ids(
        [("Access-Control-Request-Method", "GET"), ("Origin", "https://a.b")],
        method="OPTIONS", status=401)


# --- credential-empty ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "   ", "Bearer", "Bearer ", "bearer  ", "Basic", "\t"])
def test_empty(value):
    found = ids([("Authorization", value)], status=401)
    assert "credential-empty" in found
    assert "scheme-missing" not in found and "credential-whitespace" not in found


def test_empty_messages_and_other_locations():
    [f] = only("credential-empty", [("Authorization", "Bearer ")])
    assert "`Bearer` with nothing after it" in f.message
    assert "credential-empty" in ids([("X-API-Key", "")])
    assert "credential-empty" in ids([], url="https://a.io/x?access_token=")
    # Basic of ":" (empty user and password)
    [f] = only("credential-empty", [("Authorization", "Basic Og==")])
    assert "both user-id and password are empty" in f.message


def test_empty_beats_status_in_verdict():
    d = analyze([("Authorization", "Bearer ")], status=403)
    assert d.cause == "credential-empty" and d.verdict == catalog.AUTHN


# --- credential-placeholder ----------------------------------------------------------------------

PLACEHOLDERS = [
    "null", "undefined", "None", "nil", "NaN", "[object Object]", "{{token}}", "{{ token }}",
    "{{access_token}}", "${TOKEN}", "$TOKEN", "%TOKEN%", "<token>", "<your-token>",
    "YOUR_API_KEY", "your_token_here", "xxx", "XXXXXXXXXXXX", "xxxx-xxxx-xxxx", "changeme",
    "token", "TODO", "@{variables('token')}", "@{body('Get_token')?['access_token']}",
    "$(System.AccessToken)", "#{ApiToken}#", "__TOKEN__", "<%= token %>", "process.env.API_TOKEN",
    "sk-xxxxxxxxxxxx", "********", "INSERT_TOKEN_HERE", "string", "Undefined", "NULL",
]


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_placeholder_in_bearer(value):
    found = ids([("Authorization", f"Bearer {value}")], status=401)
    assert "credential-placeholder" in found
    # the placeholder explains it; no syntax noise on top
    assert "credential-malformed" not in found and "scheme-missing" not in found


@pytest.mark.parametrize("value", ["null", "undefined", "{{token}}", "YOUR_API_KEY"])
def test_placeholder_elsewhere(value):
    assert "credential-placeholder" in ids([("Authorization", value)])
    assert "scheme-missing" not in ids([("Authorization", value)])
    assert "credential-placeholder" in ids([("X-API-Key", value)])
    assert "credential-placeholder" in ids([], url=f"https://a.io/x?api_key={value}")


def test_placeholder_embedded_template_and_basic_parts():
    [f] = only("credential-placeholder", [("Authorization", "Bearer abc${TOKEN}")])
    assert "${TOKEN}" in f.message
    basic = base64.b64encode(b"undefined:undefined").decode()
    found = only("credential-placeholder", [("Authorization", f"Basic {basic}")])
    assert {e for f in found for k, e in f.evidence if k == "part"} == {"user-id", "password"}
    basic = base64.b64encode(b"alice:None").decode()
    [f] = only("credential-placeholder", [("Authorization", f"Basic {basic}")])
    assert "password" in f.message and "alice" not in f.message


@pytest.mark.parametrize("value", [
    JWT, OPAQUE, "nullable_token_8f7a6d5e4c3b2a19", "undefinedBehaviour42XyZ", "tokenizer-a81f3",
    "xoxb-1234567890-abcdefghijkl", "changemeNOT-9f8e7d6c5b4a3928", "My0wnT0ken-9f8e7d",
    "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
])
def test_real_tokens_are_not_placeholders(value):
    assert "credential-placeholder" not in ids([("Authorization", f"Bearer {value}")])
    assert "credential-placeholder" not in ids([("X-API-Key", value)])
    assert "credential-placeholder" not in ids([("Authorization", "Basic dGVzdDp0ZXN0")])


# --- credential-quoted ---------------------------------------------------------------------------

@pytest.mark.parametrize("value,where", [
    (f'"Bearer {JWT}"', "value"),
    (f"'Bearer {JWT}'", "value"),
    (f"\u201cBearer {JWT}\u201d", "value"),
    (f'Bearer "{JWT}"', "token"),
    (f"Bearer '{JWT}'", "token"),
    (f"Bearer `{JWT}`", "token"),
    (f"Bearer \u2018{JWT}\u2019", "token"),
    (f'Bearer \\"{JWT}\\"', "token"),
    (f'\\"Bearer {JWT}\\"', "value"),
    (f'Bearer {JWT}"', "token"),
])
def test_quoted(value, where):
    found = only("credential-quoted", [("Authorization", value)], status=401)
    assert dict(found[0].evidence)["where"] == where
    all_ids = ids([("Authorization", value)])
    assert "credential-malformed" not in all_ids and "credential-whitespace" not in all_ids
    [cred] = extract_credentials(exchange([("Authorization", value)]).request)
    assert cred.scheme.lower() == "bearer" and cred.value == JWT  # still decodable


def test_quoted_names_the_quote():
    [f] = only("credential-quoted", [("Authorization", f"Bearer \u201c{JWT}\u201d")])
    assert "LEFT DOUBLE QUOTATION MARK".lower() in f.message.lower()
    [f] = only("credential-quoted", [("Authorization", f'Bearer \\"{JWT}\\"')])
    assert "JSON-escaped" in f.message
    assert "credential-quoted" in ids([("X-API-Key", '"a8f5f167f44f4964e6c998dee827110c"')])


# --- credential-whitespace -----------------------------------------------------------------------

@pytest.mark.parametrize("value,char", [
    (f"Bearer {JWT[:7]}\u200b{JWT[7:]}", "U+200B"),
    (f"Bearer {JWT[:7]}\u200c{JWT[7:]}", "U+200C"),
    (f"Bearer {JWT[:7]}\u200d{JWT[7:]}", "U+200D"),
    (f"Bearer {JWT[:7]}\ufeff{JWT[7:]}", "U+FEFF"),
    (f"Bearer {JWT[:7]}\u2060{JWT[7:]}", "U+2060"),
    (f"Bearer {JWT[:7]}\u00a0{JWT[7:]}", "U+00A0"),
    (f"Bearer {JWT[:7]}\t{JWT[7:]}", "U+0009"),
    (f"Bearer {JWT[:7]}\n{JWT[7:]}", "U+000A"),
    (f"Bearer {JWT[:7]}\u00e9{JWT[7:]}", "U+00E9"),
])
def test_whitespace_inside_token_named_with_position(value, char):
    [f] = only("credential-whitespace", [("Authorization", value)], status=401)
    ev = dict(f.evidence)
    assert ev["char"] == char and ev["position"] == 8 and ev["where"] == "the token"
    assert f"{char} " in f.message and "position 8 of the token" in f.message
    assert "credential-malformed" not in ids([("Authorization", value)])
    [cred] = extract_credentials(exchange([("Authorization", value)]).request)
    if char != "U+00E9":
        assert cred.value == JWT


def test_zero_width_message_is_specific():
    [f] = only("credential-whitespace", [("Authorization", "Bearer abcdef\u200bghi")])
    assert f.message.startswith("U+200B ZERO WIDTH SPACE at position 7 of the token")


def test_raw_byte_reported_as_byte():
    value = "Bearer abc" + b"\xe2\x80".decode("utf-8", "surrogateescape") + "def"
    found = only("credential-whitespace", [("Authorization", value)])
    assert "byte 0xE2" in found[0].message and dict(found[0].evidence)["byte"] == "0xE2"
    assert dict(found[0].evidence)["position"] == 4


@pytest.mark.parametrize("value,needle", [
    (f" Bearer {JWT}", "before"),
    (f"Bearer {JWT} ", "after"),
    (f"Bearer {JWT}\r\n", "LINE FEED"),
    (f"Bearer  {JWT}", "2 spaces between the scheme"),
    (f"Bearer\t{JWT}", "TABULATION"),
    (f"Bearer {JWT[:20]} {JWT[20:]}", "space at position 21 of the token"),
    (f'Bearer " {JWT}"', "after the opening quote"),
])
def test_whitespace_around_and_between(value, needle):
    found = only("credential-whitespace", [("Authorization", value)])
    assert any(needle in f.message for f in found), [f.message for f in found]
    [cred] = extract_credentials(exchange([("Authorization", value)]).request)
    assert cred.value == JWT


def test_whitespace_in_api_key_and_query():
    [f] = only("credential-whitespace", [("X-API-Key", "abcdef0123456789\n")])
    assert "after" in f.message
    assert "credential-whitespace" in ids([], url="https://a.io/?api_key=abc%E2%80%8Bdef")


def test_whitespace_count_is_capped_and_reported():
    found = only("credential-whitespace", [("Authorization", "Bearer a" + "\u200b" * 50 + "b")])
    assert len(found) <= credential_lint.MAX_REPORTS
    assert "50 such characters" in found[0].message


# --- scheme-missing ------------------------------------------------------------------------------

BEARER_CHALLENGE = [("WWW-Authenticate", 'Bearer realm="api"')]


def test_scheme_missing_bare_jwt_and_key():
    [f] = only("scheme-missing", [("Authorization", JWT)])  # no response yet: plain lint
    assert "bare JWT" in f.message and JWT not in f.message
    [f] = only("scheme-missing", [("Authorization", JWT)], status=401,
               resp_headers=BEARER_CHALLENGE)
    assert "challenge asks for Bearer" in f.message
    assert analyze([("Authorization", JWT)], status=401,
                   resp_headers=BEARER_CHALLENGE).cause == "scheme-missing"
    [cred] = extract_credentials(exchange([("Authorization", JWT)]).request)
    assert cred.scheme is None and cred.value == JWT
    [f] = only("scheme-missing", [("Authorization", OPAQUE)])
    assert "bare token or key" in f.message
    [f] = only("scheme-missing", [("Authorization", "dGVzdDp0ZXN0")])
    assert "Basic" in f.message


def test_scheme_missing_refused_without_challenge():
    [f] = only("scheme-missing", [("Authorization", JWT)], status=401)
    assert "challenge" not in f.message


@pytest.mark.parametrize("status,resp_headers,url", [
    (200, (), None), (204, (), None), (200, BEARER_CHALLENGE, None),
    # AWS API Gateway authorizers document bare tokens
    (401, [("x-amzn-ErrorType", "UnauthorizedException")], None),
    (403, [("x-amz-apigw-id", "abc=")], None),
    (401, (), "https://h1z7c2zen5.execute-api.eu-central-1.amazonaws.com/dev/items/"),
    (401, (), "https://api.linear.app/graphql"),
])
def test_scheme_missing_quiet_when_server_takes_bare_credentials(status, resp_headers, url):
    kw = {"url": url} if url else {}
    for value in (JWT, OPAQUE):
        assert "scheme-missing" not in ids([("Authorization", value)], status=status,
                                           resp_headers=resp_headers, **kw)


def test_scheme_missing_via_fake_challenge():
    exch = exchange([("Authorization", OPAQUE)], status=403)
    [f] = run_check(credential_checks.check_scheme_missing, exch, [FakeChallenge("Bearer")])
    assert f.id == "scheme-missing" and dict(f.evidence)["challenge_schemes"] == ["Bearer"]
    assert "asks for Bearer" in f.message


def test_scheme_missing_not_for_misspelled_or_api_key_headers():
    assert "scheme-missing" not in ids([("X-API-Key", JWT)])
    assert "scheme-missing" not in ids([("Authorization", f"Bearer {JWT}")])


# --- scheme-duplicated ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [f"Bearer Bearer {JWT}", f"Bearer bearer {JWT}",
                                   f"BEARER Bearer  {JWT}", "Basic Basic dGVzdDp0ZXN0",
                                   f"Bearer Bearer Bearer {JWT}"])
def test_scheme_duplicated(value):
    found = ids([("Authorization", value)], status=401)
    assert "scheme-duplicated" in found
    assert "credential-malformed" not in found
    [cred] = extract_credentials(exchange([("Authorization", value)]).request)
    assert cred.value in (JWT, "dGVzdDp0ZXN0")
    d = analyze([("Authorization", value)], status=401)
    assert d.cause == "scheme-duplicated"


def test_scheme_duplicated_alone_is_also_empty():
    found = ids([("Authorization", "Bearer Bearer")])
    assert "scheme-duplicated" in found and "credential-empty" in found


def test_scheme_word_as_value_is_not_duplicated():
    assert "scheme-duplicated" not in ids([("Authorization", "Bearer token")])


# --- scheme-unexpected ---------------------------------------------------------------------------

@dataclass
class FakeChallenge:
    scheme: str
    params: dict = field(default_factory=dict)
    token68: object = None
    header: str = "www-authenticate"


def run_check(check, exch, challenges):
    ctx = Context(exch, Settings())
    ctx.__dict__["challenges"] = SimpleNamespace(challenges=challenges, errors=[])
    return list(check(ctx))


def test_scheme_unexpected_against_challenges():
    exch = exchange([("Authorization", f"Bearer {JWT}")], status=401)
    [f] = run_check(credential_checks.check_scheme_unexpected, exch,
                    [FakeChallenge("Basic", {"realm": "x"})])
    assert f.id == "scheme-unexpected"
    assert "`Bearer`" in f.message and "only Basic" in f.message
    assert dict(f.evidence)["accepted"] == ["basic"]


def test_scheme_unexpected_quiet_when_offered_or_no_challenge():
    exch = exchange([("Authorization", f"Bearer {JWT}")], status=401)
    check = credential_checks.check_scheme_unexpected
    assert run_check(check, exch, []) == []
    assert run_check(check, exch, [FakeChallenge("bearer")]) == []
    assert run_check(check, exch, [FakeChallenge("Basic"), FakeChallenge("Bearer")]) == []
    # a proxy challenge does not judge Authorization
    assert run_check(check, exch, [FakeChallenge("Basic", header="proxy-authenticate")]) == []
    exch = exchange([("Proxy-Authorization", "Bearer x")], status=407)
    [f] = run_check(check, exch, [FakeChallenge("Basic", header="proxy-authenticate")])
    assert "Proxy-Authenticate" in f.message


def test_unexpected_scheme_helper_for_rules():
    cred = Credential("header", "Authorization", "Basic dGVzdDp0ZXN0", "Basic", "dGVzdDp0ZXN0")
    f = unexpected_scheme(cred, ["Bearer"], "the Microsoft Graph rule")
    assert f is not None and "Microsoft Graph rule accepts only Bearer" in f.message
    assert unexpected_scheme(cred, ["basic", "Bearer"], "x") is None
    assert unexpected_scheme(cred, [], "x") is None


def test_scheme_unexpected_with_real_parser_when_present():
    exch = exchange([("Authorization", f"Bearer {JWT}")], status=401,
                    resp_headers=[("WWW-Authenticate", 'Basic realm="api"')])
    d = Analyzer(checks=CHECKS).analyze(exch)
    assert d.challenges and "scheme-unexpected" in [f.id for f in d.findings]


# --- credential-malformed ------------------------------------------------------------------------

@pytest.mark.parametrize("value,char,pos", [
    ("Bearer token=abc", "=", 6),
    ('Bearer {"access_token":"abc","expires_in":3600}', "{", 1),
    ("Bearer abc:def", ":", 4),
    ("Bearer eyJ%3D", "%", 4),
    ("Bearer a,b", ",", 2),
    ("Bearer =abc", "=", 1),
])
def test_malformed_bearer(value, char, pos):
    [f] = only("credential-malformed", [("Authorization", value)], status=401)
    ev = dict(f.evidence)
    assert ev["char"] == char and ev["position"] == pos
    assert f"'{char}' at position {pos}" in f.message


def test_malformed_hints():
    [f] = only("credential-malformed", [("Authorization", 'Bearer {"access_token":"a"}')])
    assert "JSON" in f.message
    [f] = only("credential-malformed", [("Authorization", "Bearer token=abc")])
    assert "key=value" in f.message
    [f] = only("credential-malformed", [("Authorization", f"Bearer:{JWT}")])
    assert "':' instead of a space" in f.message
    [cred] = extract_credentials(exchange([("Authorization", f"Bearer:{JWT}")]).request)
    assert cred.value == JWT and cred.scheme == "Bearer"
    [f] = only("credential-malformed", [("Authorization", f"Bearer{JWT}")])
    assert "followed by nothing" in f.message


def test_malformed_does_not_double_report_whitespace_or_quotes():
    for value in (f'Bearer "{JWT}"', f"Bearer {JWT}\u200b", f"Bearer {JWT[:5]}\u00a0{JWT[5:]}",
                  f"Bearer {JWT} ", f"Bearer {JWT[:5]}\udcff{JWT[5:]}"):
        assert "credential-malformed" not in ids([("Authorization", value)]), value


def test_padding_in_token_end_is_fine():
    assert ids([("Authorization", "Bearer abc==")]) == []


# --- basic-malformed -----------------------------------------------------------------------------

def test_basic_in_clear():
    [f] = only("basic-malformed", [("Authorization", "Basic alice:s3cret")], status=401)
    assert "in clear" in f.message and "s3cret" not in f.message
    assert dict(f.evidence)["problem"] == "not-encoded"


def test_basic_not_base64_and_base64url():
    [f] = only("basic-malformed", [("Authorization", "Basic dGVz!DpOZXN0")])
    assert "'!' at position 5" in f.message
    url_b64 = base64.urlsafe_b64encode(b"us?r:p>ss~~").decode()
    assert "-" in url_b64 or "_" in url_b64
    [f] = only("basic-malformed", [("Authorization", f"Basic {url_b64}")])
    assert "base64url" in f.message


def test_basic_without_colon_and_charset():
    [f] = only("basic-malformed", [("Authorization", "Basic " + base64.b64encode(b"justakey").decode())])
    assert "without ':'" in f.message and dict(f.evidence)["problem"] == "no-colon"
    latin = base64.b64encode(b"\xe9\xe8\xff\xfe").decode()
    [f] = only("basic-malformed", [("Authorization", f"Basic {latin}")])
    assert dict(f.evidence)["utf8"] is False and "not UTF-8" in f.message
    # non-UTF-8 but with a colon: fine
    ok = base64.b64encode("jos\u00e9:pw".encode("latin-1")).decode()
    assert "basic-malformed" not in ids([("Authorization", f"Basic {ok}")])


def test_basic_unpadded_and_bad_length():
    [f] = only("basic-malformed", [("Authorization", "Basic dGVzdDp0ZXN0MQ")])
    assert "padding" in f.message
    [f] = only("basic-malformed", [("Authorization", "Basic dGVzd")])
    assert dict(f.evidence)["problem"] == "bad-length"


# --- credential-in-url ---------------------------------------------------------------------------

@pytest.mark.parametrize("param", ["access_token", "api_key", "apikey", "key", "token", "sig",
                                   "client_secret", "password", "API_KEY", "apiKey"])
def test_in_url_query(param):
    url = f"https://api.example.com/v1/x?foo=1&{param}=supersecretvalue1234567890"
    [f] = only("credential-in-url", url=url)
    assert param in f.message and "supersecretvalue1234567890" not in f.message


def test_in_url_extracts_jwt_for_tokens_py():
    url = f"https://api.example.com/x?access_token={JWT}"
    creds = extract_credentials(exchange(url=url).request)
    assert [(c.location, c.name, c.value) for c in creds] == [("query", "access_token", JWT)]


def test_in_url_userinfo():
    [f] = only("credential-in-url", url="https://alice:s3cr3t@api.example.com/x")
    assert "user-id and password" in f.message and "s3cr3t" not in f.message
    [cred] = extract_credentials(exchange(url="https://alice:s3cr3t@api.example.com/x").request)
    assert (cred.location, cred.value) == ("userinfo", "alice:s3cr3t")


@pytest.mark.parametrize("url", [
    "https://login.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
    "https://api.example.com/search?q=token&page=2",
    "https://api.example.com/x?keyword=abc&monkey=1",
    "https://api.example.com/x?nextPageToken=abc",
])
def test_not_in_url(url):
    assert "credential-in-url" not in ids(url=url)


# --- header-misspelled ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Authorisation", "Authentification", "Autorization",
                                  "Authorizaton", "Bearer", "Authroization", "Authorization:",
                                  "Proxy-Authorisation"])
def test_misspelled_always(name):
    [f] = only("header-misspelled", [(name, f"Bearer {JWT}")], status=200)
    assert f"`{name.strip()}`" in f.message
    # on a refusal it replaces credential-missing as the cause
    d = analyze([(name, f"Bearer {JWT}")], status=401)
    assert "credential-missing" not in [x.id for x in d.findings]
    assert d.cause == "header-misspelled"


@pytest.mark.parametrize("name", ["Authentication", "Auth", "Token", "X-Authorization"])
def test_misspelled_ambiguous_only_when_refused_without_authorization(name):
    assert "header-misspelled" not in ids([(name, f"Bearer {JWT}")], status=200)
    assert "header-misspelled" in ids([(name, f"Bearer {JWT}")], status=401)
    assert "header-misspelled" not in ids(
        [(name, f"Bearer {JWT}"), ("Authorization", f"Bearer {JWT}")], status=401)


def test_value_starting_with_colon():
    [f] = only("header-misspelled", [("Authorization", f": Bearer {JWT}")])
    assert "colon" in f.message
    [cred] = extract_credentials(exchange([("Authorization", f": Bearer {JWT}")]).request)
    assert cred.value == JWT


@pytest.mark.parametrize("name", ["Authorization", "Accept", "X-Request-Id", "Author",
                                  "X-Csrf-Token", "Idempotency-Key", "Authority"])
def test_not_misspelled(name):
    assert "header-misspelled" not in ids([(name, "abc"), ("Authorization", f"Bearer {JWT}")],
                                          status=401)


# --- header-duplicated ---------------------------------------------------------------------------

def test_duplicated_headers():
    [f] = only("header-duplicated", [("Authorization", f"Bearer {JWT}"),
                                     ("authorization", "Basic dGVzdDp0ZXN0")], status=401)
    assert "2 times" in f.message and "Bearer, Basic" in f.message
    assert JWT not in f.message
    assert dict(f.evidence)["identical"] is False


@pytest.mark.parametrize("value", [f"Bearer {JWT}, Bearer {OPAQUE}", f"Bearer {JWT},Basic dGVzdDp0ZXN0",
                                   f"Basic dGVzdDp0ZXN0, Bearer {JWT}"])
def test_duplicated_comma_joined(value):
    [f] = only("header-duplicated", [("Authorization", value)])
    assert "joined by a comma" in f.message
    found = ids([("Authorization", value)])
    assert "credential-malformed" not in found and "credential-whitespace" not in found


def test_one_of_each_is_not_duplicated():
    assert "header-duplicated" not in ids([("Authorization", f"Bearer {JWT}"),
                                           ("Proxy-Authorization", "Basic dGVzdDp0ZXN0")])


# --- credential-over-http ------------------------------------------------------------------------

def test_over_http():
    [f] = only("credential-over-http", [("Authorization", f"Bearer {JWT}")],
               url="http://api.example.com/x")
    assert "api.example.com" in f.message and JWT not in f.message
    assert "credential-over-http" in ids([("X-API-Key", "k" * 32)], url="http://10.0.0.5/x")
    assert "credential-over-http" in ids(url="http://api.example.com/x?api_key=abcdef1234")


def test_not_over_http():
    assert "credential-over-http" not in ids([("Authorization", f"Bearer {JWT}")],
                                             url="https://api.example.com/x")
    assert "credential-over-http" not in ids([("Accept", "*/*")], url="http://api.example.com/x")
    assert "credential-over-http" not in ids([("Cookie", "theme=dark")],
                                             url="http://api.example.com/x")


# --- secrets never leak in messages --------------------------------------------------------------

SECRET = "Zq8vLm3Np6Rt9Wx2Yb5Cd7Fg1Hj4Kk0Ls"

LEAKY = [
    ([("Authorization", f"Bearer {SECRET}"), ("Authorization", f"Bearer {SECRET}")], {}),
    ([("Authorization", f'Bearer "{SECRET}"')], {}),
    ([("Authorization", f"Bearer {SECRET}\u200b")], {}),
    ([("Authorization", SECRET)], {}),
    ([("Authorization", f"Bearer Bearer {SECRET}")], {}),
    ([("Authorization", f"Bearer {SECRET}=x")], {}),
    ([("Authorization", f"Basic user:{SECRET}")], {}),
    ([("Authorization", "Basic " + base64.b64encode(SECRET.encode()).decode())], {}),
    ([("Authorization", f"Bearer {SECRET}, Bearer {SECRET}")], {}),
    ([("Authorisation", f"Bearer {SECRET}")], {}),
    ([("X-API-Key", f" {SECRET} ")], {}),
    ([], {"url": f"http://api.example.com/x?access_token={SECRET}"}),
    ([], {"url": f"http://u:{SECRET}@api.example.com/x"}),
    ([("Authorization", f"Bearer {SECRET}")], {"url": "http://api.example.com/"}),
]


@pytest.mark.parametrize("headers,kw", LEAKY)
def test_messages_never_contain_the_secret(headers, kw):
    d = analyze(headers, status=401, **kw)
    assert d.findings, "expected findings"
    # What credentials.py produces: findings (message + evidence) and the credential list.
    # (Diagnosis.url is built by analyze.py from the raw URL: see redact_url.)
    text = repr([f.to_dict() for f in d.findings]) + repr(d.credentials)
    assert SECRET not in text
    assert SECRET[4:-4] not in text


def test_redact_url():
    url = f"https://u:{SECRET}@api.example.com/x?a=1&access_token={SECRET}&code=abc"
    out = secrecy.redact_url(url)
    assert SECRET not in out
    assert out.startswith("https://u:") and "a=1" in out and "code=abc" not in out  # as in redact
    assert "access_token=" in out and "api.example.com/x" in out
    assert secrecy.redact_url(url, reveal=True) == url
    assert secrecy.redact_url("https://a.io/x?q=1") == "https://a.io/x?q=1"


@pytest.mark.parametrize("url", [
    f"https://app.example.com/cb#access_token={SECRET}&token_type=Bearer&expires_in=3600",
    f"https://app.example.com/cb?state=s1#id_token={SECRET}",
    f"https://app.example.com/cb?state=s1&access_token={SECRET}#section",
])
def test_redact_url_reads_the_fragment_too(url):
    """The implicit grant returns its token in the redirect's fragment (RFC 6749 §4.2.2)."""
    out = secrecy.redact_url(url)
    assert SECRET not in out and "REDACTED-" in out
    assert out.startswith("https://app.example.com/cb") and ("state=s1" in out) == ("state" in url)
    assert "token_type=Bearer" in out or "token_type" not in url


# --- extraction details --------------------------------------------------------------------------

def test_split_scheme_api():
    assert split_scheme("Bearer abc") == ("Bearer", "abc")
    assert split_scheme(JWT) == (None, JWT)
    assert split_scheme('  "Bearer abc"  ') == ("Bearer", "abc")
    assert split_scheme("Digest a=b, c=d") == ("Digest", "a=b, c=d")


def test_api_key_headers_extracted():
    names = ["X-API-Key", "Api-Key", "apikey", "Ocp-Apim-Subscription-Key", "X-Auth-Token",
             "Private-Token", "X-Goog-Api-Key", "X-Vault-Token", "DD-API-KEY", "X-RapidAPI-Key"]
    creds = extract_credentials(exchange([(n, "v4lue") for n in names]).request)
    assert [c.name for c in creds] == names
    assert all(c.location == "header" and c.scheme is None and c.value == "v4lue" for c in creds)
    none = extract_credentials(exchange([("X-CSRF-Token", "a"), ("X-Request-Id", "b"),
                                         ("Idempotency-Key", "c")]).request)
    assert none == []


def test_describe_is_redacted():
    [cred] = extract_credentials(exchange([("Authorization", f"Bearer {JWT}")]).request)
    out = cred.describe()
    assert out["scheme"] == "Bearer" and JWT not in repr(out)
    assert cred.describe(reveal=True)["value"] == JWT


def test_every_finding_id_is_in_catalog():
    ids_seen = set()
    samples = [h for h, _ in LEAKY] + [[("Authorization", v)] for v in PLACEHOLDERS]
    for headers in samples:
        ids_seen |= {f.id for f in analyze(headers, status=401).findings}
    for finding_id in ids_seen:
        catalog.get(finding_id)


# --- robustness ----------------------------------------------------------------------------------

HEADER_NAMES = st.sampled_from(["Authorization", "Proxy-Authorization", "X-API-Key", "Cookie",
                                "Authorisation", "Auth", "Token", "X-Authorization", "Accept"])
TEXT_VALUES = st.text(max_size=200)
BYTE_VALUES = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))
PREFIXED = st.tuples(st.sampled_from(["Bearer ", "Basic ", "Digest ", "bearer  ", '"Bearer ',
                                      "Bearer Bearer ", ": ", "AWS4-HMAC-SHA256 ", ""]),
                     st.one_of(TEXT_VALUES, BYTE_VALUES)).map("".join)
VALUES = st.one_of(TEXT_VALUES, BYTE_VALUES, PREFIXED)


def _run_all(exch):
    ctx = Context(exch, Settings())
    ctx.__dict__["challenges"] = SimpleNamespace(
        challenges=[FakeChallenge("Basic"), FakeChallenge("Digest", header="proxy-authenticate")],
        errors=[])
    findings = [f for check in CHECKS for f in check(ctx)]
    for f in findings:
        catalog.get(f.id)
        assert isinstance(f.message, str) and f.message
        f.to_dict()
    for cred in ctx.credentials:
        cred.describe()
    return findings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=4),
       query=st.one_of(st.just(""), st.text(max_size=60)),
       status=st.sampled_from([None, 200, 401, 403, 407]))
def test_never_raises(headers, query, status):
    url = "http://api.example.com/x" + ("?" + query if query else "")
    _run_all(exchange(headers, url=url, status=status))
    Analyzer(checks=CHECKS).analyze(exchange(headers, url=url, status=status))


@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_split_scheme_value_is_clean(value):
    scheme, cred = split_scheme(value)
    assert cred == cred.strip(authorization.JUNK)
    assert not any(ch in cred for ch in "\u200b\u200c\u200d\u2060\ufeff")
    if scheme is not None:
        assert scheme and " " not in scheme


HUGE = [
    "Bearer " + "a" * (1 << 20),
    "Bearer " + " " * (1 << 20) + "x",
    "Bearer " + "\u200b" * (1 << 20),
    "Bearer " + "a\u200b" * (1 << 19),
    "Bearer " + "{{" * (1 << 19),
    "Bearer " + "${" * (1 << 19),
    "Basic " + "\u00e9" * (1 << 20),
    "Digest " + "a=b, " * (1 << 18),
    "x " + ", x" * (1 << 18),
    "," * (1 << 20),
    " ," * (1 << 19),
    "\udcff" * (1 << 20),
    '"' * (1 << 20),
    "Bearer Bearer " * (1 << 16),
]


@pytest.mark.parametrize("value", HUGE, ids=lambda v: repr(v[:10]))
def test_bounded_on_one_megabyte(value):
    headers = [("Authorization", value), ("X-API-Key", value), ("Cookie", value),
               ("Authorisation", value)]
    url = "http://api.example.com/x?access_token=" + value[:100_000]
    start = time.perf_counter()
    findings = _run_all(exchange(headers, url=url, status=401))
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f}s"
    per_id = {}
    for f in findings:
        per_id[f.id] = per_id.get(f.id, 0) + 1
        assert len(f.message) < 2000
    assert all(n <= 4 * credential_lint.MAX_REPORTS + 2 for n in per_id.values()), per_id


def test_clean_bearer_is_fast():
    exch = exchange([("Host", "api.example.com"), ("Accept", "*/*"),
                     ("Authorization", f"Bearer {JWT}")], status=200)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        ctx = Context(exch, Settings())
        for check in CHECKS:
            for _f in check(ctx):
                pass
    per_call = (time.perf_counter() - start) / n
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} µs"  # ~10 µs here; generous for slow CI


def test_the_shared_parse_of_an_authorization_value_is_frozen():
    """One parse per distinct value is shared by extraction and the lint across flows: no
    reader can change what the next flow sees."""
    import dataclasses
    parsed = authorization.parse('"Bearer  Bearer abc"')
    assert parsed is authorization.parse('"Bearer  Bearer abc"')
    assert parsed.duplicates == ("Bearer",) and parsed.quotes and isinstance(parsed.quotes, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.value = "changed"  # type: ignore[misc]
