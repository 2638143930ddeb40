"""WWW-Authenticate parser and response-side checks."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_corpus import RECORDS, to_exchange

from authlens.analyze import Analyzer, default_trackers
from authlens.challenge import (
    CHALLENGE_HEADERS,
    PARSED_LINES,
    ParsedChallenges,
    parse_challenge_header,
    parse_challenges,
    parse_response_challenges,
)
from authlens.model import Exchange, RequestView, ResponseView


def parse(*values):
    return parse_challenges(values)


def ids(status, headers=(), req_headers=(("Authorization", "Bearer abc.def"),), body=b""):
    ex = Exchange(RequestView("GET", "https://api.example.com/x", tuple(req_headers)),
                  ResponseView(status, tuple(headers), body))
    d = Analyzer().analyze(ex)
    return {f.id: f for f in d.findings}, d


# ---- parser ----------------------------------------------------------------------------------

def test_several_challenges_in_one_header_rfc9110_example():
    p = parse('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"')
    assert [c.scheme for c in p.challenges] == ["Newauth", "Basic"]
    assert p.challenges[0].params == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert p.challenges[1].params == {"realm": "simple"}
    assert p.errors == []


def test_challenges_across_header_lines():
    p = parse('Bearer realm="a"', "Negotiate", 'Basic realm="b"')
    assert [c.name for c in p.challenges] == ["bearer", "negotiate", "basic"]


def test_quoted_string_with_commas_and_escapes():
    p = parse(r'Bearer realm="a, b", error_description="say \"no\", \\ok"')
    assert p.challenges[0].params == {"realm": "a, b", "error_description": 'say "no", \\ok'}
    assert len(p.challenges) == 1 and not p.errors


def test_unquoted_token_values_google_style():
    p = parse('Bearer realm="https://accounts.google.com/AuthSubRequest", error=insufficient_scope,'
              ' scope="https://www.googleapis.com/auth/analytics"')
    assert p.challenges[0].params["error"] == "insufficient_scope"
    assert not p.errors


def test_token68_with_padding():
    p = parse("Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1==, Basic realm=x")
    assert p.challenges[0].token68 == "YIIGhgYJKoZIhvcSAQICAQBuggZ1=="
    assert p.challenges[1].params == {"realm": "x"}


def test_no_space_after_commas_and_case_insensitive_names():
    p = parse('BEARER Realm="x",Error="invalid_token",ERROR_DESCRIPTION="gone"')
    c = p.challenges[0]
    assert c.name == "bearer" and c.params == {"realm": "x", "error": "invalid_token",
                                               "error_description": "gone"}


def test_folded_header():
    p = parse('Bearer realm="example",\r\n                  error="invalid_token",\n\t'
              'error_description="The access token expired"')
    assert p.challenges[0].params["error_description"] == "The access token expired"
    assert not p.errors


def test_empty_list_elements():
    p = parse(' , ,Basic realm="x",, ,Bearer ,')
    assert [c.name for c in p.challenges] == ["basic", "bearer"] and not p.errors


def test_azure_unquoted_uri_tolerated():
    p = parse("Bearer authorization_uri=https://login.microsoftonline.com/t/oauth2/authorize,"
              "error=invalid_token, resource_id=https://org.crm4.dynamics.com/")
    c = p.challenges[0]
    assert c.params["authorization_uri"].endswith("/oauth2/authorize")
    assert c.params["error"] == "invalid_token" and not p.errors


def test_microsoft_empty_realm():
    p = parse('Bearer realm="", client_id="00000003-0000-0000-c000-000000000000"')
    assert p.challenges[0].params["realm"] == "" and not p.errors


def test_garbage_reports_position():
    p = parse('Bearer realm="x" error="y"')
    assert p.challenges[0].params == {"realm": "x", "error": "y"}
    assert any("position 17" in e and "','" in e for e in p.errors)
    p = parse('Bearer realm="never closed')
    assert p.errors and "position 13" in p.errors[0] and p.errors[0].position == 13
    p = parse('realm="x"')
    assert not p.challenges and "before any auth-scheme" in p.errors[0]
    p = parse("Bearer @@@, Basic")
    assert [c.name for c in p.challenges] == ["bearer", "basic"]
    assert "position 7" in p.errors[0]


def test_duplicate_param_is_an_error_first_kept():
    p = parse('Bearer error="a", error="b"')
    assert p.challenges[0].params["error"] == "a" and "repeated" in p.errors[0]


def test_to_dict_is_plain():
    d = parse("Negotiate abc=").challenges[0].to_dict()
    assert d == {"scheme": "Negotiate", "params": {}, "header": "www-authenticate",
                 "token68": "abc="}


def test_response_view_and_proxy_authenticate():
    r = ResponseView(407, (("Proxy-Authenticate", 'Basic realm="proxy"'),
                           ("WWW-Authenticate", "Bearer")))
    p = parse_response_challenges(r)
    assert {(c.header, c.name) for c in p.challenges} == {("proxy-authenticate", "basic"),
                                                          ("www-authenticate", "bearer")}
    assert parse_response_challenges(None).challenges == ()


def test_one_megabyte_header_is_quick_and_bounded():
    for value in ("a" * 1_000_000, "Bearer " + ",".join(["x=y"] * 200_000),
                  'Bearer realm="' + "\\" * 999_990, ",".join(["Basic"] * 300_000),
                  " " * 1_000_000, '"' * 1_000_000):
        start = time.perf_counter()
        p = parse_challenge_header(value)
        assert time.perf_counter() - start < 0.5
        assert len(p.challenges) <= 32 and len(p.errors) <= 16
        assert all(len(c.params) <= 64 for c in p.challenges)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('Bearer realm="\\,= \t\r\nabc/:;@()') + ["é", "\x00"]),
               max_size=200))
def test_fuzz_parser_never_raises(value):
    p = parse_challenge_header(value)
    for c in p.challenges:
        assert isinstance(c.to_dict(), dict)
    assert all(isinstance(e, str) for e in p.errors)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_fuzz_parser_arbitrary_text(value):
    parse_challenge_header(value)


# ---- checks: true and false positives ---------------------------------------------------------

def test_challenge_missing_on_401_and_407_only():
    assert "challenge-missing" in ids(401)[0]
    assert "challenge-missing" not in ids(401, [("WWW-Authenticate", "Bearer")])[0]
    assert "challenge-missing" in ids(407, [("WWW-Authenticate", "Basic")])[0]
    assert "challenge-missing" not in ids(407, [("Proxy-Authenticate", "Basic")])[0]
    assert "challenge-missing" not in ids(403)[0]


def test_invalid_token_with_description():
    found, d = ids(401, [("WWW-Authenticate", 'Bearer error="invalid_token", '
                                              'error_description="The access token expired"')])
    assert "The access token expired" in found["challenge-invalid-token"].message
    assert d.verdict == "authentication"


def test_insufficient_scope_reports_scope_and_mismatch_on_401():
    found, d = ids(401, [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="a b"')])
    f = found["challenge-insufficient-scope"]
    assert "'a b'" in f.message and dict(f.evidence)["required_scope"] == ["a", "b"]
    assert "status-error-mismatch" in found
    assert (d.verdict, d.cause) == ("authorization", "challenge-insufficient-scope")


def test_no_mismatch_when_status_matches():
    found, _ = ids(403, [("WWW-Authenticate", 'Bearer error="insufficient_scope"')])
    assert "status-error-mismatch" not in found
    found, _ = ids(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    assert "status-error-mismatch" not in found


def test_invalid_token_on_403_is_a_mismatch():
    found, _ = ids(403, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    assert "status-error-mismatch" in found


def test_invalid_request():
    found, _ = ids(400, [("WWW-Authenticate", 'Bearer error="invalid_request", '
                                              'error_description="two tokens"')])
    assert "two tokens" in found["challenge-invalid-request"].message


def test_claims_challenge_decoded():
    claims = base64.b64encode(b'{"access_token":{"acrs":{"essential":true,"value":"c1"}}}')
    found, d = ids(401, [("WWW-Authenticate", 'Bearer realm="", error="insufficient_claims", '
                                              f'claims="{claims.decode()}"')])
    assert '"c1"' in found["challenge-claims-required"].message
    assert (d.verdict, d.cause) == ("authentication", "challenge-claims-required")


def test_step_up_and_dpop():
    found, _ = ids(401, [("WWW-Authenticate", 'Bearer error="insufficient_user_authentication", '
                                              'acr_values="phr", max_age=5')])
    assert "phr" in found["challenge-step-up-required"].message
    found, _ = ids(401, [("WWW-Authenticate", 'DPoP error="use_dpop_nonce", algs="ES256"')])
    assert "challenge-dpop-nonce" in found
    found, _ = ids(401, [("WWW-Authenticate", 'DPoP error="invalid_dpop_proof"')])
    assert "challenge-invalid-dpop-proof" in found


def test_malformed_reported_with_position():
    found, _ = ids(401, [("WWW-Authenticate", 'Bearer realm="x')])
    f = found["challenge-malformed"]
    assert dict(f.evidence)["position"] == 13


def test_fallbacks():
    basic = (("Authorization", "Basic dXNlcjpwYXNz"),)
    found, d = ids(401, [("WWW-Authenticate", 'Basic realm="x"')], req_headers=basic)
    assert "status-unauthorized" in found and "Basic" in found["status-unauthorized"].message
    found, d = ids(403)
    assert (d.verdict, d.cause) == ("authorization", "status-forbidden")
    found, _ = ids(407, [("Proxy-Authenticate", "Basic")],
                   req_headers=(("Proxy-Authorization", "Basic dXNlcjpwYXNz"),))
    assert "status-unauthorized" in found


def test_fallback_is_dropped_when_something_specific_explains_the_refusal():
    found, d = ids(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    assert d.cause == "challenge-invalid-token"
    assert "status-unauthorized" not in found


def test_charset_mismatch_true_and_false_positive():
    latin1 = base64.b64encode("test:123£".encode("latin-1")).decode()
    utf8 = base64.b64encode("test:123£".encode()).decode()
    hdr = [("WWW-Authenticate", 'Basic realm="foo", charset="UTF-8"')]
    assert "challenge-charset-mismatch" in ids(401, hdr, [("Authorization", f"Basic {latin1}")])[0]
    assert "challenge-charset-mismatch" not in ids(401, hdr, [("Authorization", f"Basic {utf8}")])[0]
    assert "challenge-charset-mismatch" not in ids(
        401, [("WWW-Authenticate", 'Basic realm="foo"')], [("Authorization", f"Basic {latin1}")])[0]


def test_success_costs_nothing_and_reports_nothing():
    found, d = ids(200, [("Content-Type", "application/json")])
    assert d.verdict is None
    assert not any(i.startswith(("challenge", "status-")) for i in found)


def test_challenge_on_a_200_is_not_a_refusal():
    found, d = ids(200, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    assert "challenge-invalid-token" not in found and d.verdict is None


def test_no_secret_in_messages():
    secret = "s3cr3t-token-value-that-is-long-enough-000"
    found, d = ids(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')],
                   [("Authorization", f"Bearer {secret}")])
    assert all(secret not in f.message for f in d.findings)


# ---- the remembered parses -------------------------------------------------------------------

def fresh_parse(response: ResponseView) -> ParsedChallenges:
    """What ``parse_response_challenges`` must answer, parsed line by line with nothing shared."""
    out, seen = ParsedChallenges(), Counter()
    for key, value in response.headers:
        header = key.lower()
        if header in CHALLENGE_HEADERS:
            parse_challenge_header(value, header, seen[header], out)
            seen[header] += 1
    return out.frozen()


_LINES = ("Bearer", 'Bearer realm="api", error="invalid_token"', "Basic realm=x", "Negotiate",
          'Bearer error="insufficient_scope", scope="a b"', 'Basic realm="x', "", "abc== , x")


@given(st.lists(st.tuples(st.sampled_from(("WWW-Authenticate", "www-authenticate",
                                           "Proxy-Authenticate", "Content-Type")),
                          st.sampled_from(_LINES)), max_size=4))
def test_a_remembered_parse_is_the_parse_of_these_lines(headers):
    """One parse is shared by every response with the same challenge lines: never by a response
    whose lines differ, in header, order or number (hypothesis keeps the memo across examples)."""
    response = ResponseView(401, tuple(headers))
    assert parse_response_challenges(response) == fresh_parse(response)


def test_the_analysis_leaves_the_shared_parses_as_it_found_them():
    """Checks read the shared parse and must not change it: after the corpus went through the
    analyzer twice, every remembered parse still equals a fresh one of its lines."""
    analyzer = Analyzer(trackers=default_trackers())
    exchanges = [to_exchange(record) for record in RECORDS.values()]
    for exchange in exchanges * 2:
        analyzer.analyze(exchange)
        analyzer.describe(exchange)
    assert len(PARSED_LINES) > 10
    assert parse_response_challenges(ResponseView(401)) == ParsedChallenges((), ())  # the shared empty one
    for lines, parsed in PARSED_LINES.items():
        headers = tuple(zip(lines[::2], lines[1::2], strict=False))
        assert parsed == fresh_parse(ResponseView(401, headers)), lines


def test_a_shared_parse_cannot_be_changed():
    parsed = parse_response_challenges(ResponseView(401, (("WWW-Authenticate", 'Bearer realm="api"'),)))
    challenge, = parsed.challenges
    with pytest.raises(TypeError):
        challenge.params["realm"] = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        challenge.token68 = "x"
    with pytest.raises(AttributeError):
        parsed.challenges.append(challenge)
