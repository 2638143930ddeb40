"""The core: run every check on an exchange and decide the verdict.

A *check* is a function ``check(ctx) -> Iterable[Finding]``. ``Context`` parses each thing once
(credentials, tokens, challenges, error body) and checks share it. Stateful features (token
lifecycle, redirects) are *trackers*: objects with ``check(ctx)`` that also remember what they saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

from . import (
    bodies,
    catalog,
    challenge,
    challenge_checks,
    credential_checks,
    credentials,
    secrecy,
    statements,
    tokens,
)
from .caching import Memo, once
from .model import (
    VERDICT_UNKNOWN,
    Diagnosis,
    Exchange,
    Finding,
    always_quiet,
    link_dict,
)
from .rules import RuleSet
from .rules import checks as rule_checks

Check = Callable[[Any], Iterable[Finding]]
"""A check reads a `Context` (or, for ``per_credentials`` checks, a `RequestSide`)."""

REFUSAL_STATUSES = (401, 403, 407)

# Findings that mean "the server said auth failed", whatever the status code (the session-cookie
# findings are only raised on a 401/403 or a redirect to the login page).
SERVER_SIDE_REFUSALS = frozenset({
    "challenge-invalid-token", "challenge-insufficient-scope", "challenge-invalid-request",
    "challenge-claims-required", "challenge-step-up-required", "challenge-dpop-nonce",
    "challenge-invalid-dpop-proof", "error-in-body", "route-not-found", "status-hidden-404",
    "oauth-invalid-grant", "oauth-invalid-client", "oauth-unauthorized-client",
    "oauth-invalid-scope", "oauth-invalid-request", "oauth-invalid-target", "vendor-error",
    "cookie-session-missing", "cookie-session-expired", "cookie-not-sent",
    "client-certificate-missing", "oauth-metadata-mismatch",
})

# ---- which finding is the cause: one explicit order -------------------------------------------

DEFECT, STATEMENT, CROSS_FLOW, GENERIC = "defect", "statement", "cross-flow", "generic"

PRECEDENCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # 1. A definite defect of the request that explains the refusal: whatever the server says,
    #    this request could not have worked. A TLS client certificate the server asked for and
    #    did not get comes first (below HTTP), then the route (nothing else matters on a path
    #    that does not exist), then the defects that make the credential unreadable, then
    #    a credential in the wrong place or absent (a cross-flow finding that says *why* it is
    #    absent, such as a redirect that dropped it, outranks the bare absence).
    (DEFECT, ("client-certificate-missing", "route-not-found", "cors-preflight-auth",
              "credential-placeholder", "credential-empty", "scheme-duplicated", "credential-quoted",
              "credential-whitespace", "basic-malformed", "challenge-charset-mismatch",
              "scheme-missing", "credential-malformed", "dpop-proof-mismatch",
              "header-misspelled", "header-duplicated", "apikey-wrong-place",
              "discovery-not-followed", "credential-dropped-on-redirect", "cookie-not-sent",
              "cookie-session-expired", "cookie-session-missing", "credential-missing")),
    # 2. The server's specific statement, mapped to a finding and confirmed by the token, and
    #    the token's own facts. token-stale explains an expiry (the newer token existed), so it
    #    comes before it, as clock-skew (whose clock fails the token) and refresh-token-reused
    #    (why the grant is invalid) and oauth-metadata-mismatch (what the authorization
    #    server's metadata said to do) come before what they explain; the token's identity (key,
    #    signature, audience, issuer) before its times;
    #    authentication before authorization within what the server named.
    (STATEMENT, ("token-stale", "token-kid-unknown", "token-signature-invalid",
                 "token-audience-mismatch", "token-issuer-mismatch", "token-unsigned",
                 "token-malformed", "token-wrong-type", "clock-skew", "token-expired",
                 "token-not-yet-valid", "token-revoked", "oauth-metadata-mismatch",
                 "credential-invalid", "refresh-token-reused", "oauth-client-mismatch",
                 "oauth-invalid-client", "oauth-invalid-grant", "oauth-unauthorized-client", "oauth-invalid-scope",
                 "oauth-invalid-target", "oauth-invalid-request", "challenge-claims-required",
                 "challenge-step-up-required", "challenge-invalid-dpop-proof", "dpop-nonce-loop",
                 "challenge-dpop-nonce", "sso-not-authorized", "token-scope-missing",
                 "challenge-insufficient-scope", "permission-missing",
                 "api-access-not-configured", "challenge-invalid-request", "vendor-error",
                 # servers accept schemes they do not advertise (Stripe challenges Basic and
                 # takes Bearer): a scheme the challenge does not name explains the refusal only
                 # when the server said nothing more specific.
                 "scheme-unexpected")),
    # 3. Cross-flow patterns: a hint drawn from other flows, never over evidence about this one.
    (CROSS_FLOW, ("token-lifetime-pattern",)),
    # 4. Generic: the server refused and said so in words authlens has no mapping for, or only
    #    the status code. The fix then quotes what the server said.
    (GENERIC, ("challenge-invalid-token", "error-in-body", "status-hidden-404",
               "status-unauthorized", "status-forbidden")),
)
"""The order in which findings explain a refusal, highest first: the tier, then the position in
it. A warning never outranks an error (``cause_key``); an id not listed ranks after all listed."""

RANK: dict[str, int] = {finding_id: i for i, finding_id in enumerate(
    finding_id for _tier, ids in PRECEDENCE for finding_id in ids)}
TIER: dict[str, str] = {finding_id: tier for tier, ids in PRECEDENCE for finding_id in ids}
GENERIC_IDS = frozenset(dict(PRECEDENCE)[GENERIC])
"""The same as the catalog entries marked ``generic`` (a test holds the two to it)."""


def precedence_markdown() -> str:
    """docs/cause.md's table: every finding that can be the cause, in the order that decides."""
    lines = ["| rank | tier | id | severity | title |", "|---|---|---|---|---|"]
    for finding_id, rank in RANK.items():
        entry = catalog.get(finding_id)
        lines.append(f"| {rank + 1} | {TIER[finding_id]} | `{finding_id}` | {entry.severity} | "
                     f"{entry.title} |")
    return "\n".join(lines)


def cause_key(finding: Finding) -> tuple[int, int]:
    """Sort key of a finding as the cause (lowest wins): errors before warnings, then
    ``PRECEDENCE``."""
    return (0 if finding.severity == "error" else 1, RANK.get(finding.id, len(RANK)))


_VERDICT_LEADS: dict[str, str] = {
    catalog.AUTHN: "Authentication problem (prove who you are again)",
    catalog.AUTHZ: "Authorization problem (get the permission; re-authenticating will not help)",
    VERDICT_UNKNOWN: "Refused, not clearly an authentication or authorization problem",
}


@dataclass(frozen=True)
class Settings:
    """What the user configured (the mitmproxy options ``authlens_*`` map onto this)."""

    leeway: float = 60.0
    """Clock-skew allowance in seconds for exp/nbf/iat."""
    reveal: bool = False
    """Show secrets in full (off by default)."""
    session_cookies: tuple[str, ...] = ()
    """Names of the cookies that carry the session (a missing one explains a refusal)."""
    rules: RuleSet | None = None
    """What each API expects (``authlens.rules``); None: judge every API by the standards only."""


class Context:
    """One exchange under analysis; each parse is done once and shared by all checks."""

    def __init__(self, exchange: Exchange, settings: Settings):
        self.exchange = exchange
        self.request = exchange.request
        self.response = exchange.response
        self.settings = settings
        self.status: int | None = self.response.status if self.response is not None else None
        self.refused = self.status in REFUSAL_STATUSES

    @property
    def sent_at(self) -> float:
        """When the request was sent: token times are judged against this, not the wall clock."""
        return self.request.timestamp if self.request.timestamp is not None else time.time()

    @once
    def succeeded(self) -> bool:
        """The response says the call worked: a status below 400, no challenge, no error in
        the body or in the headers the API's rule names."""
        response = self.response
        if response is None or response.status >= 400:
            return False
        parsed = self.challenges
        return (not parsed.challenges and not parsed.errors and self.error_body is None
                and self.vendor_error is None)

    @once
    def rule(self):
        """The rule for this request (``authlens.rules``), or None."""
        rules, request = self.settings.rules, self.request
        return (rules.match(request.host, request.path, request.method, request.port)
                if rules is not None else None)

    def display_url(self, url: str) -> str:
        """``url`` as findings and diagnoses show it: credential parameters redacted unless
        the user asked to reveal secrets."""
        return secrecy.redact_url(url, self.settings.reveal)

    def shown_request_url(self) -> str:
        """``display_url(request.url)``, without reading the URL again when it has no query,
        user-info or fragment (the places ``redact_url`` looks)."""
        url = self.request.url
        if "?" in url or "@" in url or "#" in url:
            return self.display_url(url)
        return url

    @property
    def leeway(self) -> float:
        """Clock-skew allowance: the API rule's ``max_skew`` when it has one."""
        rule = self.rule
        if rule is not None and rule.token is not None and rule.token.max_skew is not None:
            return float(rule.token.max_skew)
        return self.settings.leeway

    @once
    def vendor_error(self):
        """The API's own error report, read as the rule says; None without one."""
        return rule_checks.vendor_error(self)

    @once
    def credentials(self):
        return credentials.extract_credentials(self.request)

    @once
    def request_side(self) -> RequestSide:
        """Its credentials and where they went. The analyzer sets a shared one, which knows the
        ``per_credentials`` checks; one made here, for a Context used on its own, has no checks
        to run, so its ``findings`` are empty."""
        request = self.request
        return RequestSide(self.credentials, request.scheme, request.host, self.settings)

    @once
    def tokens(self):
        return self.request_side.tokens

    @once
    def challenges(self):
        return challenge.parse_response_challenges(self.response)

    @once
    def error_body(self):
        """The vendor error the response body (and error headers) carry, or None."""
        return bodies.read_error(self)


class _Destination(NamedTuple):
    scheme: str
    host: str


class RequestSide:
    """What a ``per_credentials`` check may read of a successful call: its credentials, the
    scheme and host it went to, and the settings. The analyzer runs those checks on this, not on
    the ``Context``, so they cannot read anything else, and shares it, with its decoded tokens and
    ``findings``, between the calls that send the same credentials to the same place (most do)."""

    refused = False
    """Only successful calls are judged this way."""

    def __init__(self, credentials: Sequence, scheme: str, host: str, settings: Settings,
                 checks: Sequence[Check] = ()):
        self.credentials = list(credentials)
        self.request = _Destination(scheme, host)
        self.settings = settings
        self.checks = checks
        """The ``per_credentials`` checks."""

    @once
    def tokens(self):
        return tokens.decode_credentials(self.credentials)

    @once
    def findings(self) -> tuple[Finding, ...]:
        """What the ``per_credentials`` checks find (computed on the first successful call)."""
        return tuple(f for check in self.checks for f in check(self))


REMEMBERED_REQUEST_SIDES = 1024
"""How many (credentials, scheme, host) the analyzer remembers the request-side findings of..."""
REMEMBERED_MAX_CHARS = 8 * 1024
"""...when their credentials total at most this many characters (bounds the memory in bytes)."""
QUIET_SIDES = 1024
"""How many clean request sides the cheap gate (``Analyzer.quiet``) remembers."""


def default_checks() -> tuple[Check, ...]:
    from . import mtls
    from .oauth import discovery
    return (*credential_checks.CHECKS, *tokens.CHECKS, *challenge_checks.CHECKS, *bodies.CHECKS,
            *rule_checks.CHECKS, *discovery.CHECKS, *mtls.CHECKS, *statements.CHECKS)


def default_trackers() -> list:
    """Fresh stateful trackers; each ``check(ctx)`` sees every exchange, in order, and may
    remember it to explain a later one. They must bound their memory and tolerate replays."""
    from .cookiejar import CookieJarTracker
    from .cors import CorsTracker
    from .oauth.discovery import DiscoveryTracker
    from .oauth.lifecycle import TokenLifecycle
    from .redirects import RedirectTracker
    return [RedirectTracker(), CorsTracker(), CookieJarTracker(), TokenLifecycle(),
            DiscoveryTracker()]


class Analyzer:
    """Turns exchanges into diagnoses. Holds the settings and any stateful trackers."""

    def __init__(self, settings: Settings = Settings(), checks: Sequence[Check] | None = None,
                 trackers: Sequence[object] = ()):
        self.settings = settings
        self.checks = checks if checks is not None else default_checks()
        self.trackers = trackers

    @property
    def checks(self) -> tuple[Check, ...]:
        return self._checks

    @checks.setter
    def checks(self, checks: Sequence[Check]) -> None:
        self._checks = tuple(checks)
        success = [c for c in self._checks if not getattr(c, "on_failure", False)]
        self._request_side_checks = tuple(c for c in success
                                          if getattr(c, "per_credentials", False))
        self._success_checks = tuple(c for c in success if c not in self._request_side_checks)
        self._remembered = Memo(self._request_side, REMEMBERED_REQUEST_SIDES, REMEMBERED_MAX_CHARS)
        self._quiet: dict = {}

    @property
    def trackers(self) -> tuple:
        return self._trackers

    @trackers.setter
    def trackers(self, trackers: Sequence[Any]) -> None:
        self._trackers = tuple(trackers)
        self._tracker_checks = tuple(t.check for t in self._trackers)
        self._tracker_quiet = (tuple(t.quiet for t in self._trackers
                                     if getattr(type(t), "quiet", None) is not always_quiet)
                               if all(hasattr(t, "quiet") for t in self._trackers) else None)
        self._quiet = {}

    def analyze(self, exchange: Exchange) -> Diagnosis:
        return self._run(exchange, self._tracker_checks, full=False)

    def quiet(self, key: Hashable, flow_id: str, client: str, sent: float, body: bytes,
              fields: Iterable[tuple[bytes, bytes]]) -> bool:
        """The cheap gate, for a call that worked (a 2xx, no challenge, cookie or error in the
        response: the adapter's part). True when it needs no analysis: its request side (``key``,
        as the adapter reads it) was found clean before, no rule of its host can read an error in
        the response (``body``, raw header ``fields``), its tokens are valid at ``sent`` and no
        tracker needs a look (each tracker's ``quiet`` records what it keeps, the token lifecycle
        the use)."""
        known = self._quiet.get(key)
        if known is None:
            return False
        side, error_specs, error_headers = known
        for spec in error_specs:
            if rule_checks.may_hold(body, spec):
                return False
        if error_headers:
            for name, _ in fields:
                if name.lower() in error_headers:
                    return False
        leeway = self.settings.leeway
        for token in side.tokens:
            if token.kind == "jwt":
                expires, starts = token.validity
                if ((expires is not None and expires + leeway < sent)
                        or (starts is not None and starts - leeway > sent)):
                    return False
        for quiet in self._tracker_quiet or ():
            if not quiet(flow_id, client, sent, side.tokens):
                return False
        return True

    def learn_quiet(self, key: Hashable, exchange: Exchange, diagnosis: Diagnosis) -> None:
        """Let ``quiet`` pass the calls with ``key`` from now on, if this one (a call the adapter
        let through to ``quiet``) was analysed and found nothing worth showing (info findings,
        such as an opaque token, are not), and no rule of its host sets its own clock skew."""
        if diagnosis.noteworthy or self._tracker_quiet is None:
            return
        ctx = Context(exchange, self.settings)
        if not ctx.succeeded:
            return
        reads = self._quiet_error_reads(ctx.request.host)
        if reads is None:
            return
        if len(self._quiet) >= QUIET_SIDES:
            self._quiet.clear()
        self._quiet[key] = (self._request_side_of(ctx), *reads)

    def _quiet_error_reads(self, host: str) -> tuple[tuple, frozenset[bytes]] | None:
        """How the rules of ``host`` read errors from a 2xx (their specs, the header names in
        lower-case bytes); None when one sets its own clock skew (its calls are analysed)."""
        rules = self.settings.rules
        if rules is None:
            return (), frozenset()
        specs: list = []
        headers: set[bytes] = set()
        for _, rule in rules.candidates(host.lower()):
            if rule.token is not None and rule.token.max_skew is not None:
                return None
            spec = rule.errors
            if spec is not None and (not spec.statuses
                                     or any(200 <= s < 300 for s in spec.statuses)):
                specs.append(spec)
                headers.update(h.lower().encode() for h in spec.code_headers)
        return tuple(specs), frozenset(headers)

    def describe(self, exchange: Exchange) -> Diagnosis:
        """The diagnosis of this exchange on its own, with its credentials, decoded tokens and
        challenges filled in even when nothing is wrong (a view of a healthy call shows its token).

        Stateless: the trackers neither see nor judge it, so looking at a flow again never changes
        what they remember about the traffic.
        """
        return self._run(exchange, (), full=True)

    def _request_side(self, credentials: tuple, scheme: str, host: str) -> RequestSide:
        return RequestSide(credentials, scheme, host, self.settings, self._request_side_checks)

    def _request_side_of(self, ctx: Context) -> RequestSide:
        """The request side of ``ctx``, remembered when its credentials are of a sensible size."""
        credentials, request = tuple(ctx.credentials), ctx.request
        size = 0
        for credential in credentials:
            size += len(credential.raw)
        if size > REMEMBERED_MAX_CHARS:
            return self._request_side(credentials, request.scheme, request.host)
        return self._remembered[credentials, request.scheme, request.host]

    def _run(self, exchange: Exchange, trackers: Sequence[Check], full: bool) -> Diagnosis:
        ctx = Context(exchange, self.settings)
        ctx.request_side = self._request_side_of(ctx)
        if ctx.succeeded:  # the per_credentials checks ran on the request side, first
            found, checks = list(ctx.request_side.findings), self._success_checks
        else:
            found, checks = [], self.checks
        for check in chain(checks, trackers):
            found.extend(check(ctx))
        findings = found
        if len(found) > 1:  # a finding is reported once per flow
            findings = _once(found)
        if findings and any(f.effective_verdict and not f.entry.fallback for f in findings):
            findings = [f for f in findings if not f.entry.fallback]
        if any(f.entry.step for f in findings):  # a normal protocol step, not a refusal...
            if any(f.entry.breaks_step for f in findings):  # ...unless it went wrong
                findings = [f for f in findings if not f.entry.step]
            else:
                findings = [f for f in findings
                            if f.entry.step or not (f.effective_verdict or f.entry.fallback)]
        return build_diagnosis(ctx, findings, full)


def _once(found: list[Finding]) -> list[Finding]:
    """The first of findings that say the same thing, and a server statement's finding only
    when no other check found that id (the server's words then confirm it, they add no row)."""
    unique: dict[tuple[str, str], Finding] = {}
    for finding in found:
        unique.setdefault((finding.id, finding.message), finding)
    kept = list(unique.values())
    direct = {f.id for f in kept if not statements.is_statement(f)}
    out, said = [], set()
    for f in kept:
        if statements.is_statement(f):
            if f.id in direct or f.id in said:
                continue
            said.add(f.id)
        out.append(f)
    return out


def build_diagnosis(ctx: Context, findings: list[Finding], full: bool = False) -> Diagnosis:
    """The diagnosis; the descriptive parts (credentials, claims, challenges) are filled in only
    when there is something to say, which keeps healthy traffic cheap, or when ``full``."""
    request = ctx.request
    url = ctx.shown_request_url()
    if not (findings or ctx.refused or full):  # most calls: nothing to say
        return Diagnosis(url, request.method, ctx.status)  # positional: a tenth of a µs less
    diagnosis = Diagnosis(url=url, method=request.method, status=ctx.status,
                          findings=sorted(findings, key=_severity_order))
    diagnosis.verdict, diagnosis.cause = decide_verdict(ctx, findings)
    if not (full or diagnosis.noteworthy):
        return diagnosis
    reveal = ctx.settings.reveal
    diagnosis.credentials = [c.describe(reveal) for c in ctx.credentials]
    diagnosis.tokens = [t.describe(reveal, now=ctx.sent_at) for t in ctx.tokens]
    if ctx.response is not None:
        diagnosis.challenges = [c.to_dict() for c in ctx.challenges.challenges]
    diagnosis.links = [link_dict(link) for link in dict.fromkeys(
        link for f in findings for link in f.links)]  # several findings may cite one flow
    diagnosis.summary = summarize(diagnosis)
    return diagnosis


def decide_verdict(ctx: Context, findings: list[Finding]) -> tuple[str | None, str | None]:
    """The verdict and the id of the finding that best explains the refusal.

    A call counts as refused on 401/403/407, when the server said so in a challenge or error
    body (a 200 with Slack's ``ok:false``, a token endpoint's 400), or on a 400 whose request has
    a definite credential defect. The cause is the first by ``cause_key`` (``PRECEDENCE``): an
    empty token on a 403 is an authentication problem, ``insufficient_scope`` on a 401 an
    authorization problem.
    """
    refused = ctx.refused or any(f.id in SERVER_SIDE_REFUSALS for f in findings) or (
        ctx.status == 400 and any(TIER.get(f.id) == DEFECT and f.severity == "error"
                                  for f in findings))
    if not refused or any(f.entry.step for f in findings):
        return None, None
    explaining = [f for f in findings if f.effective_verdict]
    if not explaining:
        return VERDICT_UNKNOWN, None
    best = min(explaining, key=cause_key)
    return best.effective_verdict, best.id


def summarize(diagnosis: Diagnosis) -> str:
    """One plain line: the verdict, what went wrong, where the fix lives."""
    cause = diagnosis.cause_finding
    if diagnosis.verdict is None:
        worst = next((f for f in diagnosis.findings if f.severity != "info"), None)
        return f"{worst.entry.title}: {worst.message}" if worst else ""
    lead = _VERDICT_LEADS[diagnosis.verdict]
    if cause is None:
        return f"{lead}: the server gave no reason authlens can read."
    return f"{lead}: {cause.message} Fix: {cause.fix}"


def _severity_order(finding: Finding) -> int:
    return catalog.SEVERITIES.index(finding.severity)
