"""Find the credentials a request carries, and lint how they were written.

Hand-written on purpose: HTTP libraries (werkzeug, mitmproxy) parse Authorization leniently and
normalise away exactly the defects authlens must report (quotes, stray spaces, invisible
characters, a missing or doubled scheme).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .model import RequestView
from .redact import redact

AUTH_HEADERS = ("authorization", "proxy-authorization")
KNOWN_SCHEMES = ("bearer", "basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual",
                 "aws4-hmac-sha256", "dpop", "sharedkey", "sswss", "ssws", "apikey")
_QUOTES = "\"'\u201c\u201d\u2018\u2019`"


@dataclass(frozen=True)
class Credential:
    """One credential as sent. ``value`` is the credential proper, with stray quotes and
    whitespace removed so a mis-quoted token can still be decoded; ``raw`` is exactly as sent."""

    location: str
    """header | query | userinfo | cookie"""
    name: str
    raw: str
    scheme: Optional[str]
    value: str

    def describe(self, reveal: bool = False) -> dict:
        out = {"location": self.location, "name": self.name, "value": redact(self.value, reveal)}
        if self.scheme is not None:
            out["scheme"] = self.scheme
        return out


def split_scheme(raw: str) -> tuple[Optional[str], str]:
    """``'Bearer abc'`` -> ``('Bearer', 'abc')``; a bare token -> ``(None, token)``."""
    text = raw.strip().strip(_QUOTES).strip()
    head, _, rest = text.partition(" ")
    if rest or head.lower() in KNOWN_SCHEMES:
        if head.lower() in KNOWN_SCHEMES or (head.isalpha() and len(head) <= 20):
            return head, rest.strip().strip(_QUOTES).strip()
    return None, text


def extract_credentials(request: RequestView) -> list[Credential]:
    """Every credential in the request, in the order they appear."""
    found = []
    for key, value in request.headers:
        if key.lower() in AUTH_HEADERS:
            scheme, cred = split_scheme(value)
            found.append(Credential("header", key, value, scheme, cred))
    return found


CHECKS = ()
