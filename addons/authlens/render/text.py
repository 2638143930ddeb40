"""Plain text: the flow comment, the marker, and the multi-line explanation."""

from __future__ import annotations

from .. import catalog

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


def _cause(diagnosis: dict):
    return next((f for f in diagnosis.get("findings", []) if f["id"] == diagnosis.get("cause")), None)


def headline(diagnosis: dict) -> str:
    """One line: verdict, cause id, what went wrong."""
    verdict = diagnosis.get("verdict")
    cause = _cause(diagnosis)
    if verdict:
        lead = _LEADS.get(verdict, verdict.upper())
        if cause:
            return f"{lead} ({cause['id']}): {cause['message']}"
        return f"{lead}: the server gave no reason authlens can read."
    worst = next((f for f in diagnosis.get("findings", []) if f["severity"] != "info"), None)
    return f"{worst['id']}: {worst['message']}" if worst else ""


def comment(diagnosis: dict) -> str:
    """The flow comment: the headline, where the fix lives, then the other findings."""
    lines = [COMMENT_PREFIX + headline(diagnosis)]
    cause = _cause(diagnosis)
    if cause:
        lines.append(f"Fix: {cause['fix']}")
    for finding in diagnosis.get("findings", []):
        if finding is not cause and finding["severity"] != "info":
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


def explain(diagnosis: dict) -> str:
    """A full plain-text explanation (log lines, content view, ``authlens.explain``)."""
    out = [f"{diagnosis.get('status') or '---'} {diagnosis['method']} {diagnosis['url']}",
           headline(diagnosis)]
    for cred in diagnosis.get("credentials", []):
        scheme = f"{cred['scheme']} " if cred.get("scheme") else ""
        out.append(f"  credential  {cred['location']} {cred['name']}: {scheme}{cred['value']}")
    for token in diagnosis.get("tokens", []):
        out.append(f"  token       {token['kind']} #{token['fingerprint']}"
                   + (f" ({token['problem']})" if token.get("problem") else ""))
        for name, value in token.get("claims", {}).items():
            shown = token.get("times", {}).get(name, value)
            out.append(f"    {name:<6} {shown}")
        if token.get("lifetime"):
            out.append(f"    lifetime {token['lifetime']}")
    for challenge in diagnosis.get("challenges", []):
        params = ", ".join(f"{k}={v!r}" for k, v in challenge.get("params", {}).items())
        out.append(f"  challenge   {challenge.get('scheme')} {params}".rstrip())
    for finding in diagnosis.get("findings", []):
        out.append(f"  [{finding['severity']}] {finding['id']}: {finding['message']}")
        out.append(f"      fix: {finding['fix']} ({finding['cite']})")
    out.extend(f"  {link_line(link)}" for link in diagnosis.get("links", []))
    return "\n".join(out)
