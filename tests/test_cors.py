"""cors-preflight-auth and cors-hides-status: true and false positives, preflight links."""

from conversation import Conversation, only, step
from factories import ids

from authlens.render import text

PAGE = "http://127.0.0.1:8001"
API = "http://127.0.0.1:8002/api/me"
BROWSER = (("Origin", PAGE), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Site", "same-site"))


def preflight(status: int, flow_id: str = "p1", response_headers=(), at=0.0):
    return step(flow_id, API, status, at, method="OPTIONS", response_headers=response_headers,
                headers=BROWSER + (("Access-Control-Request-Method", "GET"),
                                   ("Access-Control-Request-Headers", "authorization")))


ALLOW = (("Access-Control-Allow-Origin", PAGE), ("Access-Control-Allow-Headers", "authorization"))


def test_refused_preflight_is_the_servers_doing():
    d = Conversation().see(preflight(401))
    assert (d.verdict, d.cause) == ("authentication", "cors-preflight-auth")
    message = only(d, "cors-preflight-auth").message
    assert "never carries cookies or Authorization" in message and "authorization" in message
    assert text.marker(d.to_dict()) == ":wrench:"
    assert "let OPTIONS preflights through" in text.comment(d.to_dict())


def test_answered_preflight_and_plain_options_say_nothing():
    assert "cors-preflight-auth" not in ids(Conversation().see(preflight(204, response_headers=ALLOW)))
    plain = step("o", API, 401, method="OPTIONS", headers=(("Origin", PAGE),))
    assert "cors-preflight-auth" not in ids(Conversation().see(plain))


def test_refusal_without_cors_headers_is_invisible_to_the_page():
    d = Conversation().see(step("g", API, 401, headers=BROWSER + (("Cookie", "sid=1"),)))
    finding = only(d, "cors-hides-status")
    assert "no Access-Control-Allow-Origin" in finding.message
    assert "The real status was 401" in finding.message
    assert finding.severity == "warning" and finding.effective_verdict is None


def test_each_way_cors_can_withhold_the_response():
    credentialed = BROWSER + (("Cookie", "sid=1"),)
    cases = {
        "does not match": (BROWSER, (("Access-Control-Allow-Origin", "http://elsewhere"),)),
        "is `*`": (credentialed, (("Access-Control-Allow-Origin", "*"),)),
        "Access-Control-Allow-Credentials": (credentialed, (("Access-Control-Allow-Origin", PAGE),)),
        "more than one": (BROWSER, (("Access-Control-Allow-Origin", PAGE),) * 2),
    }
    for expected, (headers, response_headers) in cases.items():
        d = Conversation().see(step("g", API, 403, headers=headers, response_headers=response_headers))
        assert expected in only(d, "cors-hides-status").message


def test_readable_or_not_cross_origin_refusals_say_nothing():
    readable = (("Access-Control-Allow-Origin", PAGE), ("Access-Control-Allow-Credentials", "true"))
    cases = [
        step("g", API, 401, headers=BROWSER, response_headers=readable),
        step("g", API, 401, headers=BROWSER + (("Cookie", "a=1"),), response_headers=readable),
        step("g", API, 401, headers=BROWSER, response_headers=(("Access-Control-Allow-Origin", "*"),)),
        step("g", API, 200, headers=BROWSER),                                         # not refused
        step("g", API, 401, headers=(("Origin", "http://127.0.0.1:8002"),)),         # same origin
        step("g", API, 401, headers=(("Origin", PAGE), ("Sec-Fetch-Mode", "navigate"))),
        step("g", API, 401),                                                        # not a browser
    ]
    for ex in cases:
        assert "cors-hides-status" not in ids(Conversation().see(ex)), ex


def test_hidden_refusal_links_its_preflight_but_never_itself():
    conv = Conversation()
    conv.see(preflight(204, response_headers=ALLOW))
    real = step("g1", API, 401, at=0.1, authorization="Bearer abc", headers=BROWSER)
    d = conv.see(real)
    assert d.links == [{"relation": "preflight", "flow": "p1",
                        "description": "OPTIONS preflight answered 204"}]
    assert conv.see(real).links == d.links  # replay
    conv.see(preflight(204, flow_id="g1", response_headers=ALLOW, at=0.2))  # same id as preflight
    assert conv.see(real).links == []


def test_stale_preflight_is_not_linked():
    conv = Conversation()
    conv.see(preflight(204, response_headers=ALLOW))
    d = conv.see(step("g1", API, 401, at=600, headers=BROWSER))
    assert d.links == [] and "cors-hides-status" in ids(d)
