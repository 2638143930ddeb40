"""Builders for test exchanges and real (pyjwt-minted) tokens."""

from __future__ import annotations

import jwt

from authlens.analyze import Analyzer, Settings
from authlens.model import Exchange, RequestView, ResponseView

SIGNING_KEY = "authlens-test-signing-key-0123456789abcdef"
NOW = 1_790_000_000.0  # a fixed "request sent" time, so tests never depend on the wall clock


def mint(lifetime: float = 3600, issued: float = NOW - 60, alg: str = "HS256", **claims) -> str:
    """A real signed JWT; ``issued``/``lifetime`` set iat and exp unless given in ``claims``."""
    payload = {"iss": "https://login.example.test/tenant-a/v2.0", "aud": "api://orders",
               "sub": "user-1", "iat": int(issued), "exp": int(issued + lifetime), **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    key = None if alg == "none" else SIGNING_KEY
    return jwt.encode(payload, key, algorithm=alg)


def exchange(authorization: str | None = None, status: int | None = 200,
             url: str = "https://api.example.test/v1/orders", method: str = "GET",
             headers: tuple = (), response_headers: tuple = (), body: bytes = b"",
             response_body: bytes = b"", sent: float = NOW) -> Exchange:
    request_headers = tuple(headers)
    if authorization is not None:
        request_headers = (("Authorization", authorization),) + request_headers
    response = None
    if status is not None:
        response = ResponseView(status, tuple(response_headers), response_body, timestamp=sent + 0.05)
    return Exchange(RequestView(method, url, request_headers, body, timestamp=sent), response)


def diagnose(ex: Exchange, **settings):
    return Analyzer(Settings(**settings)).analyze(ex)


def ids(diagnosis) -> list[str]:
    return [f.id for f in diagnosis.findings]
