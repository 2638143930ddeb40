"""Read token-endpoint traffic: the grant asked for (RFC 6749 §4, §6; RFC 8628; RFC 8693), the
answer (§5.1 issued, §5.2 error) and revocations (RFC 7009).

Tokens are never kept: a token becomes its ``key`` (a 64-bit SHA-256 prefix, so that a day of
distinct tokens does not collide; its first 8 digits are the fingerprint shown everywhere else).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from ..caching import Memo
from ..model import RequestView, ResponseView
from ..secrecy import fingerprint
from ..tokens import jwt_claims

MAX_BODY = 64 * 1024
KEY_LENGTH = 16

GRANTS = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "password": "password",
    "urn:ietf:params:oauth:grant-type:device_code": "device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt_bearer",
    "urn:ietf:params:oauth:grant-type:saml2-bearer": "saml2_bearer",
}
USER_GRANTS = frozenset({"authorization_code", "password", "device_code"})
"""Grants that sign a user in: an expiring token from them should come with a refresh token
(client_credentials should not, RFC 6749 §4.4.3)."""

TOKEN_PATHS = ("/token", "/oauth/token", "/oauth2/token", "/oauth2/v2.0/token", "/oauth2/v4/token",
               "/protocol/openid-connect/token", "/login/oauth/access_token", "/v1/token")
"""Well-known token endpoint path endings; they are read even when the body is JSON."""
REVOKE_PATHS = ("/revoke", "/revocation", "/oauth2/revoke", "/protocol/openid-connect/revoke")


def _bare(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def is_token_path(path: str) -> bool:
    """Does this path (query allowed) end like a well-known token endpoint?"""
    return _bare(path).endswith(TOKEN_PATHS)


def _key(token: str) -> str:
    return fingerprint(token, KEY_LENGTH)


key = Memo(_key, 2048, 8 * 1024).__getitem__
"""``key(token)``: the lifecycle key of a token. A lookup in a bounded ``Memo`` with no Python
call on a hit: the lifecycle asks it for every token of every call."""


def shown(token_key: str) -> str:
    """``#1a2b3c4d``: the fingerprint the rest of authlens shows for the same token."""
    return "#" + token_key[:8]


def endpoint(request: RequestView) -> str:
    """``host[:port]/path``: the token endpoint without scheme or query (what a person compares)."""
    port = request.port
    default = {"http": 80, "https": 443}.get(request.scheme)
    host = request.host + (f":{port}" if port and port != default else "")
    return host + _bare(request.path)


@dataclass(frozen=True)
class TokenRequest:
    """A token request (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6; RFC 8628 §3.4; RFC 8693 §2.1)."""

    grant: str
    endpoint: str
    client_id: str = ""
    client_auth: str = "none"
    """basic | post | assertion | none (RFC 6749 §2.3; RFC 7523 §2.2)"""
    redirect_uri: str = ""
    scope: str = ""
    audience: str = ""
    """``resource`` (RFC 8707, Entra v1) and ``audience`` (RFC 8693, Auth0), joined."""
    refresh_key: str = ""
    """Key of the refresh token sent (refresh_token grant)."""


@dataclass(frozen=True)
class Revocation:
    """A revocation request (RFC 7009 §2.1)."""

    endpoint: str
    token_key: str
    client_id: str = ""


@dataclass(frozen=True)
class TokenResponse:
    """The token endpoint's answer: issued (§5.1) or ``error`` (§5.2)."""

    error: str = ""
    access_key: str = ""
    expires_in: float | None = None
    refresh_key: str = ""
    scope: str = ""
    audience: str = ""
    """The access token's ``aud`` when it is a JWT."""
    exp: float | None = None
    """The access token's ``exp`` when it is a JWT."""

    @property
    def issued(self) -> bool:
        return bool(self.access_key)


def parse_request(request: RequestView) -> TokenRequest | Revocation | None:
    """The token or revocation request this is, or None. Cheap on anything else."""
    if request.method.upper() != "POST" or not request.body or len(request.body) > MAX_BODY:
        return None
    params = _params(request.body, is_token_path(request.path))
    if params is None:
        return None
    grant_type = params.get("grant_type")
    if grant_type:
        return _token_request(request, params, grant_type)
    if params.get("token") and _bare(request.path).endswith(REVOKE_PATHS):
        return Revocation(endpoint(request), key(params["token"]),
                          params.get("client_id") or _basic_client(request))
    return None


def _params(body: bytes, json_allowed: bool) -> dict | None:
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        if not json_allowed:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) \
            else None
    if "grant_type=" not in text and "token=" not in text:
        return None
    params: dict = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=128)
    except ValueError:
        return None
    for name, value in pairs:
        if name in ("resource", "audience", "scope") and name in params:
            params[name] += " " + value  # RFC 8707 allows several resource parameters
        else:
            params.setdefault(name, value)
    return params


def _token_request(request: RequestView, params: dict, grant_type: str) -> TokenRequest:
    client_id, auth = params.get("client_id", ""), "post" if params.get("client_secret") else "none"
    basic = _basic_client(request)
    if basic:
        client_id, auth = basic, "basic"
    assertion = params.get("client_assertion")
    if assertion:
        claims = jwt_claims(assertion)
        client_id = client_id or str(claims.get("sub") or claims.get("iss") or "")
        auth = "assertion"
    audience = " ".join(v for v in (params.get("resource", ""), params.get("audience", "")) if v)
    refresh = params.get("refresh_token", "")
    return TokenRequest(GRANTS.get(grant_type, grant_type), endpoint(request), client_id, auth,
                        params.get("redirect_uri", ""), params.get("scope", ""), audience,
                        key(refresh) if refresh else "")


def _basic_client(request: RequestView) -> str:
    """The client id of HTTP Basic client authentication (RFC 6749 §2.3.1: form-encoded id)."""
    header = request.header("authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
    user, colon, _ = decoded.partition(":")
    return unquote_plus(user) if colon else ""


def parse_response(response: ResponseView) -> TokenResponse | None:
    """The token endpoint's answer (JSON, or GitHub's form encoding), or None."""
    body = response.body
    if not body or len(body) > MAX_BODY:
        return None
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
    elif "access_token=" in text or text.startswith("error="):
        data = dict(parse_qsl(text, max_num_fields=64))
    else:
        return None
    if not isinstance(data, dict):
        return None
    access = data.get("access_token")
    if isinstance(access, str) and access:
        refresh = data.get("refresh_token")
        claims = jwt_claims(access)
        aud = claims.get("aud")
        return TokenResponse(
            access_key=key(access), expires_in=_seconds(data.get("expires_in")),
            refresh_key=key(refresh) if isinstance(refresh, str) and refresh else "",
            scope=data["scope"] if isinstance(data.get("scope"), str) else "",
            audience=" ".join(map(str, aud)) if isinstance(aud, list) else str(aud or ""),
            exp=_seconds(claims.get("exp")))
    error = data.get("error")
    return TokenResponse(error=error) if isinstance(error, str) and error else None


def _seconds(value) -> float | None:
    """``expires_in`` is a number, or a string of one (Entra v1, some gateways)."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds == seconds and 0 <= seconds < 1e12 else None
