"""Fuzzing: every parser and the addon's hooks, on generated input. Nothing may raise, a flow must
leave the hooks as it came in (but for authlens' comment, marker and metadata), and a megabyte
of input must not take quadratic time.

``AUTHLENS_FUZZ_EXAMPLES`` sets the examples per property (default 300, as CI runs it);
``bench/fuzz.py`` runs the long campaign.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.parse
from io import BytesIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlens import challenge, cookies
from authlens.analyze import Analyzer, Settings, default_trackers
from authlens.model import Exchange, RequestView, ResponseView
from authlens.rules import RuleStore, load_text
from authlens.secrecy import Redactor

EXAMPLES = int(os.environ.get("AUTHLENS_FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

# ---- strategies ---------------------------------------------------------------------------------

ODD = (' \t\r\n"\'`,;=:/\\.{}$<>%@#*+-_~\x00\x0b\x7f\u00a0\u2026\u200b\u200d\u2060\ufeff'
       "\u201c\u201d\udc80\udcff")
"""Characters parsers trip over; the last two are raw bytes as mitmproxy decodes them."""
WORDS = ("Bearer", "bearer", "Basic", "Digest", "DPoP", "token", "Token", "Negotiate", "eyJ",
         "realm", "error", "scope", "error_description", "invalid_token", "insufficient_scope",
         "charset", "UTF-8", "claims", "nonce", "access_token", "null", "undefined", "${TOKEN}",
         "{{token}}", "Authorization:", "=", "==", '"', '\\"', ",", ", ", " ", "  ", "\t", ";")
HOSTS = ("api.example.com", "graph.microsoft.com", "api.github.com", "slack.com",
         "login.microsoftonline.com", "www.googleapis.com", "api.stripe.com",
         "abc.execute-api.us-east-1.amazonaws.com", "contoso.sharepoint.com", "127.0.0.1")

char = st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(ODD))
small_text = st.text(char, max_size=40)
header_value = st.one_of(st.text(char, max_size=300),
                         st.lists(st.one_of(st.sampled_from(WORDS), small_text),
                                  max_size=14).map("".join))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), small_text,
              st.sampled_from(WORDS)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(("error", "code", "message", "ok", "errors",
                                                   "reason", "error_description", "status",
                                                   "access_token", "expires_in", "0", "alg",
                                                   "exp", "iat", "nbf", "aud", "scp")),
                                  small_text), inner, max_size=5)),
    max_leaves=12)
json_bytes = json_value.map(lambda v: json.dumps(v).encode())
segment = st.one_of(json_bytes, st.binary(max_size=60)).map(_b64)
jwt_like = st.lists(st.one_of(segment, small_text), min_size=1, max_size=6).map(".".join)
body = st.one_of(json_bytes, st.binary(max_size=300), st.text(char, max_size=200).map(
    lambda t: t.encode("utf-8", "surrogateescape")))
form_body = st.lists(st.tuples(
    st.sampled_from(("grant_type", "refresh_token", "client_id", "client_secret", "code",
                     "token", "access_token", "password", "scope", "assertion", "x")),
    st.one_of(small_text, jwt_like)), max_size=6).map(
    lambda pairs: "&".join(f"{urllib.parse.quote(k)}={urllib.parse.quote(v, safe='=+%')}"
                           for k, v in pairs).encode("utf-8", "surrogateescape"))
status = st.sampled_from((200, 201, 204, 302, 400, 401, 403, 404, 407, 429, 500))


# ---- the core -----------------------------------------------------------------------------------

def _analyzer() -> Analyzer:
    store = RuleStore([], presets=True)
    store.reload()
    return Analyzer(Settings(rules=store.ruleset), trackers=default_trackers())


ANALYZER = _analyzer()
"""One analyzer for all examples, so the trackers' state is fuzzed too."""


def analyze(request_headers=(), response_headers=(), code=401, request_body=b"",
            response_body=b"", host="api.example.com", method="GET", path="/v1/x"):
    exchange = Exchange(
        RequestView(method, f"https://{host}{path}", tuple(request_headers), request_body,
                    timestamp=1_790_000_000.0),
        ResponseView(code, tuple(response_headers), response_body, timestamp=1_790_000_000.1),
        id="fuzz", client="10.0.0.1")
    diagnosis = ANALYZER.analyze(exchange)
    json.dumps(diagnosis.to_dict())  # plain types only
    return diagnosis


@fuzz
@given(value=header_value,
       name=st.sampled_from(("Authorization", "Proxy-Authorization", "X-API-Key", "Cookie",
                             "Authorisation", "token")),
       code=status, host=st.sampled_from(HOSTS))
def test_authorization_values(value, name, code, host):
    analyze([(name, value)], code=code, host=host)


@fuzz
@given(value=header_value, code=status, credential=st.one_of(st.none(), header_value))
def test_www_authenticate_values(value, code, credential):
    challenge.parse_challenge_header(value)
    request = [("Authorization", credential)] if credential is not None else []
    analyze(request, [("WWW-Authenticate", value), ("Proxy-Authenticate", value)], code=code)


@fuzz
@given(token=st.one_of(jwt_like, jwt_like.map(lambda t: "eyJ" + t)),
       scheme=st.sampled_from(("Bearer ", "DPoP ", "", "Bearer  ")), code=status)
def test_jwt_segments(token, scheme, code):
    analyze([("Authorization", scheme + token)], code=code)


time_value = st.one_of(st.floats(), st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
                       st.sampled_from((float("nan"), float("inf"), -float("inf"), 1e308, 2 ** 63)),
                       st.booleans(), small_text)


@fuzz
@given(times=st.dictionaries(st.sampled_from(("exp", "nbf", "iat")), time_value, max_size=3),
       code=status)
def test_token_times_of_any_value_are_read_and_shown(times, code):
    """NaN, ±inf, 1e400, strings: the analysis, the view and the block never raise."""
    from authlens.render import terminal, text
    token = f"{_b64(json.dumps({'alg': 'HS256'}).encode())}.{_b64(json.dumps(times).encode())}.c2ln"
    shown = analyze([("Authorization", f"Bearer {token}")], code=code).to_dict()
    text.explain(shown, now=1_790_000_000.0, width=80)
    terminal.render_block(shown)


@fuzz
@given(data=body, code=status, host=st.sampled_from(HOSTS),
       ctype=st.sampled_from(("application/json", "application/problem+json", "text/plain",
                              "application/x-www-form-urlencoded", "")))
def test_error_bodies(data, code, host, ctype):
    analyze([("Authorization", "Bearer abc.def")], [("Content-Type", ctype)], code=code,
            response_body=data, host=host)


@fuzz
@given(form=form_body, answer=body, code=status,
       path=st.sampled_from(("/oauth2/v2.0/token", "/token", "/oauth/revoke", "/v1/x")))
def test_form_bodies(form, answer, code, path):
    analyze([("Content-Type", "application/x-www-form-urlencoded")],
            [("Content-Type", "application/json")], code=code, request_body=form,
            response_body=answer, host="login.microsoftonline.com", method="POST", path=path)


@fuzz
@given(line=header_value)
def test_set_cookie_values(line):
    request = RequestView("GET", "https://app.example.com/a/b", ())
    cookies.parse_set_cookie(line, request, 1_790_000_000.0)
    analyze([("Cookie", line)], [("Set-Cookie", line), ("Location", line)], code=302)


TOML = ("[[rule]]\n", "[rule.token]\n", "[[rule.credential]]\n", "[rule.errors]\n",
        "[rule.errors.codes.X]\n", "[[jwks]]\n", "[[rule.environments]]\n", 'name = "a"\n',
        'hosts = ["*.example.com", "api.x"]\n', 'paths = ["/v1/"]\n', 'schemes = ["Bearer"]\n',
        'header = "X-Key"\n', 'audiences = ["{host}"]\n', "statuses = [200, 401]\n",
        'verdict = "authentication"\n', 'meaning = "m"\n', "max_skew = -1\n", "enabled = false\n",
        'code_fields = ["error.code"]\n', 'file = "k.json"\n', "= \n", '"\n', "[\n", "\n")


@fuzz
@given(text=st.one_of(st.lists(st.one_of(st.sampled_from(TOML), small_text),
                               max_size=16).map("".join), st.text(char, max_size=300)))
def test_rule_files(text):
    loaded = load_text(text, "fuzz.toml")
    for error in loaded.errors:
        str(error)


# ---- the redact command -------------------------------------------------------------------------

REDACT_TYPES = ("", "application/json", "application/x-www-form-urlencoded", "text/xml",
                'multipart/form-data; boundary="b"', "multipart/form-data; boundary=b",
                "multipart/mixed", "application/soap+xml; charset=utf-8")
REDACT_PIECES = ("--b", "\r\n", "\r\n\r\n", 'Content-Disposition: form-data; name="password"',
                 "<wsse:Password>", "</wsse:Password>", "<access_token>", "</access_token>",
                 "<a:", "access_token=", "&", "#", "?", "<", ">", "REDACTED-", "; rel=")


@fuzz
@given(text=st.one_of(st.lists(st.one_of(st.sampled_from(REDACT_PIECES + WORDS), small_text),
                               max_size=16).map("".join), st.text(char, max_size=300)),
       content_type=st.sampled_from(REDACT_TYPES),
       header=st.sampled_from(("Authorization", "Link", "Location", "X-Original-URL", "Cookie",
                               "Set-Cookie", "Accept")))
def test_redaction_of_bodies_and_headers(text, content_type, header):
    redactor = Redactor()
    redactor.body(text, content_type)
    redactor.header(header, text)
    redactor.url(text)


# ---- the addon's hooks --------------------------------------------------------------------------

raw_header = st.tuples(st.one_of(st.sampled_from((b"Authorization", b"WWW-Authenticate",
                                                  b"Content-Type", b"Cookie", b"Set-Cookie",
                                                  b"X-API-Key", b"Location", b"Origin",
                                                  b"Content-Encoding")),
                                 st.binary(min_size=1, max_size=20)),
                       st.one_of(header_value.map(lambda v: v.encode("utf-8", "surrogateescape")),
                                 st.binary(max_size=100)))


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list = []

    def emit(self, record):
        self.records.append(record.getMessage())


def _state(flow) -> dict:
    state = flow.get_state()
    for key in ("comment", "marked", "metadata"):
        state.pop(key, None)
    return state


@pytest.fixture(scope="module")
def hooks():
    from mitmproxy.test import taddons

    from authlens.mitm.addon import make_addons
    authlens, = make_addons()
    errors = _Errors()
    logging.getLogger("authlens").addHandler(errors)
    with taddons.context(authlens) as tctx:
        tctx.configure(authlens, authlens_output="off")
        yield [authlens.response], errors
    logging.getLogger("authlens").removeHandler(errors)


@fuzz
@given(request_headers=st.lists(raw_header, max_size=6),
       response_headers=st.lists(raw_header, max_size=6),
       request_body=st.one_of(form_body, body), response_body=body, code=status,
       method=st.sampled_from(("GET", "POST", "OPTIONS")))
def test_hooks_never_raise_nor_change_the_flow(hooks, request_headers, response_headers,
                                                request_body, response_body, code, method):
    from mitmproxy import http, io
    from mitmproxy.test import tflow
    run, errors = hooks
    flow = tflow.tflow()
    # the bytes as they came off the wire: ``make(content, headers)`` would encode the body by a
    # fuzzed Content-Encoding (``utf``), and mitmproxy itself raises on that
    flow.request = http.Request.make(method, "https://api.example.com/v1/x?access_token=a")
    flow.request.headers = http.Headers(request_headers)
    flow.request.raw_content = request_body
    flow.response = http.Response.make(code)
    flow.response.headers = http.Headers(response_headers)
    flow.response.raw_content = response_body
    before = _state(flow)
    for hook in run:
        hook(flow)
    assert errors.records == []
    assert _state(flow) == before
    io.FlowWriter(BytesIO()).add(flow)  # what `mitmdump -w` does: the annotations must serialise


# ---- bounded time -------------------------------------------------------------------------------

MB = 1024 * 1024
HUGE = {
    "bearer token": ([("Authorization", "Bearer " + "a" * MB)], [], b""),
    "spaces": ([("Authorization", " " * MB + "x")], [], b""),
    "invisible": ([("Authorization", "Bearer " + "\u200b" * MB)], [], b""),
    "quotes": ([("Authorization", '"' * MB)], [], b""),
    "commas": ([("Authorization", "Bearer a, " * (MB // 10))], [], b""),
    "dots": ([("Authorization", "Bearer eyJ" + "." * MB)], [], b""),
    "params": ([("Authorization", 'Digest a="b", ' * (MB // 14))], [], b""),
    "cookie": ([("Cookie", "session=a; " * (MB // 11))], [], b""),
    "api key": ([("X-API-Key", "\t" * MB)], [], b""),
    "challenge": ([], [("WWW-Authenticate", 'Bearer realm="' + "a" * MB)], b""),
    "challenge params": ([], [("WWW-Authenticate", "Bearer " + "a=b, " * (MB // 5))], b""),
    "challenge commas": ([], [("WWW-Authenticate", ", " * (MB // 2))], b""),
    "challenge token68": ([], [("WWW-Authenticate", "Negotiate " + "a" * MB + "=")], b""),
    "nested json": ([], [("Content-Type", "application/json")], b"[" * MB),
    "json string": ([], [("Content-Type", "application/json")],
                    b'{"error": "' + b"e" * MB + b'"}'),
    "form body": ([], [], b"error=" + b"a&" * (MB // 2)),
    "secret-shaped body": ([], [("Content-Type", "application/json")],
                           b'{"message": "' + b"eyJabcdefghij." * (MB // 14) + b'"}'),
}


HUGE_TO_REDACT = {
    "multipart parts": ('multipart/form-data; boundary="b"',
                        '--b\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n' *
                        (MB // 60)),
    "multipart head": ("multipart/form-data; boundary=b",
                       "--b\r\nContent-Disposition: " + "name=" * (MB // 5)),
    "xml tags": ("text/xml", "<a_token" * (MB // 8)),
    "xml names": ("text/xml", "<" + "a" * MB + "token>x</" + "a" * MB + "token>"),
    "xml elements": ("text/xml", "<p:password>x</p:password>" * (MB // 26)),
}


@pytest.mark.parametrize("case", sorted(HUGE_TO_REDACT))
def test_a_megabyte_of_body_is_redacted_in_bounded_time(case):
    content_type, text = HUGE_TO_REDACT[case]
    start = time.perf_counter()
    Redactor().body(text, content_type)
    assert time.perf_counter() - start < 2.0, case  # quadratic would take minutes


@pytest.mark.parametrize("case", sorted(HUGE))
def test_a_megabyte_of_input_is_analyzed_in_bounded_time(case):
    request_headers, response_headers, data = HUGE[case]
    start = time.perf_counter()
    for host in ("api.example.com", "graph.microsoft.com"):
        analyze(request_headers, response_headers, code=401, response_body=data, host=host)
    assert time.perf_counter() - start < 2.0, case  # two analyses; quadratic would take minutes
