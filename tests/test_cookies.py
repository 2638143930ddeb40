"""Set-Cookie parsing and the session-cookie findings: missing, expired, withheld."""

from conversation import Conversation, only, step
from factories import NOW, ids
from hypothesis import given
from hypothesis import strategies as st

from authlens.cookies import default_path, parse_set_cookie, sent_cookies, withheld_because
from authlens.model import RequestView
from authlens.render import text

SITE = "https://app.example.test"
REQUEST = RequestView("POST", SITE + "/login", timestamp=NOW)


def cookie(line: str, request: RequestView = REQUEST):
    return parse_set_cookie(line, request, NOW)


def test_set_cookie_attributes():
    c = cookie("sid=abc; Domain=.Example.TEST; Path=/api; Secure; HttpOnly; SameSite=Strict; "
               "Expires=Wed, 21-Oct-2026 07:28:00 GMT; Max-Age=60")
    assert (c.name, c.value, c.domain, c.path, c.secure, c.samesite) == (
        "sid", "abc", "example.test", "/api", True, "strict")
    assert c.expires == NOW + 60  # Max-Age wins over Expires
    assert cookie("sid=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT").expired(NOW)
    assert cookie("sid=x; Max-Age=0").expires == NOW
    d = cookie("sid=x; Path=relative; SameSite=bogus; Max-Age=soon; Expires=never")
    assert (d.path, d.samesite, d.expires, d.domain) == ("/", "", None, "")
    assert cookie("no-equals-sign") is None and cookie("=value") is None


@given(st.text())
def test_parsing_never_raises(line):
    parse_set_cookie(line, REQUEST, NOW)
    sent_cookies(RequestView("GET", SITE, (("Cookie", line),)))


def test_cookie_header_and_default_path():
    assert sent_cookies(RequestView("GET", SITE, (("Cookie", "a=1; b = 2;junk; a=3"),))) == {
        "a": "1", "b": "2"}
    assert [default_path(p) for p in ("/", "/login", "/a/b/c?x=/y", "")] == ["/", "/", "/a/b", "/"]


def test_send_rules():
    get = RequestView("GET", SITE + "/api/orders")
    assert withheld_because(cookie("sid=1; Path=/"), get) is None
    assert "Path=/admin" in withheld_because(cookie("sid=1; Path=/admin"), get)
    nested_login = RequestView("POST", SITE + "/account/login")  # no Path: defaults to /account
    assert "Path=/account" in withheld_because(cookie("sid=1", nested_login), get)
    assert "plain http" in withheld_because(cookie("sid=1; Secure"),
                                            RequestView("GET", "http://app.example.test/"))
    other_host = RequestView("GET", "https://api.example.test/")
    assert "host-only" in withheld_because(cookie("sid=1"), other_host)
    assert withheld_because(cookie("sid=1; Domain=example.test"), other_host) is None
    cross = RequestView("GET", SITE + "/api", (("Sec-Fetch-Site", "cross-site"),
                                               ("Sec-Fetch-Mode", "cors")))
    assert "SameSite=Strict" in withheld_because(cookie("sid=1; SameSite=Strict"), cross)
    assert "default to Lax" in withheld_because(cookie("sid=1"), cross)
    assert withheld_because(cookie("sid=1; SameSite=None; Secure"), cross) is None
    assert "without Secure" in withheld_because(cookie("sid=1; SameSite=None"), cross)
    by_origin = RequestView("GET", SITE + "/api", (("Origin", "https://evil.test"),))
    assert "SameSite=Lax" in withheld_because(cookie("sid=1; SameSite=Lax"), by_origin)
    navigation = RequestView("GET", SITE + "/", (("Sec-Fetch-Site", "cross-site"),
                                                 ("Sec-Fetch-Mode", "navigate")))
    assert withheld_because(cookie("sid=1; SameSite=Lax"), navigation) is None


# ---- the tracker ------------------------------------------------------------------------------

def login(set_cookie: str = "sid=s3cr3t; Path=/; HttpOnly; Max-Age=60", flow_id: str = "login"):
    return step(flow_id, SITE + "/account/login", 302, method="POST",
                response_headers=(("Set-Cookie", set_cookie), ("Location", "/app")))


def app(flow_id: str, at: float, status: int = 401, cookies: str = "", headers=(), **kwargs):
    headers = tuple(headers) + ((("Cookie", cookies),) if cookies else ())
    return step(flow_id, SITE + "/api/orders", status, at, headers=headers, **kwargs)


TO_LOGIN = (("Location", "/account/login?next=/api/orders"),)


def test_expired_session_cookie_explains_the_login_redirect():
    conv = Conversation()
    conv.see(login(), app("ok", 10, 200, "sid=s3cr3t"))
    d = conv.see(app("late", 300, 302, response_headers=TO_LOGIN))
    assert (d.verdict, d.cause) == ("authentication", "cookie-session-expired")
    assert "expired at" in only(d, "cookie-session-expired").message
    assert d.links[0]["relation"] == "cookie-set-by" and d.links[0]["flow"] == "login"
    assert "See flow login (cookie-set-by)" in text.comment(d.to_dict())


def test_urls_in_the_explanation_are_shown_redacted():
    """The login URL a session-cookie finding names, and the URL that set the cookie, lose
    their credential parameters (an SSO redirect can carry a token)."""
    secret = "sso-token-5d4c3b2a19f8e7d6c5b4a3928170"
    conv = Conversation()
    conv.see(step("login", SITE + f"/account/login?access_token={secret}", 302, method="POST",
                  response_headers=(("Set-Cookie", "sid=s3cr3t; Path=/; Max-Age=60"),
                                    ("Location", "/app"))))
    d = conv.see(app("late", 300, 302, response_headers=(
        ("Location", f"/account/login?next=/api/orders#id_token={secret}"),)))
    shown = repr(d.to_dict()) + text.comment(d.to_dict())
    assert d.cause == "cookie-session-expired"
    assert secret not in shown and "/account/login?next=/api/orders" in shown


def test_stale_cookie_still_sent_and_cleared_cookie_are_expired():
    conv = Conversation()
    conv.see(login())
    assert "still sent it" in only(conv.see(app("a", 300, 401, "sid=s3cr3t")),
                                   "cookie-session-expired").message
    conv.see(step("logout", SITE + "/account/logout", 200, at=301,
                  response_headers=(("Set-Cookie", "sid=; Max-Age=0; Path=/"),)))
    assert "server cleared it" in only(conv.see(app("b", 302)), "cookie-session-expired").message


def test_missing_and_withheld_session_cookies():
    conv = Conversation()
    conv.see(login(), app("ok", 2, 200, "sid=s3cr3t"))
    d = conv.see(app("a", 5, 403))
    assert d.cause == "cookie-session-missing"
    conv = Conversation()
    conv.see(login("sid=s3cr3t; Path=/; SameSite=Strict"))
    d = conv.see(app("b", 5, headers=(("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "cors"))))
    assert d.cause == "cookie-not-sent" and "SameSite=Strict" in only(d, "cookie-not-sent").message


def test_cookie_never_sent_by_this_client_is_not_the_cause():
    """Cookies ignore ports: a session cookie set by another localhost service is no evidence
    that a client which never sent it relies on it, least of all when the server asks for
    Bearer."""
    conv = Conversation()
    conv.see(login())
    d = conv.see(app("a", 5, 401))
    assert "cookie-session-missing" not in {f.id for f in d.findings}
    assert d.cause == "credential-missing"
    conv = Conversation()
    conv.see(login(), app("ok", 2, 200, "sid=s3cr3t"))
    d = conv.see(app("b", 5, 401, response_headers=(("WWW-Authenticate", 'Bearer realm="api"'),)))
    assert (d.verdict, d.cause) == ("authentication", "credential-missing")


def test_rule_named_cookie_without_any_set_cookie():
    d = Conversation(session_cookies=("JSESSIONID",)).see(app("a", 0))
    assert "JSESSIONID" in only(d, "cookie-session-missing").message


def test_healthy_and_unrelated_conversations_say_nothing():
    cookie_ids = {"cookie-session-missing", "cookie-session-expired", "cookie-not-sent"}
    cases = [
        [login(), app("a", 10, 200, "sid=s3cr3t")],                       # works
        [login(), app("a", 10, 401, "sid=s3cr3t")],                       # sent, refused anyway
        [login(), app("a", 10, 401, "sid=newer")],                        # a newer session
        [login(), app("a", 10, 401, authorization="Bearer x")],           # header credential
        [login("theme=dark; Max-Age=1"), app("a", 10, 401)],              # not a session cookie
        [login("XSRF-TOKEN=1; Max-Age=1"), app("a", 10, 401)],
        [login(), app("a", 10, 401, client="10.9.9.9")],                  # another client
        [login(), step("a", "https://other.test/api", 401, at=10)],        # another site
        [app("a", 0, 302, response_headers=TO_LOGIN), login(flow_id="b")],  # first visit
        [login(), app("a", 300, 302, response_headers=(("Location", "/app/home"),))],
    ]
    for exchanges in cases:
        assert not cookie_ids & set(ids(Conversation().see(*exchanges))), exchanges


def test_the_request_that_sets_the_cookie_is_not_its_own_explanation():
    conv = Conversation()
    refused_login = step("l", SITE + "/account/login", 401, response_headers=(
        ("Set-Cookie", "sid=1; Max-Age=0"),))
    conv.see(refused_login)
    assert not [f for f in conv.see(refused_login).findings if f.id.startswith("cookie-")]
