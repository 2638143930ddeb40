"""Web-platform notions shared by the cross-flow trackers: origins, sites, redirects."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin, urlsplit

from .model import RequestView, ResponseView

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOGIN_PATH = re.compile(r"/(log-?in|sign-?in|auth(enticate)?|sso|session/new|oauth2?/authorize"
                         r"|saml2?|cas/login)\b", re.IGNORECASE)


def origin(url: str) -> str:
    """``scheme://host[:port]`` with the default port left out (``null`` for an unparsable URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "null"
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return "null"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else "")


def normalize(url: str) -> str:
    """The URL as a client would request it: normalized origin, path and query, no fragment."""
    parts = urlsplit(url.strip())
    return origin(url) + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def site(host: str) -> str:
    """The registrable part of a host, approximated (no public-suffix list): an IP address or a
    single label is its own site, otherwise the last two labels."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return ".".join(host.split(".")[-2:])


def redirect_target(request: RequestView, response: ResponseView | None) -> str | None:
    """Where a redirect response sends the client (absolute, normalized), or None."""
    if response is None or response.status not in REDIRECT_STATUSES:
        return None
    location = response.header("Location")
    if not location:
        return None
    try:
        return normalize(urljoin(request.url, location.strip()))
    except ValueError:
        return None


def login_redirect(request: RequestView, response: ResponseView | None) -> str | None:
    """The target when a redirect sends the client to what looks like a sign-in page."""
    target = redirect_target(request, response)
    if target and _LOGIN_PATH.search(urlsplit(target).path):
        return target
    return None
