"""Token lifecycle: token-endpoint parsing, every lifecycle finding (true and false positives),
links, timelines, replays and bounded memory, on factories-built conversations."""

from __future__ import annotations

import base64
import json

import pytest
from conversation import Conversation, only, step
from factories import NOW, exchange, ids, mint
from rich.console import Console

from authlens import secrecy
from authlens.analyze import Context, Settings
from authlens.humanize import clock
from authlens.model import RequestView, ResponseView
from authlens.oauth import grants, timeline
from authlens.oauth.lifecycle import TokenLifecycle, lifecycle_of
from authlens.render import terminal, text
from authlens.render.report import Tally

TOKEN_URL = "https://login.example.test/tenant-a/oauth2/v2.0/token"
API = "https://api.example.test/v1/orders"
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
JSON = (("Content-Type", "application/json"),)


def grant(flow_id, body, answer, at=0.0, status=200, url=TOKEN_URL, client="10.0.0.7",
          headers=()):
    return step(flow_id, url, status, at, client=client, method="POST", body=body.encode(),
                headers=FORM + tuple(headers), response_headers=JSON,
                response_body=json.dumps(answer).encode())


def issued(access, refresh=None, expires_in=3600, **extra):
    answer = {"access_token": access, "token_type": "Bearer", **extra}
    if expires_in is not None:
        answer["expires_in"] = expires_in
    if refresh:
        answer["refresh_token"] = refresh
    return answer


def login(flow_id="login", access="AT-one-opaque-0123456789", refresh="RT-one", at=0.0, **kw):
    return grant(flow_id, "grant_type=authorization_code&client_id=app&code=c1&redirect_uri="
                 "https%3A%2F%2Fapp.test%2Fcb&scope=orders.read+offline_access",
                 issued(access, refresh, **kw), at)


def refresh(flow_id, refresh_token, answer, at, client_id="app", url=TOKEN_URL, status=200):
    return grant(flow_id, f"grant_type=refresh_token&client_id={client_id}"
                 f"&refresh_token={refresh_token}", answer, at, status, url)


def call(flow_id, access, at, status=200, url=API, client="10.0.0.7"):
    return step(flow_id, url, status, at, client=client, authorization=f"Bearer {access}")


# ---- grants: reading token-endpoint traffic --------------------------------------------------

def _request(body, url=TOKEN_URL, headers=FORM, method="POST"):
    return RequestView(method, url, headers, body.encode(), timestamp=NOW)


def test_form_grant_on_any_host_with_basic_client_auth():
    basic = base64.b64encode(b"my%20app:s3cret").decode()
    req = grants.parse_request(_request(
        "grant_type=client_credentials&scope=a&resource=https%3A%2F%2Fapi&resource=urn%3Ab",
        url="http://127.0.0.1:8080/anything",
        headers=FORM + (("Authorization", f"Basic {basic}"),)))
    assert (req.grant, req.client_id, req.client_auth) == ("client_credentials", "my app", "basic")
    assert (req.endpoint, req.scope, req.audience) == ("127.0.0.1:8080/anything", "a",
                                                       "https://api urn:b")


def test_client_assertion_names_the_client_and_refresh_token_is_only_a_key():
    assertion = mint(iss="app-7", sub="app-7", aud=TOKEN_URL)
    req = grants.parse_request(_request(
        "grant_type=refresh_token&refresh_token=RT-secret&client_assertion_type=urn%3Aietf%3A"
        f"params%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"))
    assert (req.client_id, req.client_auth) == ("app-7", "assertion")
    assert req.refresh_key == grants.key("RT-secret") and "RT-secret" not in repr(req)


def test_json_bodies_only_at_well_known_token_paths_and_revocations():
    body = json.dumps({"grant_type": "password", "client_id": "spa", "username": "u"})
    assert grants.parse_request(_request(body, headers=JSON)).grant == "password"
    assert grants.parse_request(_request(body, url="https://x.test/api/login", headers=JSON)) \
        is None
    rev = grants.parse_request(_request("token=RT-1&token_type_hint=refresh_token",
                                        url="https://login.example.test/oauth2/revoke"))
    assert rev == grants.Revocation("login.example.test/oauth2/revoke", grants.key("RT-1"), "")
    assert grants.parse_request(_request("token=abc", url="https://x.test/search")) is None
    assert grants.parse_request(_request("grant_type=password", method="GET")) is None
    assert grants.parse_request(_request("q=1&page=2")) is None


@pytest.mark.parametrize("body, expected", [
    (b'{"access_token":"AT","expires_in":"3599","refresh_token":"RT","scope":"a b"}',
     grants.TokenResponse(access_key=grants.key("AT"), expires_in=3599.0,
                          refresh_key=grants.key("RT"), scope="a b")),
    (b"access_token=gho_x&scope=repo&token_type=bearer",
     grants.TokenResponse(access_key=grants.key("gho_x"), scope="repo")),
    (b'{"error":"invalid_grant","error_description":"AADSTS700082: expired"}',
     grants.TokenResponse(error="invalid_grant")),
    (b'{"expires_in": true}', None),
    (b"<html>", None),
])
def test_token_responses(body, expected):
    assert grants.parse_response(ResponseView(200, JSON, body)) == expected


def test_jwt_access_token_brings_its_exp_and_audience():
    token = mint(lifetime=600, issued=NOW, aud=["api://a", "api://b"])
    answer = grants.parse_response(ResponseView(200, JSON, json.dumps(
        {"access_token": token}).encode()))
    assert (answer.exp, answer.audience, answer.expires_in) == (NOW + 600, "api://a api://b", None)


def test_fingerprints_are_computed_once_per_distinct_token(monkeypatch):
    hashed = []
    real = secrecy.hmac.new
    monkeypatch.setattr(secrecy.hmac, "new", lambda key, data, mod: hashed.append(data) or real(key, data, mod))
    secrecy.DIGESTS.clear()
    for _ in range(5):
        grants.key("AT-cached-token")
        secrecy.redact("AT-cached-token")
    assert hashed == [b"AT-cached-token"]
    assert grants.shown(grants.key("AT-cached-token")) == "#" + secrecy.fingerprint("AT-cached-token")
    huge = "x" * (9 * 1024)
    assert grants.key(huge) == grants.key(huge)
    assert huge not in secrecy.DIGESTS and huge not in grants.key.__self__  # neither cache keeps it


# ---- following a token to the 401 ------------------------------------------------------------

def test_healthy_traffic_gets_no_lifecycle_findings():
    conv = Conversation()
    assert not {"oauth-no-refresh-token", "token-origin"} & set(ids(conv.see(login())))
    d = conv.see(call("c1", "AT-one-opaque-0123456789", 60))
    assert d.verdict is None and not d.links


def test_expired_opaque_token_links_back_to_the_flow_that_issued_it():
    conv = Conversation()
    conv.see(login(), call("c1", "AT-one-opaque-0123456789", 60))
    d = conv.see(call("c2", "AT-one-opaque-0123456789", 3600 + 720, status=401))
    assert (d.verdict, d.cause) == ("authentication", "token-expired")
    assert "expires_in 3600 s" in only(d, "token-expired").message
    origin = only(d, "token-origin")
    assert "authorization_code grant, client app" in origin.message
    assert "sent 2 times" in origin.message
    description = (f"issued by POST login.example.test/tenant-a/oauth2/v2.0/token at "
                   f"{clock(NOW + 0.05)}, lifetime 3600 s, expired 12 min ago")
    assert d.links == [{"relation": "issued-by", "flow": "login", "description": description}]
    assert description in text.comment(d.to_dict())


def test_jwt_expiry_is_reported_once_by_the_token_check():
    token = mint(lifetime=300, issued=NOW)
    conv = Conversation()
    conv.see(login(access=token))
    d = conv.see(call("c1", token, 900, status=401))
    assert ids(d).count("token-expired") == 1 and "token-origin" in ids(d)


def test_stale_token_after_a_refresh_is_the_cause():
    conv = Conversation()
    conv.see(login(), call("c1", "AT-one-opaque-0123456789", 3700, status=401),
             refresh("r1", "RT-one", issued("AT-two-opaque-0123456789", "RT-two"), 3710),
             call("c2", "AT-two-opaque-0123456789", 3720))
    d = conv.see(call("c3", "AT-one-opaque-0123456789", 3730, status=401))
    assert d.cause == "token-stale"
    assert f"{grants.shown(grants.key('AT-two-opaque-0123456789'))} to the same client (app)" \
        in only(d, "token-stale").message
    assert {(link["relation"], link["flow"]) for link in d.links} == {("issued-by", "login"),
                                                                     ("replaced-by", "r1")}


@pytest.mark.parametrize("case", ["before-refresh", "new-token", "other-client", "other-audience",
                                  "accepted"])
def test_stale_false_positives(case):
    conv = Conversation()
    old, new = "AT-one-opaque-0123456789", "AT-two-opaque-0123456789"
    conv.see(login())
    if case == "before-refresh":
        d = conv.see(call("c1", old, 100, status=401))
    elif case == "new-token":
        conv.see(refresh("r1", "RT-one", issued(new, "RT-two"), 3710))
        d = conv.see(call("c1", new, 3720, status=401))
    elif case == "other-client":  # another app on the same machine gets its own token
        conv.see(grant("g2", "grant_type=client_credentials&client_id=other",
                       issued(new), 3710))
        d = conv.see(call("c1", old, 3720, status=401))
    elif case == "other-audience":
        conv.see(grant("g2", "grant_type=authorization_code&client_id=app&code=c2&scope=mail",
                       issued(new, "RT-2"), 3710))
        d = conv.see(call("c1", old, 3720, status=401))
    else:
        conv.see(refresh("r1", "RT-one", issued(new, "RT-two"), 100))
        d = conv.see(call("c1", old, 120))
    assert "token-stale" not in ids(d)


def test_no_refresh_token_for_a_user_grant():
    d = Conversation().see(login(refresh=None))
    finding = only(d, "oauth-no-refresh-token")
    assert "authorization_code grant" in finding.message and "offline_access" in \
        finding.entry.fix and d.verdict is None and d.noteworthy


@pytest.mark.parametrize("flow", [
    login(),  # has a refresh token
    login(refresh=None, expires_in=None),  # does not expire
    grant("cc", "grant_type=client_credentials&client_id=svc", issued("AT-cc")),  # §4.4.3
])
def test_no_refresh_token_false_positives(flow):
    assert "oauth-no-refresh-token" not in ids(Conversation().see(flow))


def test_refresh_with_another_client_id_or_endpoint():
    conv = Conversation()
    conv.see(login())
    d = conv.see(refresh("r1", "RT-one", {"error": "invalid_grant"}, 100, client_id="app-b",
                         status=400))
    assert (d.verdict, d.cause) == ("authentication", "oauth-client-mismatch")
    assert "client_id 'app-b' instead of 'app'" in only(d, "oauth-client-mismatch").message
    assert "oauth-invalid-grant" in ids(d)
    assert d.links[0]["flow"] == "login"
    other = TOKEN_URL.replace("tenant-a/oauth2/v2.0", "common/oauth2")
    d = conv.see(refresh("r2", "RT-one", {"error": "invalid_grant"}, 110, url=other, status=400))
    assert "to login.example.test/common/oauth2/token instead of" in \
        only(d, "oauth-client-mismatch").message


def test_refresh_with_the_same_client_is_no_mismatch():
    conv = Conversation()
    conv.see(login())
    d = conv.see(refresh("r1", "RT-one", issued("AT-2", "RT-2"), 100))
    assert "oauth-client-mismatch" not in ids(d)
    d = conv.see(refresh("r2", "RT-unknown", {"error": "invalid_grant"}, 110, client_id="b",
                         status=400))
    assert d.cause == "oauth-invalid-grant" and "token-origin" not in ids(d)


def test_revoked_refresh_token_says_so_with_the_vendor_reason():
    conv = Conversation()
    conv.see(login(), step("rv", "https://login.example.test/tenant-a/oauth2/revoke", 200, 50,
                           method="POST", body=b"token=RT-one&token_type_hint=refresh_token",
                           headers=FORM))
    d = conv.see(refresh("r1", "RT-one", {
        "error": "invalid_grant", "error_codes": [50173],
        "error_description": "AADSTS50173: The provided grant has expired due to it being "
                             "revoked."}, 100, status=400))
    assert d.cause == "oauth-invalid-grant"
    assert "revoked (password change" in only(d, "oauth-invalid-grant").message
    assert "was revoked at" in only(d, "token-origin").message
    assert [link["relation"] for link in d.links] == ["issued-by", "revoked-by"]


def test_rotated_refresh_token_reused():
    conv = Conversation()
    conv.see(login(), refresh("r1", "RT-one", issued("AT-2", "RT-2"), 100))
    d = conv.see(refresh("r2", "RT-one", {"error": "invalid_grant"}, 200, status=400))
    assert "already redeemed" in only(d, "token-origin").message
    assert ("redeemed-by", "r1") in {(link["relation"], link["flow"]) for link in d.links}


# ---- token-lifetime-pattern -------------------------------------------------------------------

def _cycles(conv, ages, status=401, same_token=False):
    d = None
    for n, age in enumerate(ages):
        start = n * 10_000
        token = "AT-same-0123456789" if same_token else f"AT-cycle-{n}-0123456789"
        conv.see(grant(f"g{n}", "grant_type=client_credentials&client_id=svc",
                       issued(token, expires_in=7200), start))
        d = conv.see(call(f"c{n}", token, start + age, status=status))
    return d


def test_tokens_rejected_at_the_same_age_make_a_pattern():
    conv = Conversation()
    d = _cycles(conv, [3600, 3590])
    assert "token-lifetime-pattern" not in ids(d)
    d = _cycles(conv, [3600, 3590, 3620])
    finding = only(d, "token-lifetime-pattern")
    assert "rejected ~60 min after issue; refresh before" in finding.message
    assert "announced a lifetime of 7200 s" in finding.message
    assert d.cause == "token-lifetime-pattern"  # opaque, not expired by expires_in: the pattern


def test_lifetime_pattern_from_jwt_iat_when_the_grant_was_not_seen():
    conv = Conversation()
    for n in range(3):
        token = mint(lifetime=86400, issued=NOW + n * 10_000, jti=str(n))
        d = conv.see(call(f"c{n}", token, n * 10_000 + 1800, status=401))
    assert "~30 min after issue" in only(d, "token-lifetime-pattern").message


@pytest.mark.parametrize("ages, kwargs", [
    ([60, 1800, 7000], {}),            # scattered ages
    ([3600, 3600, 3600], {"status": 403}),  # authorization, not lifetime
    ([3600, 3610, 3620], {"same_token": True}),  # one token rejected thrice
])
def test_lifetime_pattern_false_positives(ages, kwargs):
    conv = Conversation()
    assert "token-lifetime-pattern" not in ids(_cycles(conv, ages, **kwargs))


# ---- replay and memory ------------------------------------------------------------------------

def _story():
    return [login(), call("c1", "AT-one-opaque-0123456789", 60),
            call("c2", "AT-one-opaque-0123456789", 3700, status=401),
            refresh("r1", "RT-one", issued("AT-two-opaque-0123456789", "RT-two"), 3710),
            call("c3", "AT-one-opaque-0123456789", 3720, status=401)]


def test_replaying_the_same_flows_changes_nothing():
    conv = Conversation()
    first = [conv.see(ex).to_dict() for ex in _story()]
    tracker = lifecycle_of(conv.analyzer.trackers)
    before = timeline.client_timeline(tracker, "app @10.0.0.7")
    second = [conv.see(ex).to_dict() for ex in _story()]
    assert first == second
    assert timeline.client_timeline(tracker, "app @10.0.0.7") == before
    assert tracker.tokens[grants.key("AT-one-opaque-0123456789")].uses == 3


def test_replayed_rejections_do_not_make_a_pattern():
    conv = Conversation()
    flows = [grant("g0", "grant_type=client_credentials&client_id=svc", issued("AT-a")),
             call("c0", "AT-a", 3600, status=401),
             grant("g1", "grant_type=client_credentials&client_id=svc", issued("AT-b"), 9000),
             call("c1", "AT-b", 12600, status=401)]
    for ex in flows + flows + flows:
        d = conv.see(ex)
    assert "token-lifetime-pattern" not in ids(d)


def test_a_replayed_rejection_answers_as_it_did_the_first_time():
    """A 401 of a token never seen issued still adds to the rejection ages; replayed after the
    ages made a pattern, it must answer as it did, not join the pattern it helped make."""
    conv = Conversation()
    flows = [call(f"c{n}", mint(issued=NOW + n * 10_000), n * 10_000 + 3600, status=401)
             for n in range(3)]
    first = [conv.see(ex) for ex in flows]
    assert ["token-lifetime-pattern" in ids(d) for d in first] == [False, False, True]
    assert conv.see(flows[0]).to_dict() == first[0].to_dict()


def test_memory_is_bounded_over_100k_distinct_tokens():
    tracker = TokenLifecycle(max_tokens=1000, max_flows=2000, max_clients=50)
    settings = Settings()
    for n in range(100_000):
        body = f"grant_type=refresh_token&client_id=c{n % 97}&refresh_token=RT-{n}".encode()
        ex = exchange(url=TOKEN_URL, method="POST", body=body, headers=FORM,
                      response_headers=JSON, response_body=json.dumps(
                          {"access_token": f"AT-{n}", "refresh_token": f"RT-{n + 1}",
                           "expires_in": 60}).encode(), sent=NOW + n)
        tracker.check(Context(ex.__class__(ex.request, ex.response, f"f{n}", f"10.0.{n % 251}.1"),
                              settings))
        if n % 5 == 0:  # some are used and rejected (the 401 path keeps ages per host)
            tracker.check(Context(exchange(f"Bearer AT-{n}", 401, sent=NOW + n + 90), settings))
    assert len(tracker.tokens) <= 1000 and len(tracker.refresh) <= 1000
    assert len(tracker.latest) <= 1000 and len(tracker.flows) <= 2000
    assert len(tracker.history) <= 50 and len(tracker.ages) <= 50
    assert all(len(events) <= 64 for events in tracker.history.values())


# ---- timelines --------------------------------------------------------------------------------

def _tracked_story():
    conv = Conversation()
    for ex in _story():
        conv.see(ex)
    conv.see(refresh("r2", "RT-one", {"error": "invalid_grant"}, 3800, status=400))
    return lifecycle_of(conv.analyzer.trackers)


def test_token_timeline():
    tracker = _tracked_story()
    story = timeline.token_timeline(tracker, grants.key("AT-one-opaque-0123456789"))
    assert [e["event"] for e in story["events"]] == ["issued", "used", "expired", "rejected",
                                                     "refreshed", "rejected"]
    assert story["events"][1]["detail"].startswith("3 times")
    assert timeline.token_timeline(tracker, grants.key("never-seen")) is None
    json.dumps(story)


def test_client_timeline_text_for_flows():
    tracker = _tracked_story()
    [story] = timeline.for_flows(tracker, ["c3", "r1", "unknown"])
    out = timeline.text(story)
    assert out.splitlines()[0] == "client app @10.0.0.7"
    assert "failed    refresh_token grant: invalid_grant  [r2]" in out
    assert "rejected  #" in out and "HTTP 401" in out
    short = timeline.text(story, limit=3)
    assert "earlier events" in short and len(short.splitlines()) == 5


def test_exit_summary_has_the_timelines():
    tracker = _tracked_story()
    console = Console(record=True, width=140)
    console.print(terminal.summary(Tally(5), timeline.recent(tracker)))
    out = console.export_text()
    assert "token timelines" in out and "client app @10.0.7" not in out
    assert "client app @10.0.0.7" in out and "refresh_token grant: invalid_grant" in out
