"""Plain text: the flow comment, the marker, and the multi-line explanation."""

from __future__ import annotations

import re
import textwrap

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
    """The marker for a diagnosis with a verdict (empty without one). It follows the verdict:
    authorization is always "get the permission"; within authentication the cause's group says
    whether the request, the credential or the server's configuration is at fault."""
    verdict = diagnosis.get("verdict")
    if not verdict:
        return ""
    if verdict == catalog.AUTHZ:
        return MARKERS["permission"]
    cause = diagnosis.get("cause")
    if verdict != catalog.AUTHN or not cause or cause not in catalog.CATALOG:
        return MARKERS["unknown"]
    group = catalog.get(cause).group
    return MARKERS[group] if group in ("format", "credential", "server") else MARKERS["credential"]


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


def comment_lead(diagnosis: dict) -> str:
    """What mitmweb's narrow comment column shows first: the cause's id and title (the marker
    beside it already tells the kind)."""
    lead = lead_finding(diagnosis)
    if lead is None:
        return "cause unknown" if diagnosis.get("verdict") else ""
    return f"{lead['id']}: {lead['title']}"


def comment(diagnosis: dict) -> str:
    """The flow comment: the cause in a few words, then ``[authlens]`` and the headline (the
    verdict, to filter on), where the fix lives, then the other findings."""
    lead = lead_finding(diagnosis)
    said = headline(diagnosis) if diagnosis.get("verdict") or not lead else lead["message"]
    lines = [f"{comment_lead(diagnosis)} {COMMENT_PREFIX}{said}".lstrip()]
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
    """Put our comment in place of the previous one, keeping what the user wrote before it
    (idempotent): ours starts on the line that holds ``COMMENT_PREFIX``."""
    kept = existing or ""
    ours_at = kept.find(COMMENT_PREFIX)
    if ours_at >= 0:
        kept = kept[:kept.rfind("\n", 0, ours_at) + 1].rstrip()
    if not ours:
        return kept
    return f"{kept}\n{ours}" if kept else ours


def explain(diagnosis: dict, now: float | None = None, width: int | None = None) -> str:
    """A full plain-text explanation (content view, ``authlens.explain``); ``now`` adds each
    token's countdown and age; ``width`` wraps long lines (the views do not)."""
    text = _explain(diagnosis, now)
    return text if width is None else wrap(text, width)


def wrap(text: str, width: int) -> str:
    """Each line longer than ``width`` broken at spaces, continued under its own text (its
    indent and label, ``  [error] id: `` or ``      fix: ``, kept clear)."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        label = _LABEL.match(line)
        start = label.end() if label else 0
        lead = len(line) - len(line.lstrip(" "))
        indent = " " * (start if start <= lead + 12 else lead + 4)
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=True,
                                 break_on_hyphens=False) or [line])
    return "\n".join(out)


_LABEL = re.compile(r" *(?:\[\w+\] [\w-]+: |fix: |[a-z]+ {2,}|(?=\S))")
"""Where a line's text starts: after ``  [error] token-expired: ``, ``fix: ``, ``credential  ``."""


def _explain(diagnosis: dict, now: float | None) -> str:
    out = [f"{diagnosis.get('status') or '---'} {diagnosis['method']} {diagnosis['url']}",
           headline(diagnosis) or "authlens: nothing wrong with this call."]
    for cred in diagnosis.get("credentials", []):
        out.append(f"  credential  {cred['location']} {cred['name']}: {credential_text(cred)}")
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


def credential_text(cred: dict) -> str:
    """The credential as sent (``"Bearer eyJh…"`` with its quotes), else scheme and value."""
    if cred.get("sent"):
        return cred["sent"]
    return f"{cred['scheme']} {cred['value']}" if cred.get("scheme") else cred["value"]


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
