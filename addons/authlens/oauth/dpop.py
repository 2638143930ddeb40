"""DPoP (RFC 9449) on the wire: the proof a client sends checked against the request it rides on
(``htm``, ``htu``, ``ath``, ``iat``), and the ``use_dpop_nonce`` retry that does not converge.

The proof is read, not verified (its key is the client's own); what authlens checks is what the
server will compare it with, which authlens sees exactly as the server does.
"""

from __future__ import annotations

import base64
import hashlib
import json

import jwt

from ..humanize import duration
from ..model import Finding
from ..recent import Recent
from ..web import normalize


def _target(url: str) -> str:
    """The URL as ``htu`` names it: no query, no fragment (RFC 9449 §4.2, §4.3)."""
    try:
        return normalize(url.split("#", 1)[0].split("?", 1)[0]).split("?", 1)[0]
    except ValueError:  # the client wrote it: keep what it wrote
        return url


def read_proof(proof: str) -> tuple[dict, dict] | None:
    """The proof's JOSE header and claims, unverified; None when it is no JWT."""
    try:
        return (jwt.get_unverified_header(proof),
                jwt.decode(proof, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return None


def proof_problems(ctx, header: dict, claims: dict) -> list[str]:
    """How the proof disagrees with the request it was sent with (RFC 9449 §4.3)."""
    request, problems = ctx.request, []
    if header.get("typ") != "dpop+jwt":
        problems.append(f"its typ is {header.get('typ')!r}, not 'dpop+jwt'")
    htm = claims.get("htm")
    if htm != request.method:
        problems.append(f"htm is {htm!r} but the request is a {request.method}")
    htu, target = claims.get("htu"), _target(request.url)
    if not isinstance(htu, str) or _target(htu) != target or "?" in htu or "#" in htu:
        tail = " (htu carries no query or fragment)" if isinstance(htu, str) and (
            "?" in htu or "#" in htu) else ""
        problems.append(f"htu is {htu!r} but the request went to {target!r}{tail}")
    iat = claims.get("iat")
    if isinstance(iat, (int, float)) and not isinstance(iat, bool):
        gap = iat - ctx.sent_at
        if abs(gap) > ctx.leeway:
            problems.append(f"iat is {duration(gap)} {'after' if gap > 0 else 'before'} the "
                            f"request was sent (a stale or pre-made proof, or a clock off)")
    else:
        problems.append("it has no iat")
    scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "dpop" and token.strip():
        digest = hashlib.sha256(token.strip().encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if "ath" not in claims:
            problems.append("it has no ath, though the request sends an access token")
        elif claims["ath"] != expected:
            problems.append("its ath is not the hash of the access token this request sends")
    return problems


class DpopChecks:
    """Per exchange: the proof against its request; across exchanges: the nonce retries."""

    def __init__(self, limit: int = 1024):
        self.asked: Recent = Recent(limit)
        """(client, URL, proof key) -> (flow, nonce) of the latest use_dpop_nonce answer"""

    def check(self, ctx) -> list[Finding]:
        proof = ctx.request.header("DPoP")
        if not proof:
            return []
        read = read_proof(proof.strip())
        findings: list[Finding] = []
        if read is not None and (ctx.refused or (ctx.status or 0) >= 400):
            problems = proof_problems(ctx, *read)
            if problems:
                findings.append(Finding(
                    "dpop-proof-mismatch",
                    f"The DPoP proof does not match the request it was sent with: "
                    f"{'; '.join(problems)}.", (("problems", problems),)))
        findings.extend(self._nonce(ctx, *(read or ({}, {}))))
        return findings

    def _nonce(self, ctx, header: dict, claims: dict) -> list[Finding]:
        asks = any(c.get("error") == "use_dpop_nonce" for c in ctx.challenges.challenges)
        jwk = header.get("jwk")
        holder = json.dumps(jwk, sort_keys=True) if isinstance(jwk, dict) else ""
        key = (ctx.exchange.client, _target(ctx.request.url), holder)  # one client, one key
        earlier = self.asked.get(key)
        if asks:
            self.asked[key] = (ctx.exchange.id, ctx.response.header("DPoP-Nonce") or "")
        elif earlier is not None and earlier[0] != ctx.exchange.id:
            del self.asked[key]  # answered otherwise: the retry converged
        if not asks or earlier is None or earlier[0] == ctx.exchange.id:
            return []
        flow, nonce = earlier
        sent = claims.get("nonce")
        what = "no nonce" if sent is None else (
            "the nonce offered" if sent == nonce else f"nonce {sent!r}")
        return [Finding(
            "dpop-nonce-loop",
            f"The server asked for a DPoP nonce again: its previous use_dpop_nonce answer "
            f"offered DPoP-Nonce {nonce!r}, and this retry's proof carries {what}. The client "
            f"must put the newest DPoP-Nonce value in the `nonce` claim of a new proof"
            f"{'; the server rejects even the offered nonce (it rotates faster than the client retries, or ties it to another URL)' if sent == nonce else ''}.",
            (("offered", nonce), ("sent", sent)),
            links=(("nonce-asked-by", flow, f"use_dpop_nonce offering {nonce!r}"),))]
