"""Session cookies across flows: missing, expired, or withheld by their own attributes.

The tracker keeps, per client, the cookies servers set (a small cookie jar). When a request that
carries no header credential is refused (401/403, or redirected to a login page) it looks for the
session cookie the request relies on, named by a rule (``Settings.session_cookies``) or set
earlier on a related host under a session-like name, and says what happened to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .cookies import (
    SetCookie,
    domain_match,
    looks_like_session,
    parse_set_cookie,
    sent_cookies,
    withheld_because,
)
from .humanize import duration, utc
from .model import Finding, always_quiet
from .recent import Recent
from .web import login_redirect, site


@dataclass(frozen=True)
class _Stored:
    cookie: SetCookie
    flow: str
    at: float
    line: str
    """One-line description of the flow that set it, for the link."""


class CookieJarTracker:
    """Remembers Set-Cookie per client; explains refusals of requests that lacked the session."""

    def __init__(self, clients: int = 256, per_client: int = 64):
        self.per_client = per_client
        self._jars: Recent = Recent(clients)  # client -> Recent[(name, scope, path) -> _Stored]
        self._sent: Recent = Recent(clients)  # client -> Recent[(cookie name, host) -> True]

    quiet = always_quiet  # a quiet success (without Set-Cookie) is nothing to remember

    def check(self, ctx) -> Iterable[Finding]:
        found = tuple(self._explain(ctx)) if self._relies_on_cookies(ctx) else ()
        self._remember(ctx)
        self._remember_sent(ctx)
        return found

    @staticmethod
    def _relies_on_cookies(ctx) -> bool:
        """A refused request without a header credential, whose server did not challenge for
        a header scheme (a Bearer challenge says what it wants; cookies ignore ports, so on
        localhost many services share them)."""
        refused = ctx.refused or login_redirect(ctx.request, ctx.response) is not None
        if not refused or any(c.location == "header" for c in ctx.credentials):
            return False
        return ctx.response is None or not ctx.challenges.challenges

    def _remember_sent(self, ctx) -> None:
        """The session-like cookies this client sent (what ``_sent_before`` asks)."""
        if not any(c.location == "cookie" for c in ctx.credentials):  # most API calls
            return
        named = ctx.settings.session_cookies
        names = [n for n in sent_cookies(ctx.request) if n in named or looks_like_session(n)]
        if not names:
            return
        sent = self._sent.get(ctx.exchange.client)
        if sent is None:
            sent = self._sent[ctx.exchange.client] = Recent(self.per_client)
        host = ctx.request.host
        for name in names[:8]:
            if (name, host) not in sent:
                sent[(name, host)] = True

    def _sent_before(self, ctx, name: str) -> bool:
        sent = self._sent.get(ctx.exchange.client)
        return sent is not None and (name, ctx.request.host) in sent

    def _remember(self, ctx) -> None:
        set_cookies = ctx.response.header_all("Set-Cookie") if ctx.response is not None else ()
        if not set_cookies:
            return
        received = ctx.response.timestamp or ctx.sent_at
        jar = None
        for header in set_cookies:
            cookie = parse_set_cookie(header, ctx.request, received)
            if cookie is None:
                continue
            if jar is None:
                jar = self._jars.get(ctx.exchange.client) or Recent(self.per_client)
                self._jars[ctx.exchange.client] = jar
                line = (f"{ctx.status} {ctx.request.method} {ctx.display_url(ctx.request.url)} "
                        f"set the cookie")
            jar[(cookie.name, cookie.scope, cookie.path)] = _Stored(cookie, ctx.exchange.id,
                                                                   received, line)

    def _explain(self, ctx) -> Iterable[Finding]:
        sent = sent_cookies(ctx.request)
        reported = set()
        for stored in self._candidates(ctx):
            name = stored.cookie.name
            if name not in reported:
                finding = self._diagnose(ctx, stored, sent)
                if finding is not None:
                    reported.add(name)
                    yield finding
        for name in ctx.settings.session_cookies:
            if name not in sent and name not in reported:
                yield Finding("cookie-session-missing",
                              f"The request carried no `{name}` cookie, the session cookie this "
                              f"API relies on (per the rules), and was refused ({ctx.status}).",
                              (("cookie", name),))

    def _candidates(self, ctx) -> list[_Stored]:
        """Session cookies set to this client before this request, on a host related to it."""
        jar = self._jars.get(ctx.exchange.client) or {}
        host, named = ctx.request.host, set(ctx.settings.session_cookies)
        found = [s for s in jar.values()
                 if s.flow != ctx.exchange.id and s.at <= ctx.sent_at
                 and (s.cookie.name in named or looks_like_session(s.cookie.name))
                 and (domain_match(host, s.cookie) or site(host) == site(s.cookie.scope))]
        return sorted(found, key=lambda s: -s.at)  # the newest setting of a name decides

    def _diagnose(self, ctx, stored: _Stored, sent: dict) -> Finding | None:
        """What happened to ``stored``; cookie-session-missing only when this client sent that
        cookie before (direct evidence that it relies on it)."""
        cookie, moment = stored.cookie, ctx.sent_at
        name = cookie.name
        outcome = (f"was refused ({ctx.status})" if ctx.refused else "was redirected to the login "
                   f"page {ctx.display_url(login_redirect(ctx.request, ctx.response))}")
        evidence = (("cookie", name), ("set_flow", stored.flow), ("attributes", cookie.attributes()))
        links = (("cookie-set-by", stored.flow, stored.line),)
        if name in sent and sent[name] != cookie.value:
            return None  # the client has a newer value than the one we saw
        if cookie.expired(moment):
            assert cookie.expires is not None  # expired() is false without an expiry
            when = ("the server cleared it" if cookie.expires <= stored.at
                    else f"it expired at {utc(cookie.expires)}")
            how = "still sent it" if name in sent else "no longer sends it"
            return Finding(
                "cookie-session-expired",
                f"The session cookie `{name}` was set in an earlier response; {when}, "
                f"{duration(moment - cookie.expires)} before this request, so the client {how}, "
                f"and the request {outcome}.",
                evidence + (("expired_for_s", round(moment - cookie.expires)),), links=links)
        if name in sent:
            return None
        reason = withheld_because(cookie, ctx.request)
        if reason:
            return Finding(
                "cookie-not-sent",
                f"The session cookie `{name}` ({cookie.attributes()}) was set in an earlier "
                f"response but not sent with this request: {reason}. The request {outcome}.",
                evidence + (("reason", reason),), links=links)
        if not self._sent_before(ctx, name):
            return None  # this client never sent it: nothing says it relies on it
        return Finding(
            "cookie-session-missing",
            f"The session cookie `{name}` was set in an earlier response and applies to this URL, "
            f"but the client did not send it (no cookie jar, another browser context, or "
            f"credentials not included), and the request {outcome}.",
            evidence, links=links)
