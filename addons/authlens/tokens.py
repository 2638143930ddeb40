"""Read the tokens a request carries (pyjwt for JOSE) and judge their times.

Decoding is unverified on purpose: authlens explains what the token *says*; it is not the server.
Decoded tokens are cached by value, since clients send the same token many times.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import jwt

from .authorization import MAX_CACHED_VALUE
from .caching import Memo, once
from .credentials import Credential
from .humanize import duration, epoch, relative, utc
from .model import Finding, per_credentials
from .secrecy import AUTH_HEADERS, fingerprint, redact, redact_inline

_JWS = re.compile(r"^[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2}$")
_JWE_PARTS = 5
_TOKEN_SCHEMES = frozenset({None, "bearer", "dpop", "token", "jwt"})
_MAX_TOKEN = 64 * 1024

# The claims a developer needs to see, in display order.
SHOWN_CLAIMS = ("iss", "aud", "sub", "azp", "appid", "tid", "scp", "scope", "roles", "iat", "nbf",
                "exp")
TIME_CLAIMS = ("iat", "nbf", "exp")


@dataclass(frozen=True)
class Token:
    """A token as read from one credential."""

    credential: Credential
    kind: str
    """jwt | jwe | opaque | malformed"""
    header: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)
    problem: str = ""
    """For malformed tokens: which part failed and why."""

    @property
    def value(self) -> str:
        return self.credential.value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.value)

    def claim_time(self, name: str) -> float | None:
        """The claim as a time; None when absent or not a time (``NaN``, ``1e400``, a string)."""
        return epoch(self.claims.get(name))

    @once
    def validity(self) -> tuple[float | None, float | None]:
        """(exp, the later of nbf and iat): the times a call is judged against, read once."""
        starts = [t for t in (self.claim_time("nbf"), self.claim_time("iat")) if t is not None]
        return self.claim_time("exp"), max(starts) if starts else None

    @property
    def lifetime(self) -> float | None:
        exp, iat = self.claim_time("exp"), self.claim_time("iat")
        return exp - iat if exp is not None and iat is not None else None

    def describe(self, reveal: bool = False, now: float | None = None) -> dict:
        """Plain, redacted view: the claims that matter, times in UTC (and relative to ``now``)."""
        fixed, moments, lifetime = self._described_once[reveal]
        out = {k: dict(v) if isinstance(v, dict) else v for k, v in fixed.items()}  # the flow's own
        if moments:
            out["times"] = {name: f"{shown} ({relative(moment, now)})" if now else shown
                            for name, moment, shown in moments}
        if lifetime:
            out["lifetime"] = lifetime
        return out

    @once
    def _described_once(self) -> dict[bool, tuple[dict, tuple, str]]:
        """The parts of ``describe`` that do not depend on ``now``, by ``reveal``: a token is
        described on every call that sends it."""
        return _DescribedToken(self)


class _DescribedToken(dict):
    """``Token._described_once``: filled in on first use for each ``reveal``."""

    def __init__(self, token: Token):
        super().__init__()
        self.token = token

    def __missing__(self, reveal: bool) -> tuple[dict, tuple, str]:
        token = self.token
        fixed: dict = {"kind": token.kind, "fingerprint": token.fingerprint,
                       "value": redact(token.value, reveal), "source": token.credential.name}
        if token.problem:
            fixed["problem"] = token.problem
        if token.header:
            fixed["header"] = {k: token.header[k] for k in ("alg", "kid", "typ", "enc")
                               if k in token.header}
        claims = {name: token.claims[name] for name in SHOWN_CLAIMS if name in token.claims}
        if claims:
            fixed["claims"] = claims
        moments = tuple((name, moment, utc(moment)) for name in TIME_CLAIMS
                        if (moment := token.claim_time(name)) is not None)
        lifetime = duration(token.lifetime) if token.lifetime is not None else ""
        self[reveal] = value = (fixed, moments, lifetime)
        return value


def decode_credentials(credentials: Iterable[Credential]) -> list[Token]:
    """The tokens among ``credentials`` (Basic, Digest and other non-token schemes are skipped)."""
    tokens = []
    for credential in credentials:
        value = credential.value
        scheme = credential.scheme.lower() if credential.scheme else None
        in_auth_header = credential.location == "header" and credential.name.lower() in AUTH_HEADERS
        if value and (value.startswith("eyJ") or (in_auth_header and scheme in _TOKEN_SCHEMES)):
            kind, header, claims, problem = _decode(value)
            tokens.append(Token(credential, kind, header, claims, problem))
    return tokens


def _base64url(part: str) -> bytes:
    """A JOSE part decoded (base64url, padding optional: RFC 7515 §2)."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def __decode_uncached(value: str) -> tuple[str, dict, dict, str]:
    if len(value) > _MAX_TOKEN:
        return ("malformed" if value.startswith("eyJ") else "opaque"), {}, {}, "too long to decode"
    if not value.startswith("ey"):  # a JOSE header is base64url JSON: it starts with '{'
        return "opaque", {}, {}, ""
    parts = value.count(".") + 1
    if parts == _JWE_PARTS:
        try:  # pyjwt reads JWS only; a JWE's protected header is plain base64url JSON
            header = json.loads(_base64url(value.split(".", 1)[0]))
        except (ValueError, TypeError) as exc:
            return "malformed", {}, {}, f"JWE header: {exc}"
        return "jwe", header if isinstance(header, dict) else {}, {}, ""
    if not _JWS.match(value):
        return "malformed", {}, {}, _shape_problem(value, parts)
    try:
        decoded = jwt.decode_complete(value, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        return "malformed", {}, {}, str(exc)
    except Exception as exc:  # pyjwt raises others on odd claims; still a token we can't read
        return "malformed", {}, {}, f"{type(exc).__name__}: {exc}"
    claims = decoded["payload"]
    if not isinstance(claims, dict):
        return "malformed", decoded["header"], {}, "payload is not a JSON object"
    return "jwt", decoded["header"], claims, ""


_decode = Memo(__decode_uncached, 4096, MAX_CACHED_VALUE).__getitem__


def jwt_claims(value: str) -> dict:
    """The claims of a readable JWT, {} for anything else (opaque, encrypted, malformed)."""
    kind, _, claims, _ = _decode(value)
    return claims if kind == "jwt" else {}


def _shape_problem(value: str, parts: int) -> str:
    if parts not in (3, _JWE_PARTS):
        return f"a JWT has 3 dot-separated parts (5 when encrypted); this one has {parts}"
    for index, part in enumerate(value.split(".")):
        bad = re.search(r"[^A-Za-z0-9_=-]", part)
        if bad:
            name = ("header", "payload", "signature", "part 4", "part 5")[index]
            return (f"{name} contains {bad.group()!r} at position {bad.start()}, "
                    "which is not base64url (was it URL- or JSON-encoded?)")
    return "a part is empty"


# ---- checks -------------------------------------------------------------------------------


@per_credentials
def check_token_shape(ctx) -> Iterable[Finding]:
    for token in ctx.tokens:
        if token.kind == "malformed":
            yield Finding("token-malformed", f"{_ref(token, ctx)} cannot be decoded: "
                          f"{token.problem}.", (("problem", token.problem),))
        elif token.kind == "opaque":
            yield Finding("token-opaque", f"{_ref(token, ctx)} is opaque (not a JWT).")
        elif token.kind == "jwe":
            yield Finding("token-encrypted", f"{_ref(token, ctx)} is an encrypted JWT (JWE).")
        elif str(token.header.get("alg", "")).lower() == "none":
            yield Finding("token-unsigned", f"{_ref(token, ctx)} has alg "
                          f"\"{token.header.get('alg')}\": it carries no signature.")


def check_token_times(ctx) -> list[Finding]:
    """Expired or not yet valid when the request was sent (a list: this runs on every call, and
    nearly always finds nothing)."""
    found: list[Finding] = []
    for token in ctx.tokens:
        if token.kind == "jwt":
            sent, leeway = ctx.sent_at, ctx.leeway
            expires, starts = token.validity
            if ((expires is not None and expires + leeway < sent)
                    or (starts is not None and starts - leeway > sent)):
                found.extend(_time_findings(ctx, token, sent, leeway))
    return found


def _time_findings(ctx, token: Token, sent: float, leeway: float) -> Iterable[Finding]:
    exp = token.claim_time("exp")
    if exp is not None and exp + leeway < sent:
        lifetime = f"; it lived {duration(token.lifetime)}" if token.lifetime else ""
        yield Finding(
            "token-expired",
            f"{_ref(token, ctx)} expired {duration(sent - exp)} before the request was sent "
            f"(exp {utc(exp)}, sent {utc(sent)}{lifetime}).",
            (("exp", exp), ("sent", sent), ("expired_for_s", round(sent - exp))))
    for claim in ("nbf", "iat"):
        moment = token.claim_time(claim)
        if moment is not None and moment - leeway > sent:
            yield Finding(
                "token-not-yet-valid",
                f"{_ref(token, ctx)} has {claim} {utc(moment)}, {duration(moment - sent)} "
                f"after the request was sent ({utc(sent)}): a clock is off.",
                (("claim", claim), (claim, moment), ("sent", sent)))
            break


def _ref(token: Token, ctx) -> str:
    return f"The token in {token.credential.name} ({redact_inline(token.value, ctx.settings.reveal)})"


CHECKS = (check_token_shape, check_token_times)
