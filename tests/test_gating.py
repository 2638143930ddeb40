"""The analyzer skips checks marked ``on_failure`` when ``Context.succeeded``: that is only right
if such a check never finds anything on a successful call. It runs the checks marked
``per_credentials`` on the call's ``RequestSide`` and shares their findings between calls: that
is only right if they find on it what they find on the whole call. Held here on the sample
captures, the corpus, hand-made successes and generated exchanges (with the shipped presets in
force)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import NOW, exchange, mint
from hypothesis import example, given
from hypothesis import strategies as st
from test_corpus import RECORDS, to_exchange
from test_fuzz import HOSTS, body, fuzz, header_value, small_text

from authlens import bodies, capture, secrecy
from authlens.analyze import REMEMBERED_MAX_CHARS, Analyzer, Context, Settings, default_checks
from authlens.model import Exchange, RequestView, ResponseView
from authlens.rules import RuleStore
from authlens.rules import checks as rule_checks
from authlens.rules.rule import ErrorSpec

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
FAILURE_CHECKS = [c for c in default_checks() if getattr(c, "on_failure", False)]
REQUEST_SIDE_CHECKS = [c for c in default_checks() if getattr(c, "per_credentials", False)]


def _settings() -> Settings:
    store = RuleStore([], presets=True)
    store.reload()
    return Settings(rules=store.ruleset)


SETTINGS = _settings()


def silent_on_success(ex: Exchange) -> bool:
    """True when the call succeeded; then asserts every failure check is silent."""
    ctx = Context(ex, SETTINGS)
    if not ctx.succeeded:
        return False
    for check in FAILURE_CHECKS:
        assert list(check(ctx)) == [], (check.__name__, ex.request.url)
    return True


def request_side_agrees(ex: Exchange) -> bool:
    """True when the call succeeded; then asserts every ``per_credentials`` check finds on the
    request side alone what it finds on the whole call."""
    ctx = Context(ex, SETTINGS)
    if not ctx.succeeded:
        return False
    for check in REQUEST_SIDE_CHECKS:
        assert list(check(ctx.request_side)) == list(check(ctx)), (check.__name__, ex.request.url)
    return True


def sample_exchanges() -> list[Exchange]:
    exchanges = [ex for path in capture.expand([str(CAPTURES)]) for ex in capture.exchanges(path)]
    return exchanges + [to_exchange(r) for r in RECORDS.values()] + HAND_MADE


HAND_MADE = [
    exchange(f'"Bearer {mint()}"'),
    exchange(mint()),
    exchange("Bearer {{accessToken}}"),
    exchange(f"Bearer {mint(lifetime=60, issued=NOW - 3600)}"),  # expired, yet accepted
    exchange("Basic !!!"),
    exchange("Bearer x", url="https://graph.microsoft.com/v1.0/me"),
    exchange(None, headers=(("Authorisation", "Bearer abc"),)),
    exchange("Bearer abc", status=302, response_headers=(("Location", "https://login.test/"),)),
    exchange("Negotiate abc", response_headers=(("WWW-Authenticate", "Negotiate def"),)),
    exchange("Bearer abc", url="https://slack.com/api/chat.postMessage", method="POST",
             response_headers=(("Content-Type", "application/json"),),
             response_body=b'{"ok":false,"error":"invalid_auth"}'),
    exchange("Bearer abc", url="https://api.github.com/user",
             response_headers=(("X-Accepted-OAuth-Scopes", "repo"), ("X-OAuth-Scopes", ""))),
    exchange("Bearer abc", status=404, url="https://api.github.com/repos/o/r"),
    exchange("Bearer abc", status=None),
]


def test_the_marked_checks_are_the_response_side_ones():
    names = {c.__name__ for c in FAILURE_CHECKS}
    assert {"check_status_fallback", "check_error_body", "check_token_audience"} <= names
    assert not names & {"check_credential_lint", "check_token_times", "check_credential_in_url"}


def test_failure_checks_are_silent_on_successful_calls():
    succeeded = [silent_on_success(ex) for ex in sample_exchanges()]
    assert 10 < sum(succeeded) < len(succeeded) - 50  # both kinds, or this proves nothing


def test_the_request_side_checks_are_the_credential_ones():
    names = {c.__name__ for c in REQUEST_SIDE_CHECKS}
    assert {"check_credential_lint", "check_token_shape", "check_credential_over_http"} <= names
    assert not names & {"check_token_times", "check_token_signature"}  # time, rule: per call
    assert not names & {c.__name__ for c in FAILURE_CHECKS}


def test_request_side_checks_find_the_same_on_the_request_side():
    assert sum(request_side_agrees(ex) for ex in sample_exchanges()) > 10


def test_shared_request_side_findings_still_judge_each_call_on_its_own_time():
    quoted = f'"Bearer {mint(lifetime=600, issued=NOW)}"'
    az = Analyzer(SETTINGS)
    fresh = az.analyze(exchange(quoted, sent=NOW + 60))
    later = az.analyze(exchange(quoted, sent=NOW + 3600))
    assert [f.id for f in fresh.findings] == ["credential-quoted"]
    assert sorted(f.id for f in later.findings) == ["credential-quoted", "token-expired"]
    assert len(az._remembered) == 1  # one request side, shared by both calls


def test_a_huge_credential_is_not_remembered():
    az = Analyzer(SETTINGS)
    az.analyze(exchange("Bearer " + "a" * REMEMBERED_MAX_CHARS))
    az.analyze(exchange("Bearer abc"))
    assert len(az._remembered) == 1


def test_a_successful_call_still_gets_its_request_side_findings():
    findings = Analyzer(SETTINGS).analyze(exchange(f'"Bearer {mint()}"')).findings
    assert [f.id for f in findings] == ["credential-quoted"]


@fuzz
@given(request_headers=st.lists(st.tuples(st.sampled_from(
           ("Authorization", "X-API-Key", "Cookie", "Authorisation", "Proxy-Authorization")),
           header_value), max_size=3),
       response_headers=st.lists(st.tuples(st.sampled_from(
           ("Content-Type", "WWW-Authenticate", "X-OAuth-Scopes", "X-Accepted-OAuth-Scopes",
            "x-ms-diagnostics", "Location")), header_value), max_size=3),
       code=st.sampled_from((200, 201, 204, 301, 302, 304)), response_body=body,
       host=st.sampled_from(HOSTS), path=small_text, method=st.sampled_from(("GET", "POST")))
def test_failure_checks_are_silent_on_generated_successes(request_headers, response_headers, code,
                                                          response_body, host, path, method):
    ex = Exchange(RequestView(method, f"https://{host}/{path}", tuple(request_headers),
                              timestamp=NOW),
                  ResponseView(code, tuple(response_headers), response_body, timestamp=NOW))
    silent_on_success(ex)
    request_side_agrees(ex)


@pytest.mark.parametrize("status", [401, 403, 407, 500])
def test_an_error_status_never_counts_as_success(status):
    assert not Context(exchange("Bearer abc", status=status), SETTINGS).succeeded


def test_shared_request_side_findings_are_per_destination():
    az = Analyzer(SETTINGS)
    local = az.analyze(exchange("Bearer abc", url="http://127.0.0.1:8080/v1/orders"))
    remote = az.analyze(exchange("Bearer abc", url="http://api.example.test/v1/orders"))
    assert "credential-over-http" not in [f.id for f in local.findings]
    assert "credential-over-http" in [f.id for f in remote.findings]


_FIELD_NAMES = ("ok", "error", "code", "message", "errors", "detail", "é")


def _escaped(name: str, at: int) -> str:
    """``name`` as JSON may write it, with one character as a \\u escape."""
    if not name:
        return name
    at %= len(name)
    return name[:at] + f"\\u{ord(name[at]):04x}" + name[at + 1:]


@fuzz
@given(fields=st.lists(st.sampled_from(_FIELD_NAMES), min_size=1, max_size=3),
       sub=st.sampled_from(("", ".code", ".0", ".message")),
       body_keys=st.lists(st.tuples(st.sampled_from(_FIELD_NAMES), st.integers(0, 8),
                                    st.booleans()), max_size=4),
       value=st.sampled_from(('"E42"', "7", "false", '{"code": "X", "message": "m"}', '["a"]')))
def test_the_body_pretest_never_skips_a_body_the_rule_reads(fields, sub, body_keys, value):
    """``ErrorSpec.body_test`` lets vendor_error skip parsing a body only when no field it reads
    can be in it, however the JSON writes its names."""
    spec = ErrorSpec(ok_field=fields[0], code_fields=tuple(f + sub for f in fields[1:]),
                     message_field=fields[-1] + sub)
    text = "{" + ", ".join(f'"{_escaped(k, at) if escape else k}": {value}'
                           for k, at, escape in body_keys) + "}"
    data = json.loads(text)
    names = (spec.ok_field, *spec.code_fields, spec.message_field)
    if any(bodies.first_value(data, name) is not None for name in names):
        assert rule_checks.may_hold(text.encode(), spec)


_URL_PART = st.text(st.sampled_from("ab=&%?#@:/\t+2F0_"), max_size=12)


@fuzz
@given(names=st.lists(st.sampled_from(("access_token", "Access%5Ftoken", "api_key", "q", "a",
                                       "code", "")), max_size=4),
       values=st.lists(_URL_PART, min_size=4, max_size=4), tail=_URL_PART,
       many=st.booleans(), userinfo=st.sampled_from(("", "user:pw@", "user@")),
       fragment=st.sampled_from(("", "#access_token=abc", "#state=1")))
@example(names=["access_token"], values=["abcdef", "", "", ""], tail="", many=True, userinfo="",
         fragment="")  # a credential past the pairs extraction reads
@example(names=["q", "access_token"], values=["x" * 17_000, "abcdef", "", ""], tail="",
         many=False, userinfo="", fragment="")  # ... past the characters it reads
def test_the_shown_request_url_is_the_redacted_url(names, values, tail, many, userinfo,
                                                    fragment):
    """``Context.shown_request_url`` skips ``redact_url`` only where it would change nothing."""
    pairs = [f"{name}={value}" for name, value in zip(names, values, strict=False)]
    if many:
        pairs = ["x=1"] * 300 + pairs
    url = f"https://{userinfo}api.example.test/v1/items?" + "&".join(pairs) + tail + fragment
    ctx = Context(Exchange(RequestView("GET", url, timestamp=NOW)), SETTINGS)
    assert ctx.shown_request_url() == secrecy.redact_url(url)
