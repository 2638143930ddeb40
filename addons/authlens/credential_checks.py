"""The credential checks: each turns what ``credentials`` found and linted into findings for
one exchange (missing, empty, quoted, wrong or missing scheme, in the URL, over plain http,
misspelled or doubled header).

The lint itself happens once per credential value, in ``credential_lint``; most checks here only
filter its issues. ``on_failure`` marks the checks that can only speak about a refused call.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

from .caching import Memo
from .catalog import AUTHN, AUTHZ
from .credential_lint import AMBIGUOUS_NAMES, MAX_REPORTS
from .credentials import MAX_FORM_BODY, Credential, misspelling
from .model import Finding, on_failure, per_credentials
from .secrecy import redact_inline

# A credential in a JSON body: some APIs take {"api_key": ...} and need no header.
_JSON_CRED_KEY = re.compile(rb'"(?:api[_-]?key|apikey|access_?token|token|client_secret|'
                            rb'password|refresh_token|secret)"\s*:', re.I)


LINT_IDS = ("credential-empty", "credential-placeholder", "credential-quoted",
            "credential-whitespace", "scheme-duplicated", "credential-malformed",
            "basic-malformed", "credential-unusual-char")
"""What ``credentials`` lints in each value: empty header or scheme alone, unfilled templates,
quotes, stray or invisible whitespace, `Bearer Bearer ...`, not token68, Basic not
base64(user:password)."""


@per_credentials
def check_credential_lint(ctx) -> list[Finding]:
    """The lint findings of every credential (``Credential.issues``), in ``LINT_IDS`` order."""
    linted = [cred.issue_map for cred in ctx.credentials if cred.issue_map]
    if not linted:
        return []
    out: list[Finding] = []
    for finding_id in LINT_IDS:
        for issues in linted:
            found = issues.get(finding_id)
            if found:
                out.extend(found[:MAX_REPORTS])
    return out


@on_failure
def check_credential_missing(ctx) -> Iterator[Finding]:
    """No credential at all on a refused request, or on one whose body says auth failed (a 200
    with Slack's ``ok:false``)."""
    if not ctx.refused:
        error = ctx.error_body if ctx.response is not None else None
        if (error is None or error.verdict not in (AUTHN, AUTHZ) or ctx.status >= 400
                or error.finding.startswith("oauth-")):
            return
    request = ctx.request
    creds = ctx.credentials
    if ctx.status == 407:
        if not any(c.name.lower() == "proxy-authorization" for c in creds):
            yield Finding("credential-missing",
                          "The proxy answered 407 but the request has no Proxy-Authorization "
                          "header.", (("expected", "Proxy-Authorization"),))
        return
    if request.method.upper() == "OPTIONS" and request.header("access-control-request-method"):
        return  # a CORS preflight never carries credentials: a server problem, not a client one
    if any(c.kind == "misspelled" for c in creds):
        return  # header-misspelled explains it better
    readable = [c for c in creds if c.name.lower() != "proxy-authorization"]
    if readable:
        return
    if (request.body and request.body[:1] in (b"{", b"[")
            and _JSON_CRED_KEY.search(request.body, 0, MAX_FORM_BODY)):
        return  # a credential in a JSON body (some APIs take {"api_key": ...})
    if creds:
        yield Finding("credential-missing",
                      "Only Proxy-Authorization was sent; the proxy consumes it and the server "
                      "sees no credential.", (("sent", "Proxy-Authorization"),))
        return
    yield Finding("credential-missing",
                  f"The {ctx.status} answered a request with no credential: no Authorization, "
                  "API-key header, credential query parameter or cookie.",
                  (("status", ctx.status),))


def unexpected_scheme(cred: Credential, accepted: Sequence[str], source: str) -> Finding | None:
    """A ``scheme-unexpected`` finding when ``cred``'s scheme is not in ``accepted``.

    Reusable by rules that know the API's expected scheme(s): ``source`` says who expects it
    ("the server's WWW-Authenticate challenge", "the Microsoft Graph rule", ...)."""
    if cred.scheme is None or not accepted:
        return None
    wanted = {a.lower() for a in accepted if a}
    if not wanted or cred.scheme.lower() in wanted:
        return None
    offered = ", ".join(dict.fromkeys(a for a in accepted if a))
    only = "only " if len(wanted) == 1 else ""
    return Finding("scheme-unexpected",
                   f"{cred.name} uses `{cred.scheme}`, but {source} accepts {only}{offered}.",
                   (("sent", cred.scheme), ("accepted", sorted(wanted)), ("source", source)))


def _challenge_schemes(ctx) -> dict[str, list[str]]:
    """Schemes the response's challenges offer, by header (www-authenticate/proxy-authenticate)."""
    if ctx.response is None:
        return {}
    by_header: dict[str, list[str]] = {}
    for ch in getattr(ctx.challenges, "challenges", None) or ():
        header = str(getattr(ch, "header", "www-authenticate") or "www-authenticate").lower()
        by_header.setdefault(header, []).append(ch.scheme)
    return by_header


BARE_CREDENTIAL_HOSTS = re.compile(
    r"(?:^|\.)(?:execute-api\.[a-z0-9-]+\.amazonaws\.com|api\.linear\.app|api\.pexels\.com"
    r"|api\.assemblyai\.com)$")
"""APIs that document ``Authorization: <credential>`` with no scheme (rules may extend this)."""
_APIGW_RESPONSE_HEADERS = ("x-amzn-errortype", "x-amz-apigw-id")


def takes_bare_credentials(ctx) -> bool:
    """True when the server is known to read a scheme-less Authorization value."""
    if BARE_CREDENTIAL_HOSTS.search(ctx.request.host):
        return True
    response = ctx.response
    return response is not None and any(response.header(h) is not None
                                        for h in _APIGW_RESPONSE_HEADERS)


@on_failure
def check_scheme_missing(ctx) -> list[Finding]:
    """Bare token in Authorization, unless the server evidently takes bare credentials.

    A server that accepted the call (status < 400) reads bare credentials, and some APIs document
    them (AWS API Gateway authorizers, Linear, Pexels: ``takes_bare_credentials``); there a bare
    value is not the problem. When the server's challenge names a scheme, the message says so."""
    out: list[Finding] = []
    for cred in ctx.credentials:
        found = cred.issue_map.get("scheme-missing")
        if not found:
            continue
        if ctx.response is None:
            out.extend(found)
            continue
        if ctx.status is not None and ctx.status < 400 and not ctx.refused:
            continue
        if takes_bare_credentials(ctx):
            continue
        header = "proxy-authenticate" if cred.name.lower() == "proxy-authorization" \
            else "www-authenticate"
        offered = _challenge_schemes(ctx).get(header)
        if not offered:
            out.extend(found)
            continue
        names = ", ".join(dict.fromkeys(offered))
        for f in found:
            out.append(Finding(f.id, f"{f.message} The server's challenge asks for {names}.",
                               f.evidence + (("challenge_schemes", list(dict.fromkeys(offered))),)))
    return out


@on_failure
def check_scheme_unexpected(ctx) -> Iterator[Finding]:
    """Sent a scheme the server's challenges do not offer."""
    if ctx.response is None:
        return
    auth = [c for c in ctx.credentials if c.kind == "auth" and c.scheme is not None]
    if not auth:
        return
    by_header = _challenge_schemes(ctx)
    if not by_header:
        return
    for cred in auth:
        if cred.name.lower() == "proxy-authorization":
            accepted, source = by_header.get("proxy-authenticate"), "the proxy's Proxy-Authenticate"
        else:
            accepted, source = by_header.get("www-authenticate"), "the server's WWW-Authenticate"
        finding = unexpected_scheme(cred, accepted or (), source)
        if finding is not None:
            yield finding


@per_credentials
def check_credential_in_url(ctx) -> Iterator[Finding]:
    """Tokens, keys and passwords in the query string or the user-info."""
    for cred in ctx.credentials:
        if cred.location == "query":
            presigned = cred.name.lower() in ("sig", "signature", "x-amz-signature",
                                              "x-goog-signature")
            note = (" (a presigned/SAS URL: the whole URL is then a secret)" if presigned else "")
            yield Finding("credential-in-url",
                          f"Query parameter `{cred.name}` carries a credential "
                          f"({redact_inline(cred.value, ctx.settings.reveal)}){note}.",
                          (("location", "query"), ("param", cred.name)))
        elif cred.location == "userinfo":
            what = "a user-id and password" if ":" in cred.raw else "a user-id or token"
            yield Finding("credential-in-url", f"The URL's user-info carries {what}.",
                          (("location", "userinfo"),))


@per_credentials
def check_header_misspelled(ctx) -> Iterator[Finding]:
    """Credentials in a header the server will not read."""
    creds = ctx.credentials
    has_auth = any(c.kind == "auth" for c in creds)
    for cred in creds:
        if cred.location != "header":
            continue
        key, kind = cred.name, cred.kind
        if kind == "auth":
            yield from cred.issue_map.get("header-misspelled", ())  # "Authorization:: ..."
        elif kind == "misspelled":
            why = misspelling(key)
            target = "Proxy-Authorization" if "proxy" in key.lower() else "Authorization"
            if has_auth and target == "Authorization":
                continue
            yield Finding("header-misspelled",
                          f"Credential sent in header `{key.strip()}` ({why}); the server reads "
                          f"only `{target}`.", (("header", key), ("expected", target)))
        elif (kind == "apikey" and key.lower() in AMBIGUOUS_NAMES and ctx.refused
              and not has_auth):
            yield Finding("header-misspelled",
                          f"The credential is in `{key}` ({AMBIGUOUS_NAMES[key.lower()]}) and the "
                          "call was refused; unless this API documents that header, send it in "
                          "`Authorization`.", (("header", key), ("expected", "Authorization")))


@per_credentials
def check_header_duplicated(ctx) -> Iterator[Finding]:
    """More than one Authorization (or Proxy-Authorization) header; comma-joined pairs."""
    counts: dict[str, list[Credential]] = {}
    for cred in ctx.credentials:
        if cred.kind == "auth":
            counts.setdefault(cred.name.lower(), []).append(cred)
    for creds in counts.values():
        if len(creds) > 1:
            schemes = [c.scheme or "(no scheme)" for c in creds]
            same = len({c.value for c in creds}) == 1
            yield Finding("header-duplicated",
                          f"{creds[0].name} sent {len(creds)} times (schemes: "
                          f"{', '.join(schemes)}; {'identical' if same else 'different'} "
                          "credentials).",
                          (("count", len(creds)), ("schemes", schemes), ("identical", same)))
        for cred in creds:
            for finding in cred.issues:
                if finding.id == "header-duplicated":
                    yield finding


def __is_loopback_uncached(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_is_loopback = Memo(__is_loopback_uncached, 1024, 255).__getitem__
"""A handful of hosts, each parsed as an IP address on every flow."""


@per_credentials
def check_credential_over_http(ctx) -> Iterator[Finding]:
    """Credentials over plain http to a non-loopback host."""
    request = ctx.request
    if request.scheme != "http":
        return
    creds = [c for c in ctx.credentials if c.kind != "cookies" and c.value]
    if not creds or _is_loopback(request.host):
        return
    names = list(dict.fromkeys(c.label for c in creds))
    yield Finding("credential-over-http",
                  f"{', '.join(names)} sent over plain http:// to {request.host}.",
                  (("host", request.host), ("credentials", names)))


CHECKS = (
    check_credential_missing,
    check_credential_lint,
    check_scheme_missing,
    check_scheme_unexpected,
    check_credential_in_url,
    check_header_misspelled,
    check_header_duplicated,
    check_credential_over_http,
)
