"""The response-side checks: what the server's challenges say (error codes, the status they
belong on, a 401 without a challenge, a malformed header, Basic's charset) and the bare status.

The challenges themselves are read by ``challenge`` (the grammar); these checks only judge them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator

from .challenge import Challenge, ParseError
from .model import Finding, on_failure

# RFC 6750 §3.1, RFC 9470 §3, RFC 9449 §7.1/§9: the status each error code belongs on.
_ERROR_STATUS = {
    "invalid_request": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "insufficient_user_authentication": 401,
    "insufficient_claims": 401,
    "use_dpop_nonce": 401,
    "invalid_dpop_proof": 401,
}

_ERROR_FINDINGS = {
    "invalid_token": "challenge-invalid-token",
    "insufficient_scope": "challenge-insufficient-scope",
    "invalid_request": "challenge-invalid-request",
    "insufficient_claims": "challenge-claims-required",
    "insufficient_user_authentication": "challenge-step-up-required",
    "use_dpop_nonce": "challenge-dpop-nonce",
    "invalid_dpop_proof": "challenge-invalid-dpop-proof",
}

_MAX_SHOWN = 300


def _clip(text: str, limit: int = _MAX_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_of(challenge: Challenge) -> str | None:
    error = challenge.params.get("error")
    return error.strip().lower() if error else None


def _decode_claims(claims: str) -> str | None:
    """CAE/Conditional Access ``claims`` is base64 of a JSON claims request (or the JSON itself)."""
    text = claims.strip()
    if not text.startswith("{") and len(text) <= 8192:
        try:
            text = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_").decode("utf-8")
        except (binascii.Error, ValueError):
            try:
                text = base64.b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                return None
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except (ValueError, RecursionError):
        return None


def _describe_error(challenge: Challenge, error: str) -> tuple[str, tuple]:
    params = challenge.params
    evidence: list = [("scheme", challenge.scheme), ("error", error)]
    desc = params.get("error_description")
    tail = f" ({_clip(desc)})" if desc else ""
    if desc:
        evidence.append(("error_description", _clip(desc)))
    if error == "insufficient_scope":
        scope = params.get("scope")
        if scope:
            evidence.append(("required_scope", scope.split()))
            return (f"The {challenge.scheme} challenge says insufficient_scope; the operation needs "
                    f"scope {_clip(scope, 200)!r}{tail}.", tuple(evidence))
        return (f"The {challenge.scheme} challenge says insufficient_scope, without naming the "
                f"scope needed{tail}.", tuple(evidence))
    if error == "insufficient_claims":
        claims = params.get("claims")
        decoded = _decode_claims(claims) if claims else None
        if decoded:
            evidence.append(("claims", _clip(decoded, 500)))
        what = f" claims {_clip(decoded, 200)}" if decoded else " the claims in the challenge"
        return (f"Conditional Access / Continuous Access Evaluation wants a new token with{what}"
                f"{tail}: re-acquire it interactively passing the challenge's claims.",
                tuple(evidence))
    if error == "insufficient_user_authentication":
        for key in ("acr_values", "max_age"):
            if params.get(key):
                evidence.append((key, params[key]))
        need = []
        if params.get("acr_values"):
            need.append(f"acr_values {params['acr_values']!r}")
        if params.get("max_age"):
            need.append(f"a sign-in no older than {params['max_age']}s")
        wanted = " and ".join(need) or "a stronger or more recent sign-in"
        return (f"The server wants {wanted} (RFC 9470 step-up){tail}.", tuple(evidence))
    if error == "use_dpop_nonce":
        return (f"The server requires a DPoP nonce: retry with a new DPoP proof carrying the "
                f"DPoP-Nonce response header's value{tail}.", tuple(evidence))
    if error == "invalid_dpop_proof":
        return f"The server rejected the DPoP proof{tail}.", tuple(evidence)
    if error == "invalid_token":
        return f"The {challenge.scheme} challenge says invalid_token{tail}.", tuple(evidence)
    return f"The {challenge.scheme} challenge says {error}{tail}.", tuple(evidence)


def _relevant(ctx) -> list:
    """Challenges that apply to this status: Proxy-Authenticate on 407, else WWW-Authenticate."""
    parsed = ctx.challenges
    if not parsed.challenges:
        return []
    header = "proxy-authenticate" if ctx.status == 407 else "www-authenticate"
    return parsed.in_header(header)


@on_failure
def check_challenge_missing(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status == 401:
        if ctx.response.header("www-authenticate") is None:
            yield Finding("challenge-missing",
                          "The 401 response has no WWW-Authenticate header, so it does not say "
                          "which scheme or token it expects.", (("status", 401),))
    elif status == 407:
        if ctx.response.header("proxy-authenticate") is None:
            yield Finding("challenge-missing",
                          "The 407 response has no Proxy-Authenticate header, so it does not say "
                          "how to authenticate to the proxy.", (("status", 407),))


@on_failure
def check_challenge_errors(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status is None or status < 400 or not ctx.challenges.challenges:
        return  # a challenge's error code only explains a refusal
    for challenge in _relevant(ctx):
        error = _error_of(challenge)
        if not error:
            continue
        finding_id = _ERROR_FINDINGS.get(error)
        message, evidence = _describe_error(challenge, error)
        if finding_id:
            yield Finding(finding_id, message, evidence)
        expected = _ERROR_STATUS.get(error)
        if expected and status in (400, 401, 403, 407) and status != expected and not (
                status == 407 and expected == 401):
            yield Finding("status-error-mismatch", _mismatch_message(error, status, expected),
                          (("error", error), ("status", status), ("expected_status", expected)))


def _mismatch_message(error: str, status: int, expected: int) -> str:
    if error == "insufficient_scope":
        return (f"insufficient_scope arrived on a {status}: this is an authorization problem "
                f"wearing a {status}; the token is valid but lacks a scope (RFC 6750 says 403).")
    if expected == 401 and status == 403:
        return (f"{error} arrived on a 403: the server rejects the credential itself, so this is "
                f"an authentication problem (RFC says 401).")
    return f"{error} arrived on a {status}; RFC assigns it {expected}."


@on_failure
def check_challenge_malformed(ctx) -> Iterator[Finding]:
    parsed = ctx.challenges
    if not parsed.errors:
        return
    for error in parsed.errors[:5]:
        evidence: list[tuple[str, object]] = [("error", str(error))]
        if isinstance(error, ParseError):
            evidence += [("header", error.header), ("position", error.position)]
        yield Finding("challenge-malformed", f"{error}.", tuple(evidence))


@on_failure
def check_basic_charset(ctx) -> Iterator[Finding]:
    """Basic challenge with charset="UTF-8" (RFC 7617 §2.1) but the credential is not UTF-8."""
    if ctx.status not in (401, 407):
        return
    wants_utf8 = any(c.name == "basic" and (c.get("charset") or "").lower() == "utf-8"
                     for c in _relevant(ctx))
    if not wants_utf8:
        return
    for cred in ctx.credentials:
        if (cred.scheme or "").lower() != "basic" or not cred.value:
            continue
        try:
            raw = base64.b64decode(cred.value, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Finding(
                "challenge-charset-mismatch",
                f"The server asked for UTF-8 Basic credentials (charset=\"UTF-8\") but the sent "
                f"user:password is not UTF-8 (byte {exc.start} is 0x{raw[exc.start]:02x}; probably "
                f"ISO-8859-1): a non-ASCII character was encoded the wrong way.",
                (("position", exc.start), ("charset", "UTF-8")))


@on_failure
def check_status_fallback(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status in (401, 407):
        offered = _relevant(ctx)
        if offered:
            shown = ", ".join(_offer(c) for c in offered[:4])
            tail = f" It asks for: {shown}."
        else:
            tail = ""
        who = "proxy" if status == 407 else "server"
        yield Finding("status-unauthorized",
                      f"The {who} answered {status} without a more specific reason authlens "
                      f"recognises.{tail}", (("status", status),))
    elif status == 403:
        yield Finding("status-forbidden",
                      "The server answered 403: it knows the caller and refuses this operation.",
                      (("status", 403),))


def _offer(challenge: Challenge) -> str:
    bits = []
    for key in ("realm", "scope", "resource", "resource_id", "authorization_uri", "authorization"):
        value = challenge.params.get(key)
        if value:
            bits.append(f"{key}={_clip(value, 80)!r}")
    return challenge.scheme + (f" ({', '.join(bits)})" if bits else "")


CHECKS = (
    check_challenge_missing,
    check_challenge_errors,
    check_challenge_malformed,
    check_basic_charset,
    check_status_fallback,
)
