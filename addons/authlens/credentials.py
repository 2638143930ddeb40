"""Find the credentials a request carries: Authorization (parsed by ``authorization``), API-key
headers, the URL's query and user-info, cookies and form fields.

What counts as a secret is ``secrecy``'s policy; how a credential was written is linted by
``credential_lint`` (``Credential.issues``, once per distinct header value). Parsing a query or a
cookie is capped (``MAX_QUERY``, ``MAX_PARAMS``, ``MAX_COOKIES``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from . import credential_lint, secrecy
from .authorization import JUNK, MAX_CACHED_VALUE, QUOTES, clean_token, split_scheme
from .caching import Memo, once
from .credential_lint import AMBIGUOUS_NAMES
from .model import Finding, RequestView
from .secrecy import AUTH_HEADERS, redact

MAX_QUERY = 16 * 1024
MAX_PARAMS = 256
"""Query and form parameters read: the first MAX_PARAMS pairs of the first MAX_QUERY characters."""
MAX_COOKIES = 64
MAX_FORM_BODY = 64 * 1024

_CLEAR_MISSPELLINGS = {
    "authorisation": "British spelling",
    "proxy-authorisation": "British spelling",
    "authentification": "not an HTTP header",
    "bearer": "a scheme, not a header name",
    "authorizaton": "typo", "autorization": "typo", "authorzation": "typo",
    "authroization": "typo", "authorizarion": "typo", "athorization": "typo",
    "authorizatoin": "typo", "authoriztion": "typo", "authorizaion": "typo",
}

_ALNUM = re.compile(r"[A-Za-z0-9]")


# --- the Credential --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    """One credential as sent. ``value`` is the credential proper, with stray quotes and
    whitespace removed so a mis-quoted token can still be decoded; ``raw`` is exactly as sent."""

    location: str
    """header | query | userinfo | cookie | body"""
    name: str
    raw: str
    scheme: str | None
    value: str
    kind: str = field(default="", compare=False)
    """auth (Authorization, Proxy-Authorization) | apikey | misspelled | query | userinfo |
    cookie | cookies (a whole Cookie header without a credential-like cookie) | body"""

    def describe(self, reveal: bool = False) -> dict:
        """Plain, redacted view; ``sent``: the header value as sent (quotes, stray spaces,
        invisible characters shown), when it is more than the scheme and the credential."""
        shown = redact(self.value, reveal)
        out = {"location": self.location, "name": self.name, "value": shown}
        if self.scheme is not None:
            out["scheme"] = self.scheme
        if (self.location == "header" and self.value and len(self.raw) <= MAX_CACHED_VALUE
                and self.raw.count(self.value) == 1):
            sent = self.raw.replace(self.value, shown, 1)
            around = self.raw.replace(self.value, "", 1).replace(self.scheme or "\0", "", 1)
            if (sent != (f"{self.scheme} {shown}" if self.scheme else shown)
                    and not _ALNUM.search(around)):  # only quotes, spaces, invisibles around
                out["sent"] = "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in sent)
        return out

    @property
    def label(self) -> str:
        """How messages name it: ``Authorization``, ``query parameter access_token``..."""
        if self.location == "header":
            return self.name
        if self.location == "query":
            return f"query parameter {self.name}"
        if self.location == "body":
            return f"form field {self.name}"
        if self.location == "cookie":
            return f"cookie {self.name}"
        return "the URL's user-info"

    @once
    def issues(self) -> tuple[Finding, ...]:
        """Every defect in how this credential was written (``credential_lint``, once)."""
        return credential_lint.lint(self)

    @once
    def issue_map(self) -> dict[str, list[Finding]]:
        """``issues`` by finding id."""
        out: dict[str, list[Finding]] = {}
        for finding in self.issues:
            out.setdefault(finding.id, []).append(finding)
        return out


# --- extraction ------------------------------------------------------------------------------------

def header_kind(name: str) -> str | None:
    """What a request header is, credential-wise: auth | apikey | misspelled | cookie | None."""
    n = name.lower()
    if n in AUTH_HEADERS:
        return "auth"
    if n == "cookie":
        return "cookie"
    if n in AMBIGUOUS_NAMES:
        return "apikey"
    if misspelling(name) is not None:
        return "misspelled"
    if "csrf" in n or "xsrf" in n or "idempotency" in n:
        return None
    if ("api-key" in n or "api_key" in n or "apikey" in n or n.endswith("token")
            or n.endswith("secret") or n.endswith("subscription-key") or n.endswith("access-key")
            or n.endswith("app-key") or n.endswith("auth-key") or n in ("x-auth", "x-key")):
        return "apikey"
    return None


def _misspelling_uncached(name: str) -> str | None:
    """Why header ``name`` looks like a misspelled Authorization, or None."""
    n = name.lower()
    if n in AUTH_HEADERS:
        return None
    if n in _CLEAR_MISSPELLINGS:
        return _CLEAR_MISSPELLINGS[n]
    stripped = n.strip(" \t:")
    if stripped != n and stripped in AUTH_HEADERS:
        return "extra ':' or space in the header name"
    for target in AUTH_HEADERS:
        if abs(len(n) - len(target)) <= 2 and n[:2] == target[:2] and _distance(n, target) <= 2:
            return "typo"
    return None


misspelling = Memo(_misspelling_uncached, 2048, 256).__getitem__


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (small strings only)."""
    prev2 = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def extract_credentials(request: RequestView) -> list[Credential]:
    """Every credential in the request, in the order they appear: headers, URL, cookies, form."""
    found: list[Credential] = []
    for key, value in request.headers:
        if HEADER_KINDS[key] is not None:
            found.extend(HEADER_CREDENTIALS[key, value])
    url = request.url
    if "?" in url:
        query = request.query
        if query:
            found.extend(_param_credentials(query, "query", secrecy.CREDENTIAL_PARAMS))
    if "@" in url:
        found.extend(_userinfo_credentials(url))
    if request.body and request.method.upper() not in ("GET", "HEAD"):
        ctype = (request.header("content-type") or "").lower()
        if "application/x-www-form-urlencoded" in ctype and len(request.body) <= MAX_FORM_BODY:
            body = request.body.decode("utf-8", "surrogateescape")
            found.extend(_param_credentials(body, "body", secrecy.FORM_CREDENTIALS))
    return found


def _header_credentials(key: str, value: str) -> tuple[Credential, ...]:
    """The credentials in one header (of a ``header_kind``)."""
    kind = HEADER_KINDS[key]
    if kind == "auth" or kind == "misspelled":
        scheme, cred = split_scheme(value)
        return (Credential("header", key, value, scheme, cred, kind),)
    if kind == "apikey":
        return (Credential("header", key, value, None, _clean_simple(value), kind),)
    return tuple(_cookie_credentials(key, value))


HEADER_KINDS = Memo(header_kind, 2048, 256)
"""``header_kind`` of the header names seen."""
HEADER_CREDENTIALS = Memo(_header_credentials, 2048, MAX_CACHED_VALUE)
"""``_header_credentials`` by (name, value). Clients send the same values over and over; a
Credential is immutable and lints itself once (``issues``), so this is also the lint cache."""


def _clean_simple(value: str) -> str:
    value = value.strip(JUNK)
    if value.startswith('\\"'):
        value = value[2:]
        if value.endswith('\\"'):
            value = value[:-2]
    value = value.strip(QUOTES).strip(JUNK)
    return clean_token(value)


def _param_credentials(params: str, location: str, names: frozenset) -> list[Credential]:
    """The credentials among the first ``MAX_PARAMS`` ``name=value`` pairs of a query or form
    body (a list, and no ``unquote`` call without a ``%``: this runs on every URL with a query)."""
    form = location == "body"
    found = []
    for pair in params[:MAX_QUERY].split("&", MAX_PARAMS)[:MAX_PARAMS]:
        key, eq, value = pair.partition("=")
        if not eq:
            continue
        if form:
            key = key.replace("+", " ")
        if "%" in key:
            key = unquote(key)
        if key.lower() in names:
            decoded = unquote(value.replace("+", " ") if form else value)
            found.append(Credential(location, key, decoded, None, _clean_simple(decoded),
                                    "body" if form else "query"))
    return found


def query_credentials(query: str) -> list[Credential]:
    """The credentials in a URL's query string."""
    return _param_credentials(query, "query", secrecy.CREDENTIAL_PARAMS)


def _userinfo_credentials(url: str) -> Iterator[Credential]:
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if not user and password is None:
        return
    user = unquote(user or "")
    if password is None:
        yield Credential("userinfo", "userinfo", user, None, user, "userinfo")
    else:
        pair = f"{user}:{unquote(password)}"
        yield Credential("userinfo", "userinfo", pair, None, pair, "userinfo")


def _cookie_credentials(key: str, value: str) -> list[Credential]:
    creds = []
    for i, pair in enumerate(value[:MAX_QUERY].split(";")):
        if i >= MAX_COOKIES:
            break
        name, eq, cvalue = pair.strip().partition("=")
        if eq and secrecy.CREDENTIAL_COOKIE.search(name):
            cvalue = cvalue.strip()
            creds.append(Credential("cookie", name, pair.strip(), None,
                                    cvalue.strip('"'), "cookie"))
    if not creds and value.strip():
        creds.append(Credential("cookie", key, value, None, value, "cookies"))
    return creds
