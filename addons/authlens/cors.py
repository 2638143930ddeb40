"""CORS: preflights refused for lack of credentials, and refusals the page cannot see.

A preflight never carries credentials (Fetch §4.8), so refusing it with 401/403 is the server's
mistake (cors-preflight-auth). A refused cross-origin response without a matching
Access-Control-Allow-Origin reaches the page as a bare "CORS error" (cors-hides-status); the
tracker links it to the preflight that came before it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Finding, RequestView, ResponseView, always_quiet
from .recent import Recent
from .web import normalize, origin


def is_preflight(request: RequestView) -> bool:
    return (request.method == "OPTIONS" and request.header("Origin") is not None
            and request.header("Access-Control-Request-Method") is not None)


def cross_origin_caller(request: RequestView) -> str | None:
    """The Origin of a cross-origin CORS request (not a navigation), or None."""
    caller = request.header("Origin")
    mode = (request.header("Sec-Fetch-Mode") or "cors").lower()
    if caller is None or mode != "cors":
        return None
    caller = caller.strip()
    return caller if caller != origin(request.url) else None


def cors_failure(request: RequestView, response: ResponseView, caller: str) -> str | None:
    """Why the browser withholds this response from a page at ``caller``, or None if it does not."""
    allowed = response.header_all("Access-Control-Allow-Origin")
    credentialed = request.header("Cookie") is not None
    if not allowed:
        return "it has no Access-Control-Allow-Origin header"
    if len(allowed) > 1:
        return "it has more than one Access-Control-Allow-Origin header"
    value = allowed[0].strip()
    if value == "*":
        return ("its Access-Control-Allow-Origin is `*`, which browsers refuse for a call that "
                "sends cookies") if credentialed else None
    if value != caller:
        return f"its Access-Control-Allow-Origin `{value}` does not match the page's origin"
    if credentialed and (response.header("Access-Control-Allow-Credentials") or "").strip() != "true":
        return "it lacks `Access-Control-Allow-Credentials: true`, required for a call with cookies"
    return None


def check_preflight(ctx) -> Iterable[Finding]:
    request = ctx.request
    if not (ctx.status in (401, 403) and is_preflight(request)):
        return
    wanted = request.header("Access-Control-Request-Method")
    headers = request.header("Access-Control-Request-Headers")
    asking = f" with headers `{headers}`" if headers else ""
    yield Finding(
        "cors-preflight-auth",
        f"This OPTIONS is the browser's CORS preflight for a {wanted} from {request.header('Origin')}"
        f"{asking}; the server answered {ctx.status}. A preflight never carries cookies or "
        f"Authorization, so it cannot pass an authentication check: the browser reports a CORS "
        f"error and never sends the real {wanted}.",
        (("origin", request.header("Origin")), ("method", wanted), ("headers", headers or "")))


class CorsTracker:
    """Explains refused cross-origin calls; remembers preflights to link them."""

    def __init__(self, limit: int = 1024, window: float = 60.0):
        self.window = window
        self._preflights: Recent = Recent(limit)  # (client, origin, URL, method) -> (flow, time, line)

    quiet = always_quiet  # a quiet success (never a preflight) is nothing to remember

    def check(self, ctx) -> Iterable[Finding]:
        request = ctx.request
        if is_preflight(request):
            found = tuple(check_preflight(ctx))
            key = self._key(ctx, request.header("Access-Control-Request-Method"))
            self._preflights[key] = (ctx.exchange.id, ctx.sent_at,
                                     f"OPTIONS preflight answered {ctx.status}")
            return found
        if ctx.status not in (401, 403):
            return ()
        caller = cross_origin_caller(request)
        if caller is None:
            return ()
        why = cors_failure(request, ctx.response, caller)
        if why is None:
            return ()
        return (Finding(
            "cors-hides-status",
            f"The server answered {ctx.status} to this cross-origin call from {caller}, but {why}: "
            f"the page's script sees only a CORS/network error, not the {ctx.status}. "
            f"The real status was {ctx.status} ({'authentication' if ctx.status == 401 else 'authorization'} "
            f"refused); see the other findings for why.",
            (("origin", caller), ("status", ctx.status), ("reason", why)),
            links=self._preflight_link(ctx)),)

    def _key(self, ctx, method: str) -> tuple:
        request = ctx.request
        return (ctx.exchange.client, request.header("Origin").strip(), normalize(request.url),
                method.strip().upper())

    def _preflight_link(self, ctx) -> tuple:
        found = self._preflights.get(self._key(ctx, ctx.request.method))
        if found is None:
            return ()
        flow, sent, line = found
        if flow == ctx.exchange.id or not 0 <= ctx.sent_at - sent <= self.window:
            return ()
        return (("preflight", flow, line),)
