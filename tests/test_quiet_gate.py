"""The cheap gate (``adapter.quiet_key`` + ``Analyzer.quiet``): a successful call whose request
side was found clean before is counted and fed to the token lifecycle without an analysis, and
every call the gate passes would have been found clean by the full analysis."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from factories import NOW, mint
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from authlens.mitm import addon as addon_module
from authlens.mitm.adapter import quiet_key
from authlens.mitm.addon import make_addons
from authlens.oauth import timeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import traffic  # noqa: E402


def flow(authorization: str | None = None, status: int = 200, sent: float = NOW,
         url: str = "https://api.example.test/v1/orders?page=2", method: str = "GET",
         response_headers: tuple = (("Content-Type", "application/json"),),
         body: bytes = b'{"orders": []}', headers: tuple = ()) -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    headers = [(b"Accept", b"application/json"), *((k.encode(), v.encode()) for k, v in headers)]
    if authorization is not None:
        headers.append((b"Authorization", authorization.encode()))
    f.request = http.Request.make(method, url, b"", headers)
    f.request.timestamp_start = sent
    f.response = http.Response.make(status, body, [(k.encode(), v.encode())
                                                   for k, v in response_headers])
    f.response.timestamp_start = sent + 0.05
    return f


@pytest.fixture
def lens():
    authlens, = make_addons()
    with taddons.context(authlens) as tctx:
        tctx.configure(authlens, authlens_output="off")
        yield authlens


def analyses(lens, monkeypatch) -> list:
    """The exchanges the full analysis sees from now on."""
    seen: list = []
    analyze = lens.diagnose.analyzer.analyze
    monkeypatch.setattr(lens.diagnose.analyzer, "analyze", lambda ex: seen.append(ex) or analyze(ex))
    return seen


def test_a_clean_success_seen_before_is_counted_without_an_analysis(lens, monkeypatch):
    token = mint()
    lens.response(flow(f"Bearer {token}"))  # first time: analysed, found clean, remembered
    seen = analyses(lens, monkeypatch)
    for i in range(5):
        lens.response(flow(f"Bearer {token}", sent=NOW + i))
    assert seen == []
    assert lens.diagnose.session.seen == 6


@pytest.mark.parametrize("later", [
    {"sent": NOW + 7200},  # the token expired meanwhile
    {"status": 401},
    {"response_headers": (("WWW-Authenticate", 'Bearer error="invalid_token"'),)},
    {"response_headers": (("Set-Cookie", "sid=1; Path=/"),)},  # the cookie jar must see it
    {"body": b'{"ok": false, "error": "invalid_auth"}'},  # Slack's refusal in a 200
    # GitHub's SSO refusal in a 200, on a host no rule names (GitHub Enterprise, a test server)
    {"response_headers": (("X-GitHub-SSO", "required; url=https://github.com/orgs/o/sso"),)},
    {"response_headers": (("x-github-sso", "partial-results; organizations=1"),)},
    {"method": "POST"},
    {"method": "OPTIONS"},
    {"url": "https://api.example.test/v1/orders?access_token=qtok_0123456789abcdef"},
    {"url": "http://api.example.test/v1/orders"},  # another scheme: another request side
    {"url": "https://api.example.test/.well-known/oauth-protected-resource"},  # discovery
    {"url": "https://api.example.test/authorize?response_type=code&client_id=a"},
    {"body": b'{"keys": [{"kty": "RSA", "kid": "1"}]}'},  # a JWKS
    {"headers": (("DPoP", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.sig"),)},
])
def test_anything_else_gets_the_full_analysis(lens, monkeypatch, later):
    token = mint()
    lens.response(flow(f"Bearer {token}"))
    seen = analyses(lens, monkeypatch)
    lens.response(flow(f"Bearer {token}", **later))
    assert len(seen) == 1


def test_a_token_expired_since_the_gate_passed_it_is_found(lens):
    token = mint(lifetime=600)
    lens.response(flow(f"Bearer {token}"))
    lens.response(flow(f"Bearer {token}", sent=NOW + 10))
    late = flow(f"Bearer {token}", sent=NOW + 3600)
    lens.response(late)
    assert [f["id"] for f in late.metadata["authlens"]["findings"]] == ["token-expired"]


def test_a_rule_reading_errors_in_a_200_body_is_not_skipped(lens, monkeypatch):
    """Graph's preset reads error.code from any status; a body that may hold it is analysed."""
    url = "https://graph.microsoft.com/v1.0/me"
    token = mint(aud="https://graph.microsoft.com")
    lens.response(flow(f"Bearer {token}", url=url))
    seen = analyses(lens, monkeypatch)
    lens.response(flow(f"Bearer {token}", url=url, body=b'{"value": []}'))
    assert seen == []
    lens.response(flow(f"Bearer {token}", url=url, body=b'{"error": {"code": "x"}}'))
    assert len(seen) == 1


def test_a_header_the_rule_reads_errors_from_is_not_skipped(lens, monkeypatch):
    url = "https://api.github.com/user"
    lens.response(flow("Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyz", url=url))
    seen = analyses(lens, monkeypatch)
    lens.response(flow("Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyz", url=url))
    assert seen == []
    lens.response(flow("Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyz", url=url,
                       response_headers=(("X-GitHub-SSO", "required; url=https://x"),)))
    assert len(seen) == 1


def test_an_annotated_flow_replayed_is_analysed_again(lens):
    f = flow(f"Bearer {mint()}")
    lens.response(f)
    f.comment = "[authlens] stale"
    assert quiet_key(f) is None


def run_all(flows, gate: bool, monkeypatch) -> tuple[tuple, int]:
    """(the session's diagnoses, the token timelines, the flows seen), with or without the gate,
    and how many flows the full analysis saw."""
    if not gate:
        monkeypatch.setattr(addon_module, "quiet_key", lambda f: None)
    authlens, = make_addons()
    with taddons.context(authlens) as tctx:
        tctx.configure(authlens, authlens_output="off")
        authlens.response(flows[0])  # loads the rules: a new analyzer
        seen = analyses(authlens, monkeypatch)
        for f in flows[1:]:
            authlens.response(f)
    diagnose = authlens.diagnose
    monkeypatch.undo()
    return (list(diagnose.session.diagnoses()), timeline.recent(diagnose.lifecycle),
            diagnose.session.seen), len(seen)


def token_flows(rng: random.Random) -> list:
    """Token endpoint answers, then calls with those tokens, some late, some refused."""
    out = []
    for client in range(3):
        access = f"AT-{client}-0123456789abcdef"
        issue = tflow.tflow(resp=True)
        issue.request = http.Request.make(
            "POST", "https://login.example.test/oauth/token",
            f"grant_type=client_credentials&client_id=app{client}",
            {"Content-Type": "application/x-www-form-urlencoded"})
        issue.request.timestamp_start = NOW + client
        issue.response = http.Response.make(200, json.dumps(
            {"access_token": access, "expires_in": 600, "token_type": "Bearer"}).encode(),
            {"Content-Type": "application/json"})
        issue.response.timestamp_start = NOW + client + 0.1
        out.append(issue)
        for i in range(20):
            status = 401 if rng.random() < 0.2 else 200
            out.append(flow(f"Bearer {access}", status=status, sent=NOW + 10 + i * rng.choice(
                [1, 60]), url=f"https://api.example.test/v1/items/{i}"))
    return out


def test_the_gate_changes_no_diagnosis_no_timeline_and_no_count(monkeypatch):
    rng = random.Random(24)
    mix = traffic.requests(600, tokens=[traffic.mint(c, 0) for c in range(traffic.CLIENTS)]
                           + [traffic.mint(9, 0, sent=traffic.NOW - 7200)])
    flows_a = [traffic.flow(r, sent=traffic.NOW + rng.choice([0, 30, 4000])) for r in mix]
    flows_b = [traffic.flow(r, sent=f.request.timestamp_start) for r, f in zip(mix, flows_a, strict=True)]
    for a, b in zip(flows_a, flows_b, strict=True):
        b.id = a.id
    tokens_a, tokens_b = token_flows(random.Random(1)), token_flows(random.Random(1))
    for a, b in zip(tokens_a, tokens_b, strict=True):
        b.id = a.id
    with_gate, analysed = run_all(flows_a + tokens_a, True, monkeypatch)
    without, all_of_them = run_all(flows_b + tokens_b, False, monkeypatch)
    assert with_gate == without
    assert all_of_them == len(flows_a) + len(tokens_a) - 1 and analysed < all_of_them / 2
    assert with_gate[2] == len(flows_a) + len(tokens_a)
    assert any(t["events"] for t in with_gate[1])  # the lifecycle saw the uses


def test_every_shipped_tracker_takes_part_in_the_gate():
    """A tracker without ``quiet`` switches the gate off for all traffic (safe, but slow)."""
    from authlens.analyze import Analyzer, default_trackers
    assert Analyzer(trackers=default_trackers())._tracker_quiet is not None


def test_the_gate_calls_only_the_trackers_that_keep_something_of_a_quiet_success():
    """``always_quiet`` trackers are not called per quiet flow; the others still are."""
    from authlens.analyze import Analyzer, default_trackers
    trackers = default_trackers()
    called = {type(t).__name__ for t in trackers
              if any(q.__self__ is t for q in Analyzer(trackers=trackers)._tracker_quiet)}
    assert called == {"RedirectTracker", "TokenLifecycle"}
