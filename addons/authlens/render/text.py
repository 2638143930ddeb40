"""Plain text: the flow comment, the marker, and the multi-line explanation."""

from __future__ import annotations

from .. import catalog
from ..humanize import epoch, relative

COMMENT_PREFIX = "[authlens] "

# flow.marked takes an emoji *name*; these exist in mitmproxy 11 and 12.
MARKERS = {
    "format": ":warning:",        # the request itself is malformed
    "credential": ":key:",        # the credential was refused: prove who you are again
    "permission": ":no_entry:",   # the credential lacks the right: get the permission
    "server": ":wrench:",         # the server's configuration refuses what cannot carry a credential
    "unknown": ":grey_question:",
}
OWN_MARKERS = frozenset(MARKERS.values())

_LEADS = {
    catalog.AUTHN: "AUTHENTICATION",
    catalog.AUTHZ: "AUTHORIZATION",
    "unknown": "REFUSED (cause unknown)",
}


def marker(diagnosis: dict) -> str:
    """The marker for a diagnosis with a verdict; empty when there is no verdict."""
    verdict = diagnosis.get("verdict")
    if not verdict:
        return ""
    cause = diagnosis.get("cause")
    if not cause or cause not in catalog.CATALOG:
        return MARKERS["unknown"]
    return MARKERS.get(catalog.get(cause).group, MARKERS["unknown"])


def lead_finding(diagnosis: dict):
    """The finding the headline speaks of: the cause, or without a verdict the worst finding."""
    findings = diagnosis.get("findings", [])
    if diagnosis.get("verdict"):
        return next((f for f in findings if f["id"] == diagnosis.get("cause")), None)
    return next((f for f in findings if f["severity"] != "info"), None)


def headline(diagnosis: dict) -> str:
    """One line: verdict, cause id, what went wrong."""
    verdict = diagnosis.get("verdict")
    lead = lead_finding(diagnosis)
    if verdict:
        label = _LEADS.get(verdict, verdict.upper())
        if lead:
            return f"{label} ({lead['id']}): {lead['message']}"
        return f"{label}: the server gave no reason authlens can read."
    return f"{lead['id']}: {lead['message']}" if lead else ""


def comment(diagnosis: dict) -> str:
    """The flow comment: the headline, where the fix lives, then the other findings."""
    lines = [COMMENT_PREFIX + headline(diagnosis)]
    lead = lead_finding(diagnosis)
    if lead:
        lines.append(f"Fix: {lead['fix']}")
    for finding in diagnosis.get("findings", []):
        if finding is not lead and finding["severity"] != "info":
            lines.append(f"- {finding['id']}: {finding['message']}")
    lines.extend(link_line(link) for link in diagnosis.get("links", []))
    return "\n".join(lines)


def link_line(link: dict) -> str:
    """``See flow <id> (redirected-by): 302 GET ... -> ...``"""
    return f"See flow {link['flow']} ({link['relation']}): {link['description']}"


def merge_comment(existing: str, ours: str) -> str:
    """Put our comment in place of the previous one, keeping what the user wrote (idempotent)."""
    kept = existing.split(COMMENT_PREFIX, 1)[0].rstrip() if existing else ""
    if not ours:
        return kept
    return f"{kept}\n{ours}" if kept else ours


def explain(diagnosis: dict, now: float | None = None) -> str:
    """A full plain-text explanation (content view, ``authlens.explain``); ``now`` adds each
    token's countdown and age."""
    out = [f"{diagnosis.get('status') or '---'} {diagnosis['method']} {diagnosis['url']}",
           headline(diagnosis) or "authlens: nothing wrong with this call."]
    for cred in diagnosis.get("credentials", []):
        scheme = f"{cred['scheme']} " if cred.get("scheme") else ""
        out.append(f"  credential  {cred['location']} {cred['name']}: {scheme}{cred['value']}")
    if not diagnosis.get("credentials"):
        out.append("  credential  none sent")
    out.extend(token_lines(diagnosis, now))
    for challenge in diagnosis.get("challenges", []):
        params = ", ".join(f"{k}={v!r}" for k, v in challenge.get("params", {}).items())
        out.append(f"  challenge   {challenge.get('scheme')} {params}".rstrip())
    for finding in diagnosis.get("findings", []):
        out.append(f"  [{finding['severity']}] {finding['id']}: {finding['message']}")
        out.append(f"      fix: {finding['fix']} ({finding['cite']})")
    out.extend(f"  {link_line(link)}" for link in diagnosis.get("links", []))
    return "\n".join(out)


def token_lines(diagnosis: dict, now: float | None = None) -> list[str]:
    """Each token: kind and fingerprint, JOSE header, claims with human times, lifetime, and
    (given ``now``) how long it has left or how long ago it expired."""
    out = []
    for token in diagnosis.get("tokens", []):
        out.append(f"  token       {token['kind']} #{token['fingerprint']} in {token['source']}"
                   + (f" ({token['problem']})" if token.get("problem") else ""))
        if token.get("header"):
            out.append("    header " + " ".join(f"{k}={v}" for k, v in token["header"].items()))
        times = token.get("times", {})
        for name, value in token.get("claims", {}).items():
            out.append(f"    {name:<6} {times.get(name, value)}")
        if token.get("lifetime"):
            out.append(f"    lifetime {token['lifetime']}")
        clock = token_clock(token.get("claims", {}), now) if now is not None else ""
        if clock:
            out.append(f"    now    {clock}")
    return out


def token_clock(claims: dict, now: float) -> str:
    """``expired 2 h ago, issued 3 h ago`` / ``expires in 42 min, issued 18 min ago``."""
    parts = []
    exp, iat = epoch(claims.get("exp")), epoch(claims.get("iat"))
    if exp is not None:
        parts.append(f"expires {relative(exp, now)}" if exp > now else f"expired {relative(exp, now)}")
    if iat is not None:
        parts.append(f"issued {relative(iat, now)}")
    return ", ".join(parts)
