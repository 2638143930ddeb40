"""Set-Cookie and Cookie, read the way browsers read them (RFC 6265 §5.2), and never raising.

``http.cookies.SimpleCookie`` is strict (it drops real-world cookies with spaces or odd characters
and stops at the first one it dislikes), so the few lines of the RFC's algorithm are written out
here; dates go through ``email.utils``. Also: would a browser send a cookie with a request?
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

from .model import RequestView
from .web import site

SESSION_NAME = re.compile(r"sess|sid|auth|token|jwt|login|remember|identity", re.IGNORECASE)
NOT_SESSION_NAME = re.compile(r"csrf|xsrf", re.IGNORECASE)


@dataclass(frozen=True)
class SetCookie:
    name: str
    value: str
    host: str
    """The host that set it."""
    domain: str = ""
    """The Domain attribute (lowercase, no leading dot); empty for a host-only cookie."""
    path: str = "/"
    secure: bool = False
    samesite: str = ""
    """strict | lax | none | "" (unspecified: Chromium treats it as lax)."""
    expires: float | None = None
    """Absolute epoch seconds from Max-Age (which wins) or Expires; None for a session cookie."""

    @property
    def scope(self) -> str:
        return self.domain or self.host

    def expired(self, moment: float) -> bool:
        return self.expires is not None and moment >= self.expires

    def attributes(self) -> str:
        """The attributes that decide where it is sent, as Set-Cookie would spell them."""
        parts = [f"Domain={self.domain}" if self.domain else "host-only", f"Path={self.path}"]
        if self.secure:
            parts.append("Secure")
        if self.samesite:
            parts.append(f"SameSite={self.samesite.capitalize()}")
        return "; ".join(parts)


def looks_like_session(name: str) -> bool:
    return bool(SESSION_NAME.search(name)) and not NOT_SESSION_NAME.search(name)


def parse_set_cookie(line: str, request: RequestView, received: float) -> SetCookie | None:
    """One Set-Cookie header as a user agent would store it; None when a browser would ignore it."""
    pair, *attributes = line.split(";")
    name, eq, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name:
        return None
    domain, path, secure, samesite = "", "", False, ""
    max_age: float | None = None
    expires: float | None = None
    for attribute in attributes:
        key, _, arg = attribute.partition("=")
        key, arg = key.strip().lower(), arg.strip()
        if key == "domain" and arg:
            domain = arg.lstrip(".").lower()
        elif key == "path" and arg.startswith("/"):
            path = arg
        elif key == "secure":
            secure = True
        elif key == "samesite":
            samesite = arg.lower() if arg.lower() in ("strict", "lax", "none") else ""
        elif key == "max-age" and re.fullmatch(r"-?\d+", arg):
            max_age = float(arg)
        elif key == "expires":
            expires = _http_date(arg)
    if max_age is not None:
        expires = received + max_age if max_age > 0 else received
    return SetCookie(name, value, request.host, domain, path or default_path(request.path),
                     secure, samesite, expires)


def _http_date(text: str) -> float | None:
    for candidate in (text, text.replace("-", " ")):
        try:
            return email.utils.parsedate_to_datetime(candidate).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None


def default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the directory of the request path."""
    path = request_path.split("?", 1)[0]
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path.rsplit("/", 1)[0]


def sent_cookies(request: RequestView) -> dict[str, str]:
    """Name -> value of the cookies in the request's Cookie header(s) (first one wins)."""
    out: dict[str, str] = {}
    for header in request.header_all("Cookie"):
        for pair in header.split(";"):
            name, eq, value = pair.partition("=")
            if eq and name.strip():
                out.setdefault(name.strip(), value.strip())
    return out


def domain_match(host: str, cookie: SetCookie) -> bool:
    if not cookie.domain:
        return host == cookie.host
    return host == cookie.domain or host.endswith("." + cookie.domain)


def path_match(request_path: str, cookie_path: str) -> bool:
    path = request_path.split("?", 1)[0] or "/"
    return (path == cookie_path or (path.startswith(cookie_path)
            and (cookie_path.endswith("/") or path[len(cookie_path)] == "/")))


def cross_site(request: RequestView) -> bool:
    """Whether the browser made this request from another site (Sec-Fetch-Site, else Origin)."""
    fetch_site = request.header("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site.strip().lower() == "cross-site"
    caller = request.header("Origin")
    if not caller or caller.strip() == "null":
        return False
    scheme, _, host = caller.strip().partition("://")
    return (scheme.lower(), site(host.rsplit(":", 1)[0])) != (request.scheme, site(request.host))


def withheld_because(cookie: SetCookie, request: RequestView) -> str | None:
    """Why a browser would not attach ``cookie`` to ``request``; None if it would."""
    if not domain_match(request.host, cookie):
        scope = f"Domain={cookie.domain}" if cookie.domain else f"host-only for {cookie.host}"
        return f"it is {scope}, which does not cover {request.host}"
    if not path_match(request.path, cookie.path):
        return f"its Path={cookie.path} does not cover {request.path.split('?', 1)[0]}"
    if cookie.secure and request.scheme != "https":
        return "it is Secure and this request went over plain http"
    if cookie.samesite == "none" and not cookie.secure:
        return "it is SameSite=None without Secure, which browsers reject"
    if cross_site(request):
        navigation = ((request.header("Sec-Fetch-Mode") or "").lower() == "navigate"
                      and request.method in ("GET", "HEAD"))
        if cookie.samesite == "strict":
            return "it is SameSite=Strict and this request came from another site"
        if cookie.samesite in ("lax", "") and not navigation:
            spelled = "SameSite=Lax" if cookie.samesite else "without SameSite (browsers default to Lax)"
            return f"it is {spelled} and this cross-site request is not a top-level navigation"
    return None
