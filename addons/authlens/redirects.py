"""credential-dropped-on-redirect: a credential lost when a client followed a cross-origin redirect.

HTTP clients (requests, curl, browsers per the Fetch standard) drop Authorization when a redirect
leads to another origin. The tracker remembers each credentialed redirect to another origin and
recognises its follow-up: same client, the redirect's target URL, within ``window`` seconds,
without Authorization. A chain of redirects is followed hop by hop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Finding
from .recent import Recent
from .web import normalize, origin, redirect_target


@dataclass
class _Redirect:
    flow: str
    summary: str
    """``302 GET http://a/x -> http://b/y``"""
    source: str
    target: str
    sent: float
    followed_by: str | None = None
    """The one follow-up this redirect explains (a replay of that flow matches it again)."""


def _has_authorization(ctx) -> bool:
    return ctx.request.header("Authorization") is not None


class RedirectTracker:
    """Remembers credentialed cross-origin redirects; explains the refused follow-up."""

    def __init__(self, limit: int = 1024, window: float = 30.0):
        self.window = window
        self._redirects: Recent = Recent(limit)  # (client, target URL) -> _Redirect

    def quiet(self, flow_id: str, client: str, sent: float, tokens) -> bool:
        """A quiet success needs no look unless a remembered redirect may be the one it follows."""
        return not self._redirects

    def check(self, ctx) -> Iterable[Finding]:
        may_follow_one = self._redirects and not _has_authorization(ctx)
        dropped = self._redirect_to(ctx) if may_follow_one else None
        target = redirect_target(ctx.request, ctx.response)
        if target:
            self._remember(ctx, target, dropped)
        return (self._finding(ctx, dropped),) if dropped is not None and ctx.refused else ()

    def _redirect_to(self, ctx) -> _Redirect | None:
        """The remembered redirect that this request follows, if any."""
        exchange = ctx.exchange
        redirect = self._redirects.get((exchange.client, normalize(ctx.request.url)))
        if redirect is None or redirect.flow == exchange.id:
            return None
        if not 0 <= ctx.sent_at - redirect.sent <= self.window:
            return None
        if redirect.followed_by not in (None, exchange.id):
            return None
        redirect.followed_by = exchange.id
        return redirect

    def _remember(self, ctx, target: str, dropped: _Redirect | None) -> None:
        """Keep a redirect to another origin made by a request that had the credential, or that
        continues a chain which had it (``dropped``: the credential was lost one hop earlier)."""
        request = ctx.request
        if not (_has_authorization(ctx) or dropped):
            return
        if dropped is None and origin(target) == origin(request.url):
            return
        key, flow = (ctx.exchange.client, target), ctx.exchange.id
        replayed = self._redirects.get(key)
        followed_by = replayed.followed_by if replayed and replayed.flow == flow else None
        summary = (f"{ctx.status} {request.method} {ctx.display_url(request.url)} -> "
                   f"{ctx.display_url(target)}")
        self._redirects[key] = _Redirect(flow, summary, dropped.source if dropped else request.url,
                                         target, ctx.sent_at, followed_by)

    def _finding(self, ctx, redirect: _Redirect) -> Finding:
        first, here = origin(redirect.source), origin(ctx.request.url)
        return Finding(
            "credential-dropped-on-redirect",
            f"This request to {here} carried no Authorization header: it follows a redirect "
            f"({redirect.summary}) from a request to {first} that did. The client dropped the "
            f"credential on purpose because the redirect changed host, scheme or port, so "
            f"{here} never saw it and answered {ctx.status}.",
            (("from", first), ("to", here), ("redirect_flow", redirect.flow)),
            links=(("redirected-by", redirect.flow, redirect.summary),),
        )
