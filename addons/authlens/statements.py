"""The server's own statement about a refusal, mapped to the specific finding it names.

What the server said (a vendor code, the challenge's ``error_description``, the body's
``error_description`` / ``message`` / ``detail``, SharePoint's ``x-ms-diagnostics``) is read once
and turned into one specific finding (``token-audience-mismatch`` for "The audience is invalid"),
confirmed against the token where it can be read ("the token's aud is api://billing"). The
generic findings (``error-in-body``, ``challenge-invalid-token``) stay, and lose to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import scopes
from .caching import Memo
from .model import STATEMENT, Finding, on_failure

# (pattern on the lower-cased statement, finding id), first match wins: the more specific
# phrase first ("issuer or signature" before "issuer" and "signature").
PHRASES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), f) for p, f in (
    (r"\baudience|\baud\b", "token-audience-mismatch"),
    (r"issuer or signature", "issuer-or-signature"),
    (r"\bissuer\b|\bwrong tenant|\btenant .*not (?:found|trusted|allowed)", "token-issuer-mismatch"),
    (r"\bsignature\b", "token-signature-invalid"),
    (r"jwt malformed|malformed (?:jwt|token)|invalid jwt\b|cannot be decoded|could not be decoded",
     "token-malformed"),
    # jsonwebtoken's NotBeforeError says "jwt not active": before the revoked wording
    (r"not yet valid|\bnbf\b|jwt not active|not active yet", "token-not-yet-valid-or-expired"),
    (r"\bexpired?\b|lifetime validation failed|\bexp\b", "token-expired"),
    (r"\brevoked\b|\bnot active\b|\binactive\b|\bdeactivated\b", "token-revoked"),
    (r"\broles?\b[^.]{0,60}\b(?:required|requires|missing|needed|lacks?)\b"
     r"|\b(?:requires?|required|missing|needs?|lacks?)\b[^.]{0,20}\broles?\b", "role-missing"),
    (r"\bscopes?\b[^.]{0,60}\b(?:required|requires|missing|needed|insufficient)\b"
     r"|\binsufficient\b[^.]{0,40}\bscopes?\b|\bmissing\b[^.]{0,20}\bscopes?\b", "scope-missing"),
    (r"invalid client|client authentication failed|invalid client secret", "oauth-invalid-client"),
    (r"\bmissing\b[^.]{0,20}\b([a-z][\w-]*-[\w-]+|authorization)\b['\"]? header"
     r"|\b([a-z][\w-]*-[\w-]+|authorization)['\"]? header is missing", "header-missing"),
    (r"invalid api ?key|api ?key (?:is )?(?:not valid|invalid)|bad credentials|invalid "
     r"(?:authentication )?credentials|invalid (?:username|user name|password)|incorrect "
     r"(?:username|password)|invalid token|token (?:is )?(?:invalid|not valid)|unknown token",
     "credential-invalid"),
    (r"not a member|is missing \w+ privilege|insufficient privileges|do(?:es)?(?: not|n't) have "
     r"(?:the )?permission|permission denied|access denied|not authorized to|\bnot "
     r"(?:allowed|permitted)\b", "permission-missing"),
))
"""The server's words -> what they name, matched on the lower-cased statement with ``_`` read
as a space (``token_expired``); the first match wins, so the more specific phrase comes first."""

_HEADER_NAME = re.compile(r"\b([A-Za-z][\w-]*-[\w-]+|authorization)\b", re.I)
_QUOTED_ROLE = re.compile(r"roles?\s+['\"]([^'\"]{1,64})['\"]|['\"]([^'\"]{1,64})['\"]\s+roles?")
MAX_STATEMENT = 600
_MARK = STATEMENT
"""Evidence every finding of this module carries (``is_statement``)."""


def is_statement(finding: Finding) -> bool:
    """Whether ``finding`` came from the server's words here (the analyzer drops it when another
    check found the same id)."""
    return _MARK in finding.evidence


def statements(ctx) -> list[tuple[str, str]]:
    """(where, text) of what the server said, most specific source first."""
    said: list[tuple[str, str]] = []
    status = ctx.status
    if status is not None and status >= 400:
        for challenge in ctx.challenges.challenges:
            description = challenge.get("error_description")
            if description:
                said.append((f"{challenge.scheme} challenge", description[:MAX_STATEMENT]))
    error = ctx.error_body
    if error is not None:
        for text in (error.message, error.code):
            if text and not text.isdigit():
                said.append((f"{error.vendor} error", text[:MAX_STATEMENT]))
        for key, value in error.evidence:
            if key == "x-ms-diagnostics" and isinstance(value, str):
                said.append(("x-ms-diagnostics", value[:MAX_STATEMENT]))
    return said


def _jwt(ctx):
    return next((t for t in ctx.tokens if t.kind == "jwt"), None)


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _aud_names_host(audiences: list[str], host: str) -> bool:
    """Whether an audience plainly names the host called (https://graph.microsoft.com)."""
    return any(host in a.lower() or a.lower().split("//")[-1].split("/")[0] in host
               for a in audiences if "//" in a)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


@on_failure
def check_server_statement(ctx) -> Iterator[Finding]:
    """The specific finding the server's own words name (first statement that maps wins)."""
    error = ctx.error_body
    if not (ctx.refused or (error is not None and error.known)):
        return  # only a refusal, or a body that says auth failed (a 200 ok:false, a 400)
    if error is not None and error.finding.startswith("oauth-"):
        return  # the token endpoint's own code already names it (RFC 6749 §5.2)
    if error is not None and error.finding == "route-not-found":
        return
    found = _from_code(ctx, error) if error is not None else None
    if found is None:
        for where, text in statements(ctx):
            found = _from_phrase(ctx, where, text)
            if found is not None:
                break
    if found is not None:
        yield Finding(found.id, found.message, found.evidence + (_MARK,), found.verdict,
                      found.links)


def _from_code(ctx, error) -> Finding | None:
    finding_id = error.named or None
    if error.code == "UnauthorizedException":
        token = _jwt(ctx)
        if token is not None and token.claims.get("token_use") == "access":
            return Finding("token-wrong-type",
                           f"{error.vendor} says {_quote(error.message or error.code)!r} and the "
                           f"token is a Cognito access token (token_use: access): a user-pool "
                           f"authorizer without OAuth scopes accepts only the ID token.",
                           (("vendor", error.vendor), ("code", error.code),
                            ("token_use", "access")))
    if finding_id is None:
        return None
    if error.code == "invalid_auth" and "token=" in ctx.request.query:
        return Finding("apikey-wrong-place",
                       "Slack says invalid_auth and the token was sent as ?token= in the URL: "
                       "Slack apps created after November 2020 must send it in "
                       "'Authorization: Bearer'.",
                       (("vendor", "Slack"), ("code", "invalid_auth"), ("sent_in", "query")))
    said = error.message or error.code
    if error.where.startswith("header ") and error.explanation:  # the header's code and its params
        text = f"{error.vendor} says {error.code} ({error.where}): {error.explanation.rstrip('.')}"
        url = dict(error.evidence).get("url")
        if url:  # redacted when read (bodies.read_spec)
            text += f"; see {url}"
    else:
        text = f"{error.vendor} says {error.code}" + (
            f": {_quote(said)!r}" if said and said != error.code else "")
    return _confirmed(ctx, finding_id, text, (("vendor", error.vendor), ("code", error.code)))


def _kinds_named(text: str) -> tuple[str, ...]:
    """The finding ids whose ``PHRASES`` pattern matches ``text``, in ``PHRASES`` order."""
    low = text.lower().replace("_", " ")
    return tuple(kind for pattern, kind in PHRASES if pattern.search(low) is not None)


_KINDS_NAMED = Memo(_kinds_named, 1024, 4 * 1024)
"""Servers repeat their words: each statement is matched against ``PHRASES`` once."""


def _from_phrase(ctx, where: str, text: str) -> Finding | None:
    for kind in _KINDS_NAMED[text]:
        said = f"The {where} says {_quote(text)!r}"
        evidence = (("said_by", where), ("statement", _quote(text)))
        if kind == "header-missing":
            return _header_missing(ctx, text, said, evidence)
        if kind == "issuer-or-signature":
            token = _jwt(ctx)
            audiences = _audiences(token.claims) if token is not None else []
            kind = ("token-audience-mismatch" if audiences and not _aud_names_host(
                audiences, ctx.request.host) else "token-signature-invalid")
        if kind == "token-revoked" and _expired(ctx):
            kind = "token-expired"  # Keycloak says "not active" of an expired token
        if kind == "token-not-yet-valid-or-expired":
            token = _jwt(ctx)
            nbf = token.claim_time("nbf") if token is not None else None
            kind = ("token-not-yet-valid" if nbf is not None and nbf > ctx.sent_at
                    else "token-expired")
        if kind in ("role-missing", "scope-missing"):
            return _scope(ctx, kind, text, said, evidence)
        if kind == "permission-missing" and ctx.status == 401:
            continue
        return _confirmed(ctx, kind, said, evidence)
    return None


def _expired(ctx) -> bool:
    token = _jwt(ctx)
    exp = token.claim_time("exp") if token is not None else None
    return exp is not None and exp < ctx.sent_at


def _confirmed(ctx, finding_id: str, said: str, evidence: tuple) -> Finding:
    """The finding, with the token's own fact that confirms the server's words."""
    token = _jwt(ctx)
    claims = token.claims if token is not None else {}
    fact = ""
    if finding_id == "token-audience-mismatch" and _audiences(claims):
        audiences = _audiences(claims)
        fact = f"; the token's aud is {', '.join(audiences)} (the call went to {ctx.request.host})"
        evidence += (("aud", audiences),)
    elif finding_id == "token-issuer-mismatch" and claims.get("iss"):
        fact = f"; the token's iss is {claims['iss']}"
        if claims.get("tid"):
            fact += f" (tenant {claims['tid']})"
        evidence += (("iss", str(claims["iss"])),)
    elif finding_id in ("token-expired", "token-not-yet-valid") and token is not None:
        name = "exp" if finding_id == "token-expired" else "nbf"
        when = token.claim_time(name)
        if when is not None:
            gap = ctx.sent_at - when
            fact = (f"; the token's {name} was {abs(gap):.0f} s "
                    f"{'before' if gap >= 0 else 'after'} the request was sent")
            evidence += ((name, when),)
    elif finding_id == "token-scope-missing" and claims:
        have = sorted(scopes.token_scopes(claims) | scopes.token_roles(claims))
        fact = f"; the token carries {', '.join(have) or 'no scope or role'}"
        evidence += (("token_has", have),)
    return Finding(finding_id, f"{said}{fact}.", evidence)


def _scope(ctx, kind: str, text: str, said: str, evidence: tuple) -> Finding:
    token = _jwt(ctx)
    claims = token.claims if token is not None else {}
    if kind == "role-missing":
        named = _QUOTED_ROLE.search(text)
        role = (named.group(1) or named.group(2)) if named else ""
        have = sorted(scopes.token_roles(claims))
        if role:
            evidence += (("missing", [role]),)
        if token is None:
            return Finding("token-scope-missing", f"{said}.", evidence)
        if role and role in have:
            return Finding("token-scope-missing",
                           f"{said}; the token does carry role {role!r}: the server reads roles "
                           "from elsewhere (its own directory?).", evidence)
        what = f"role {role!r}" if role else "the role"
        return Finding("token-scope-missing",
                       f"{said}; the token lacks {what} (its roles: {', '.join(have) or 'none'}).",
                       evidence + (("token_has", have),))
    return _confirmed(ctx, "token-scope-missing", said, evidence)


def _header_missing(ctx, text: str, said: str, evidence: tuple) -> Finding:
    """'missing X-API-Key header': the key in the wrong place, or no credential at all."""
    names = [m for m in _HEADER_NAME.findall(text) if m.lower() != "missing"]
    wanted = names[0] if names else "the header"
    if ctx.request.header(wanted) is not None:
        return Finding("credential-invalid", f"{said}, although the request has {wanted}.",
                       evidence)
    elsewhere = [c for c in ctx.credentials if c.name.lower() != wanted.lower()]
    if elsewhere:
        cred = elsewhere[0]
        place = f"query parameter ?{cred.name}=" if cred.location == "query" else \
            f"{cred.location} {cred.name}"
        return Finding("apikey-wrong-place",
                       f"{said}; the request sent its credential in {place} instead of "
                       f"{wanted}.", evidence + (("expected", wanted), ("sent_in", place)))
    return Finding("credential-missing", f"{said}; the request has no {wanted}.",
                   evidence + (("expected", wanted),))


@on_failure
def check_challenge_place(ctx) -> Iterator[Finding]:
    """A challenge that names the header it reads (``ApiKey header="X-API-Key"``) answered a
    request that sent its credential somewhere else."""
    if ctx.status not in (401, 403):
        return
    for challenge in ctx.challenges.challenges:
        wanted = challenge.get("header") or challenge.get("in_header")
        if not wanted or ctx.request.header(wanted) is not None:
            continue
        elsewhere = [c for c in ctx.credentials if c.name.lower() != wanted.lower()]
        if not elsewhere:
            continue
        cred = elsewhere[0]
        place = f"query parameter ?{cred.name}=" if cred.location == "query" else \
            f"{cred.location} {cred.name}"
        yield Finding("apikey-wrong-place",
                      f"The {challenge.scheme} challenge says the credential goes in header "
                      f"{wanted}; the request sent it in {place}.",
                      (("expected", f"header {wanted}"), ("sent_in", place),
                       ("scheme", challenge.scheme), _MARK))
        return


CHECKS = (check_challenge_place, check_server_statement)
