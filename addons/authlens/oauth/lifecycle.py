"""The token lifecycle tracker: follow each token from the token endpoint to the calls that use it,
and explain a refusal with the token's story.

A tracker (``analyze.default_trackers``): it sees every exchange in order. State is bounded (LRU
tables) and replay-safe: an exchange whose flow id was already analysed gets the same findings and
changes nothing. Only token keys (hash prefixes) are kept, never a token.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median

from ..humanize import clock, duration
from ..model import Finding
from ..recent import Recent
from . import grants
from .grants import shown

Event = tuple[float, str, str]
"""(when, flow id, what happened)"""
GrantEvent = tuple[float, str, str, str]
"""(when, flow id, event: issued | failed | revoked, detail), for a client's timeline"""

MAX_REJECTIONS = 5
AGE_SAMPLES = 16
PATTERN_MIN = 3
"""Different tokens rejected at about the same age before that age is called a pattern."""
HISTORY = 64
"""Grant events kept per client."""
STALE_MARGIN = 5.0
"""Seconds a token's iat must precede a newer token's issue to call it stale (iat is whole
seconds, the issue time the response's)."""


def client_key(client_id: str, address: str) -> str:
    """Who holds a token: the OAuth client id as seen from one proxied address."""
    return f"{client_id or '(no client_id)'} @{address or '?'}"


@dataclass
class Issued:
    """An access token the proxy saw the token endpoint issue."""

    key: str
    flow: str
    endpoint: str
    grant: str
    client: str
    client_id: str
    audience: str
    issued_at: float
    expires_at: float | None
    lifetime: float | None
    with_refresh: bool
    uses: int = 0
    first_used: float | None = None
    last_used: float | None = None
    rejections: list = field(default_factory=list)
    replaced: Event | None = None
    """The newer token for the same client and audience: (when, flow, its key)."""
    revoked: Event | None = None

    def origin(self, now: float | None = None) -> str:
        """``issued by POST host/token at 09:02:11Z, lifetime 3600 s, expired 12 min ago``."""
        text = f"issued by POST {self.endpoint} at {clock(self.issued_at)}"
        if self.lifetime is not None:
            text += f", lifetime {self.lifetime:.0f} s"
        if self.expires_at is not None and now is not None:
            gap = now - self.expires_at
            text += f", expired {duration(gap)} ago" if gap >= 0 else \
                f", expires in {duration(gap)}"
        return text


@dataclass
class Refresh:
    """A refresh token the proxy saw issued, and what became of it."""

    key: str
    flow: str
    endpoint: str
    client: str
    client_id: str
    audience: str
    issued_at: float
    redeemed: Event | None = None
    revoked: Event | None = None

    def origin(self) -> str:
        return f"refresh token {shown(self.key)} issued by POST {self.endpoint} at " \
               f"{clock(self.issued_at)}"


class TokenLifecycle:
    """Token endpoint -> token -> the calls that send it. ``check(ctx)`` per exchange."""

    def __init__(self, max_tokens: int = 10_000, max_flows: int = 20_000,
                 max_clients: int = 1_000):
        self.tokens: Recent = Recent(max_tokens)
        """access token key -> Issued"""
        self.refresh: Recent = Recent(max_tokens)
        """refresh token key -> Refresh"""
        self.latest: Recent = Recent(max_tokens)
        """(client, audience) -> key of the newest token issued for it."""
        self.by_address: Recent = Recent(max_tokens)
        """(address, audience) -> key of the newest token issued to a client at that address."""
        self.rejected: Recent = Recent(max_tokens)
        """key of a token the proxy did not see issued -> (address, first refusal time)."""
        self.history: Recent = Recent(max_clients)
        """client -> its grant events (issued, failed, revoked)."""
        self.ages: Recent = Recent(max_clients)
        """(address, host, port) -> (age at first rejection, token key) of recent 401s."""
        self.flows: Recent = Recent(max_flows)
        """flow id -> (findings, token keys): replays answer from here."""
        self.now = 0.0
        """The latest request time seen (what "expired" is judged against in timelines)."""

    # ---- the tracker contract ---------------------------------------------------------------

    def check(self, ctx) -> Iterable[Finding]:
        flow_id = ctx.exchange.id
        done = self.flows.get(flow_id) if flow_id else None
        if done is None:
            findings, keys = self._check(ctx)
            done = (tuple(findings), tuple(keys))
            if flow_id:
                self.flows[flow_id] = done
        return done[0]

    def quiet(self, flow_id: str, client: str, sent: float, tokens) -> bool:
        """A quiet success: a call (not to a token endpoint) that worked; its tokens are used."""
        if flow_id and flow_id in self.flows:  # a replay
            return True
        if sent > self.now:
            self.now = sent
        keys = []
        for token in tokens:
            issued = self.tokens.get(grants.key(token.value))
            if issued is not None:
                keys.append(issued.key)
                self._note_use(issued, sent)
        if flow_id:
            self.flows[flow_id] = ((), tuple(keys))
        return True

    def keys_of(self, flow_id: str) -> tuple:
        """The token keys a flow issued, sent or revoked (for ``authlens.timeline``)."""
        done = self.flows.get(flow_id)
        return done[1] if done else ()

    def client_tokens(self, client: str) -> list[Issued]:
        return sorted((t for t in self.tokens.values() if t.client == client),
                      key=lambda t: t.issued_at)

    def _check(self, ctx) -> tuple[list, list]:
        sent = ctx.sent_at
        if sent > self.now:
            self.now = sent
        parsed = grants.parse_request(ctx.request)
        if isinstance(parsed, grants.TokenRequest):
            return self._grant(ctx, parsed)
        if isinstance(parsed, grants.Revocation):
            return self._revoke(ctx, parsed)
        return self._use(ctx)

    # ---- the token endpoint -----------------------------------------------------------------

    def _grant(self, ctx, request: grants.TokenRequest) -> tuple[list, list]:
        client = client_key(request.client_id, ctx.exchange.client)
        refresh = self.refresh.get(request.refresh_key) if request.refresh_key else None
        answer = grants.parse_response(ctx.response) if ctx.response is not None else None
        findings: list = []
        keys = [request.refresh_key] if request.refresh_key else []
        if refresh is not None:
            findings.extend(_mismatch(request, refresh))
            if answer is None or not answer.issued:
                findings.append(_refresh_origin(refresh))
        if answer is None:
            return findings, keys
        at = ctx.response.timestamp or ctx.sent_at
        if answer.error:
            self._log(client, (at, ctx.exchange.id, "failed",
                               f"{request.grant} grant: {answer.error}"))
            return findings, keys
        issued = self._issue(ctx.exchange.id, at, request, answer, client, refresh)
        keys.append(issued.key)
        if request.grant in grants.USER_GRANTS and issued.expires_at is not None \
                and not answer.refresh_key:
            findings.append(Finding(
                "oauth-no-refresh-token",
                f"The {request.grant} grant issued access token {shown(issued.key)} "
                f"(lifetime {issued.lifetime or 0:.0f} s) without a refresh token: when it expires "
                f"client {request.client_id or '(no client_id)'} must sign the user in again "
                f"(scope requested: {request.scope or 'none'}).",
                (("grant", request.grant), ("client_id", request.client_id),
                 ("scope", request.scope), ("expires_in", answer.expires_in))))
        return findings, keys

    def _issue(self, flow: str, at: float, request: grants.TokenRequest,
               answer: grants.TokenResponse, client: str, refresh: Refresh | None) -> Issued:
        known = self.tokens.get(answer.access_key)
        if known is not None:  # the server handed out a cached token again
            self.tokens.move_to_end(answer.access_key)
            return known
        audience = (request.audience or answer.audience or (refresh.audience if refresh else "")
                    or answer.scope or request.scope)
        lifetime = answer.expires_in
        expires_at = answer.exp if answer.exp is not None else (
            at + lifetime if lifetime is not None else None)
        if lifetime is None and expires_at is not None:
            lifetime = expires_at - at
        issued = Issued(answer.access_key, flow, request.endpoint, request.grant, client,
                        request.client_id, audience, at, expires_at, lifetime,
                        bool(answer.refresh_key))
        previous = self.tokens.get(self.latest.get((client, audience), ""))
        if previous is not None and previous.replaced is None:
            previous.replaced = (at, flow, issued.key)
        self.latest[(client, audience)] = issued.key
        self.by_address[(client.rpartition(" @")[2], audience)] = issued.key
        self.tokens[issued.key] = issued
        if refresh is not None and refresh.redeemed is None:
            refresh.redeemed = (at, flow, issued.key)
        if answer.refresh_key and answer.refresh_key not in self.refresh:
            self.refresh[answer.refresh_key] = Refresh(answer.refresh_key, flow, request.endpoint,
                                                       client, request.client_id, audience, at)
        extra = ", with refresh token" if answer.refresh_key else ""
        detail = f"{shown(issued.key)} ({request.grant} grant{extra})"
        self._log(client, (at, flow, "issued", detail))
        return issued

    def _revoke(self, ctx, revocation: grants.Revocation) -> tuple[list, list]:
        status = ctx.status
        if status is None or not 200 <= status < 300:
            return [], [revocation.token_key]
        at = ctx.response.timestamp or ctx.sent_at
        event = (at, ctx.exchange.id, f"revoked by POST {revocation.endpoint}")
        for table in (self.tokens, self.refresh):
            record = table.get(revocation.token_key)
            if record is not None and record.revoked is None:
                record.revoked = event
                self._log(record.client, (at, ctx.exchange.id, "revoked", shown(record.key)))
        return [], [revocation.token_key]

    def _log(self, client: str, event: GrantEvent) -> None:
        events = self.history.get(client)
        if events is None:
            events = deque(maxlen=HISTORY)
        events.append(event)
        self.history[client] = events

    # ---- calls that send a token --------------------------------------------------------------

    def _use(self, ctx) -> tuple[list, list]:
        findings: list = []
        keys: list = []
        for token in ctx.tokens:
            token_key = grants.key(token.value)
            issued = self.tokens.get(token_key)
            if issued is None:
                if ctx.refused:
                    stale = self._unseen_stale(ctx, token, token_key)
                    if stale is not None:
                        findings.append(stale)
                if ctx.status == 401:
                    findings.extend(self._pattern(ctx, token_key, token.claim_time("iat"), None))
                continue
            keys.append(token_key)
            findings.extend(self._used(ctx, token, issued))
        return findings, keys

    def _note_use(self, issued: Issued, sent: float) -> None:
        self.tokens.move_to_end(issued.key)
        issued.uses += 1
        issued.first_used = issued.first_used or sent
        issued.last_used = sent

    def _used(self, ctx, token, issued: Issued) -> list:
        sent = ctx.sent_at
        self._note_use(issued, sent)
        if not ctx.refused:
            return []
        if len(issued.rejections) < MAX_REJECTIONS:
            issued.rejections.append((sent, ctx.exchange.id, f"HTTP {ctx.status}"))
        findings = [_origin(issued, sent)]
        if token.claim_time("exp") is None and issued.expires_at is not None \
                and issued.expires_at < sent:  # one clock (the proxy's): no leeway needed
            findings.append(Finding(
                "token-expired",
                f"Token {shown(issued.key)} expired {duration(sent - issued.expires_at)} before "
                f"the request was sent: the token response gave expires_in "
                f"{issued.lifetime:.0f} s at {clock(issued.issued_at)}.",
                (("expires_at", issued.expires_at), ("sent", sent),
                 ("expired_for_s", round(sent - issued.expires_at))),
                links=(_issued_link(issued, sent),)))
        if issued.replaced is not None and issued.replaced[0] <= sent:
            findings.append(_stale(issued, sent))
        if ctx.status == 401:
            findings.extend(self._pattern(ctx, issued.key, issued.issued_at, issued.lifetime))
        return findings

    def _unseen_stale(self, ctx, token, token_key: str) -> Finding | None:
        """token-stale for a token the proxy did not see issued: after it was refused, the token
        endpoint issued a newer token for its audience to a client at the same address (or to
        the client its claims name), and the client sent the old one again."""
        sent, address = ctx.sent_at, ctx.exchange.client or "?"  # as client_key writes it
        first = self.rejected.get(token_key)
        if first is None:
            self.rejected[token_key] = (address, sent)
        claims = token.claims or {}
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] \
            if isinstance(aud, list) else []
        for audience in audiences:
            newer = self.tokens.get(self.by_address.get((address, audience), ""))
            if newer is None or newer.key == token_key or newer.issued_at > sent:
                continue
            named = next((str(claims[c]) for c in ("azp", "client_id", "appid", "cid")
                          if claims.get(c)), "")
            iat = token.claim_time("iat")
            refused_before = first is not None and first[0] == address and \
                first[1] < newer.issued_at
            if not (refused_before or (named and named == newer.client_id)) or (
                    iat is not None and iat >= newer.issued_at - STALE_MARGIN):
                continue  # not plainly older: an edited copy of the newest token is not stale
            return Finding(
                "token-stale",
                f"The token sent ({shown(token_key)}, aud {audience}) is older than "
                f"{shown(newer.key)}, which POST {newer.endpoint} issued to client "
                f"{newer.client_id or '(no client_id)'} at this address at "
                f"{clock(newer.issued_at)} ({newer.grant} grant), "
                f"{duration(sent - newer.issued_at)} before this request"
                + (", after the old token had already been refused" if refused_before else "")
                + ": the refresh worked, but the client still sends the old token.",
                (("token", shown(token_key)), ("newer_token", shown(newer.key)),
                 ("replaced_at", newer.issued_at), ("audience", audience)),
                links=(("replaced-by", newer.flow,
                        f"newer token {shown(newer.key)} issued at {clock(newer.issued_at)}"),))
        return None

    def _pattern(self, ctx, token_key: str, issued_at: float | None,
                 lifetime: float | None) -> list:
        """token-lifetime-pattern: different tokens rejected by one host at about the same age."""
        if issued_at is None or ctx.sent_at < issued_at:
            return []
        where = (ctx.exchange.client, ctx.request.host, ctx.request.port)
        ages = self.ages.get(where)
        if ages is None:
            ages = deque(maxlen=AGE_SAMPLES)
        age = next((a for a, k in ages if k == token_key), None)
        if age is None:  # each token counts once, at its first rejection
            age = ctx.sent_at - issued_at
            ages.append((age, token_key))
        self.ages[where] = ages
        similar = [a for a, _ in ages if abs(a - age) <= max(0.1 * age, 2.0)]
        if len(similar) < PATTERN_MIN:
            return []
        typical = median(similar)
        text = (f"{len(similar)} different tokens sent to {ctx.request.host} were rejected "
                f"{duration(min(similar))} to {duration(max(similar))} after they were issued: "
                f"this client's tokens are rejected ~{duration(typical)} after issue; refresh "
                f"before.")
        if lifetime is not None:
            text += f" (The token endpoint announced a lifetime of {lifetime:.0f} s.)"
        return [Finding("token-lifetime-pattern", text,
                        (("host", ctx.request.host), ("rejections", len(similar)),
                         ("typical_age_s", round(typical, 1)),
                         ("ages_s", [round(a, 1) for a in similar])))]


# ---- findings ----------------------------------------------------------------------------------

def _issued_link(issued: Issued, now: float) -> tuple:
    return ("issued-by", issued.flow, issued.origin(now))


def _origin(issued: Issued, sent: float) -> Finding:
    text = (f"Token {shown(issued.key)} was {issued.origin(sent)} ({issued.grant} grant, client "
            f"{issued.client_id or '(no client_id)'}); sent {issued.uses} time"
            f"{'s' if issued.uses != 1 else ''} through the proxy.")
    links = [_issued_link(issued, sent)]
    if issued.revoked is not None:
        text += f" It was revoked at {clock(issued.revoked[0])}."
        links.append(("revoked-by", issued.revoked[1], f"revoked at {clock(issued.revoked[0])}"))
    return Finding("token-origin", text,
                   (("issued_by", issued.flow), ("issued_at", issued.issued_at),
                    ("lifetime_s", issued.lifetime), ("grant", issued.grant),
                    ("client_id", issued.client_id)),
                   links=tuple(links))


def _stale(issued: Issued, sent: float) -> Finding:
    assert issued.replaced is not None
    at, flow, newer = issued.replaced
    return Finding(
        "token-stale",
        f"Token {shown(issued.key)} ({issued.origin(sent)}) was already replaced: POST "
        f"{issued.endpoint} issued {shown(newer)} to the same client "
        f"({issued.client_id or '(no client_id)'}) at {clock(at)}, {duration(sent - at)} before "
        f"this request, but the client still sent the old token.",
        (("token", shown(issued.key)), ("newer_token", shown(newer)), ("replaced_at", at)),
        links=(_issued_link(issued, sent),
               ("replaced-by", flow, f"newer token {shown(newer)} issued at {clock(at)}")))


def _refresh_origin(refresh: Refresh) -> Finding:
    text = f"The {refresh.origin()} to client {refresh.client_id or '(no client_id)'}."
    links = [("issued-by", refresh.flow, refresh.origin())]
    if refresh.revoked is not None:
        at, flow, _ = refresh.revoked
        text += f" It was revoked at {clock(at)}: it will never work again; sign in anew."
        links.append(("revoked-by", flow, f"refresh token revoked at {clock(at)}"))
    if refresh.redeemed is not None:
        at, flow, _ = refresh.redeemed
        text += (f" It was already redeemed at {clock(at)}: this server rotates refresh tokens, "
                 f"send the newest one it returned.")
        links.append(("redeemed-by", flow, f"refresh token already redeemed at {clock(at)} "
                                               "(rotation)"))
    return Finding("token-origin", text,
                   (("issued_by", refresh.flow), ("issued_at", refresh.issued_at),
                    ("client_id", refresh.client_id)),
                   links=tuple(links))


def _mismatch(request: grants.TokenRequest, refresh: Refresh) -> list:
    problems = []
    if request.client_id and refresh.client_id and request.client_id != refresh.client_id:
        problems.append(f"with client_id {request.client_id!r} instead of {refresh.client_id!r}")
    if request.endpoint != refresh.endpoint:
        problems.append(f"to {request.endpoint} instead of {refresh.endpoint}")
    if not problems:
        return []
    return [Finding(
        "oauth-client-mismatch",
        f"Refresh token {shown(refresh.key)} was sent {' and '.join(problems)}: the grant that "
        f"issued it (POST {refresh.endpoint} at {clock(refresh.issued_at)}) was for client "
        f"{refresh.client_id or '(no client_id)'}.",
        (("sent_client_id", request.client_id), ("issued_client_id", refresh.client_id),
         ("sent_endpoint", request.endpoint), ("issued_endpoint", refresh.endpoint)),
        links=(("issued-by", refresh.flow, refresh.origin()),))]


def lifecycle_of(trackers: Iterable[object]) -> TokenLifecycle:
    """The token lifecycle tracker among ``trackers`` (``analyze.default_trackers`` has one)."""
    return next(t for t in trackers if isinstance(t, TokenLifecycle))
