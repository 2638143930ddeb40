"""The MCP sign-in as the traffic tells it: the discovery 401, the protected resource metadata
(RFC 9728), the authorization server metadata (RFC 8414), the authorization and token requests
(RFC 8707 ``resource``), and the calls that send the token, judged against what the metadata said.

A tracker (``analyze.default_trackers``): it sees every exchange in order and fetches nothing
itself. State is bounded (LRU tables) and replay-safe: a flow id seen before gets the findings it
got then and changes nothing. Tokens are kept as keys (hash prefixes), never in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit

import jwt

from ..humanize import clock, duration
from ..model import Finding, always_quiet, on_failure
from ..recent import Recent
from ..rules.checks import token_scopes
from ..web import normalize, origin
from . import grants
from .dpop import DpopChecks
from .grants import shown

PRM_PATH = "/.well-known/oauth-protected-resource"
AS_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
MAX_METADATA = 64 * 1024
MAX_KEYSETS = 64
_REQUIRED_SCOPE = re.compile(r"required scopes?:?\s*([^\s,;\"]+(?:[ ,]+[^\s,;\"]+)*)", re.I)


def _bare(url: str) -> str:
    """``url`` normalized, without query or fragment (a resource identifier has neither); a URL
    that does not parse (servers write these strings) is kept as it is."""
    try:
        return normalize(url).split("?", 1)[0]
    except ValueError:
        return url


def metadata_urls(resource_url: str) -> list[str]:
    """Where a client looks for the protected resource metadata of ``resource_url`` without a
    challenge naming it, in the order the MCP specification gives (RFC 9728 §3.1)."""
    try:
        base, path = origin(resource_url), urlsplit(resource_url).path.rstrip("/")
    except ValueError:
        return [resource_url]
    return [base + PRM_PATH + path, base + PRM_PATH] if path else [base + PRM_PATH]


def _json(body: bytes) -> dict | None:
    if not body or len(body) > MAX_METADATA:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _strings(value) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _difference(expected: str, actual: str) -> str:
    """How two resource URLs differ, in words."""
    if expected.rstrip("/") == actual.rstrip("/"):
        return "only a trailing slash differs"
    if origin(expected) != origin(actual):
        return "another host, scheme or port"
    return "another path"


@dataclass
class _Challenge:
    """A discovery 401: a request without credential, answered with ``resource_metadata``."""

    flow: str
    sent: float
    url: str
    metadata: str
    followed: str = ""
    """The flow that fetched the metadata, once the client did."""

    def line(self) -> str:
        return f"401 at {clock(self.sent)} pointing to {self.metadata}"


@dataclass(frozen=True)
class _Resource:
    """Protected resource metadata as a server served it (RFC 9728 §2)."""

    flow: str
    url: str
    resource: str
    servers: tuple[str, ...]
    scopes: tuple[str, ...]

    def line(self) -> str:
        return f"protected resource metadata at {self.url} names resource {self.resource}"


@dataclass(frozen=True)
class _Server:
    """Authorization server metadata (RFC 8414 §2): what the token request is checked against."""

    flow: str
    issuer: str
    token_endpoint: str
    authorization_endpoint: str
    grants: tuple[str, ...]
    jwks_uri: str = ""
    auth_methods: tuple[str, ...] = ()
    """``token_endpoint_auth_methods_supported`` (empty: not said)"""
    pkce_methods: tuple[str, ...] = ()
    """``code_challenge_methods_supported`` (empty: not said)"""
    url: str = ""
    """Where the metadata was served."""

    def line(self) -> str:
        return f"authorization server metadata at {self.url} (issuer {self.issuer})"


@dataclass(frozen=True)
class _Keys:
    """A JWKS document (RFC 7517 §5) that passed through the proxy, for one issuer."""

    flow: str
    url: str
    issuer: str
    keys: tuple

    def line(self) -> str:
        ids = ", ".join(str(k.key_id) for k in self.keys) or "none"
        return f"JWKS at {self.url} (key ids: {ids})"


@dataclass(frozen=True)
class _Issued:
    """A token the proxy saw an authorization server named by resource metadata issue."""

    flow: str
    at: float
    resource: str
    """The ``resource`` the token request named ("" for none)."""
    scope: str


def discovery_metadata(ctx) -> str | None:
    """The ``resource_metadata`` of a discovery 401: a request without Authorization answered
    401 with a Bearer challenge naming it (RFC 9728 §5.1); None for anything else."""
    if ctx.status != 401 or ctx.request.header("Authorization") is not None:
        return None
    return next((c.get("resource_metadata") for c in ctx.challenges.challenges
                 if c.name == "bearer" and c.get("resource_metadata")), None)


def _next_steps(metadata: str, url: str, server: str = "") -> str:
    return (f"GET {metadata} (RFC 9728), then the metadata of the authorization server it "
            f"names{f' ({server})' if server else ''}, sign the user in with the authorization "
            f"code grant and PKCE, with resource={url} in the authorization and token requests "
            f"(RFC 8707), and call again with `Authorization: Bearer <token>`")


@on_failure
def check_discovery_challenge(ctx) -> Iterable[Finding]:
    """discovery-challenge: the 401 that starts an MCP sign-in is a step, not a refusal. A
    check, not only the tracker's: a flow looked at again (``Analyzer.describe``) says so too."""
    metadata = discovery_metadata(ctx)
    if metadata is None:
        return
    url = _bare(ctx.request.url)
    yield Finding(
        "discovery-challenge",
        f"The first step of an MCP (OAuth 2.1) sign-in: the request carried no credential and "
        f"the server answered where to learn how to get one. Next the client should "
        f"{_next_steps(metadata, url)}.",
        (("resource_metadata", metadata), ("url", url)))


CHECKS = (check_discovery_challenge,)


class DiscoveryTracker:
    """Discovery challenge -> metadata -> sign-in -> token use. ``check(ctx)`` per exchange."""

    def __init__(self, limit: int = 1024, max_flows: int = 20_000, max_tokens: int = 10_000):
        self.challenges: Recent = Recent(limit)
        """(who, URL called) -> the latest discovery 401 for it (who: ``_who``)"""
        self.by_metadata: Recent = Recent(limit)
        """(address, metadata URL) -> that same _Challenge (the SDK's client sends its OAuth
        requests without the User-Agent of its MCP calls)"""
        self.resources: Recent = Recent(limit)
        """metadata URL -> _Resource, and resource identifier (no trailing slash) -> _Resource"""
        self.servers: Recent = Recent(limit)
        """authorization server origin -> (_Server or None, the _Resource that named it)"""
        self.issued: Recent = Recent(max_tokens)
        """access token key -> _Issued"""
        self.redeemed: Recent = Recent(max_tokens)
        """refresh token key -> (flow, when, key of the refresh token it got) of its first
        successful redemption"""
        self.endpoints: Recent = Recent(limit)
        """origin of a token or authorization endpoint -> the _Server whose metadata named it"""
        self.keys: Recent = Recent(MAX_KEYSETS)
        """issuer (no trailing slash), or the JWKS URL's origin -> _Keys"""
        self.dpop = DpopChecks(limit)
        self.flows: Recent = Recent(max_flows)
        """flow id -> findings: replays answer from here"""

    quiet = always_quiet  # a quiet success is no discovery step (the adapter keeps
    # ``/.well-known/`` documents, JWKS, authorization requests and DPoP calls out of the gate)

    def check(self, ctx) -> Iterable[Finding]:
        flow_id = ctx.exchange.id
        done = self.flows.get(flow_id) if flow_id else None
        if done is None:
            done = tuple(self._check(ctx)) if ctx.response is not None else ()
            if flow_id:
                self.flows[flow_id] = done
        return done

    def _check(self, ctx) -> list[Finding]:
        if ctx.request.header("DPoP") is not None:
            return [*self.dpop.check(ctx), *self._by_kind(ctx)]
        return self._by_kind(ctx)

    def _by_kind(self, ctx) -> list[Finding]:
        request = ctx.request
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and PRM_PATH in path:
            return self._resource_metadata(ctx)
        if request.method == "GET" and any(p in path for p in AS_PATHS):
            return self._server_metadata(ctx)
        if request.method == "GET" and ctx.status == 200 and b'"keys"' in ctx.response.body:
            return self._key_set(ctx)
        parsed = grants.parse_request(request) if request.method == "POST" else None
        if isinstance(parsed, grants.TokenRequest):
            return self._token_request(ctx, parsed)
        if self.servers and request.method == "GET" and "response_type=" in request.query:
            return self._authorization_request(ctx)
        if ctx.status == 401 and request.header("Authorization") is None:
            return self._challenge(ctx)
        if ctx.refused:
            return self._refused_token(ctx)
        return []

    # ---- the discovery 401 ------------------------------------------------------------------

    def _challenge(self, ctx) -> list[Finding]:
        """Remember a discovery 401 (``check_discovery_challenge`` reports it, statelessly);
        a second one the client did not follow is discovery-not-followed."""
        metadata = discovery_metadata(ctx)
        if metadata is None:
            return []
        client, url = _who(ctx), _bare(ctx.request.url)
        earlier = self.challenges.get((client, url))
        pending = _Challenge(ctx.exchange.id, ctx.sent_at, url, metadata)
        self.challenges[(client, url)] = pending
        self.by_metadata[(client[0], _bare(metadata))] = pending
        if earlier is None or earlier.followed or earlier.flow == ctx.exchange.id:
            return []
        return [Finding(
            "discovery-not-followed",
            f"The client called {ctx.display_url(url)} again without a credential: the "
            f"{earlier.line()} was not followed (no request for the metadata came through the "
            f"proxy since). Next the client should "
            f"{_next_steps(metadata, url, self._server_named(metadata))}.",
            (("metadata", metadata), ("first_challenge", earlier.flow)),
            links=(("challenged-by", earlier.flow, earlier.line()),))]

    def _server_named(self, metadata_url: str) -> str:
        known = self.resources.get(_bare(metadata_url))
        return known.servers[0] if known is not None and known.servers else ""

    # ---- protected resource metadata (RFC 9728) --------------------------------------------

    def _resource_metadata(self, ctx) -> list[Finding]:
        url, client = _bare(ctx.request.url), ctx.exchange.client
        pending = self.by_metadata.get((client, url))
        if pending is not None and not pending.followed:
            pending.followed = ctx.exchange.id
        links = (("challenged-by", pending.flow, pending.line()),) if pending else ()
        called = pending.url if pending is not None else self._resource_of(url)
        data = _json(ctx.response.body) if ctx.status == 200 else None
        if data is None or not isinstance(data.get("resource"), str):
            if pending is None and url != origin(url) + PRM_PATH:
                return []  # a client trying the well-known URLs in order: the root comes next
            what = (f"answered {ctx.status}" if ctx.status != 200 else
                    "did not answer a JSON object with a `resource`")
            told = f"The {pending.line()} sent the client here; w" if pending else "W"
            return [Finding(
                "resource-metadata-missing",
                f"The protected resource metadata at {url} {what}. {told}ithout it the client "
                f"cannot learn which authorization server signs it in (the well-known URLs, in "
                f"order: {', '.join(metadata_urls(called)) if called else url}).",
                (("metadata_url", url), ("status", ctx.status)), links=links)]
        record = _Resource(ctx.exchange.id, url, data["resource"],
                           _strings(data.get("authorization_servers")),
                           _strings(data.get("scopes_supported")))
        self.resources[url] = record
        self.resources[record.resource.rstrip("/")] = record
        for server in record.servers:
            known = self.servers.get(origin(server))
            self.servers[origin(server)] = (known[0] if known else None, record)
        if called and _bare(record.resource) != called:
            return [Finding(
                "resource-metadata-missing",
                f"The protected resource metadata at {url} names resource {record.resource!r}, "
                f"but the client called {called!r} ({_difference(called, record.resource)}): RFC "
                f"9728 §3.3 says a client must not use such metadata, and a token issued for "
                f"{record.resource!r} may be refused by {called!r}.",
                (("metadata_url", url), ("resource", record.resource), ("called", called)),
                links=links)]
        return []

    def _resource_of(self, metadata_url: str) -> str:
        """The resource a well-known metadata URL was built from (RFC 9728 §3.1)."""
        try:
            path = urlsplit(metadata_url).path
        except ValueError:
            return ""
        at = path.find(PRM_PATH)
        suffix = path[at + len(PRM_PATH):] if at >= 0 else ""
        return origin(metadata_url) + suffix if suffix else ""

    # ---- authorization server metadata (RFC 8414) ------------------------------------------

    def _server_metadata(self, ctx) -> list[Finding]:
        data = _json(ctx.response.body) if ctx.status == 200 else None
        if data is None or not isinstance(data.get("issuer"), str):
            return []
        issuer = data["issuer"]
        known = self.servers.get(origin(issuer))
        findings = self._issuer_named(ctx, issuer, known[1] if known else None)
        server = _Server(
            ctx.exchange.id, issuer, str(data.get("token_endpoint") or ""),
            str(data.get("authorization_endpoint") or ""),
            _strings(data.get("grant_types_supported")), str(data.get("jwks_uri") or ""),
            _strings(data.get("token_endpoint_auth_methods_supported")),
            _strings(data.get("code_challenge_methods_supported")), _bare(ctx.request.url))
        self.servers[origin(issuer)] = (server, known[1] if known else None)
        for endpoint in (server.token_endpoint, server.authorization_endpoint):
            if endpoint:
                self.endpoints[origin(endpoint)] = server
        return findings

    def _issuer_named(self, ctx, issuer: str, record: _Resource | None) -> list[Finding]:
        """server-metadata-issuer-mismatch: the metadata's ``issuer`` is not, character for
        character, the authorization server the protected resource metadata named."""
        named = [s for s in record.servers if origin(s) == origin(issuer)] if record else []
        if not named or issuer in named:
            return []
        assert record is not None
        return [Finding(
            "server-metadata-issuer-mismatch",
            f"The authorization server metadata at {_bare(ctx.request.url)} says issuer "
            f"{issuer!r}, but the {record.line()} and names the authorization server "
            f"{named[0]!r} ({_difference(named[0], issuer)}). RFC 8414 §3.3 compares them as "
            f"exact strings, so a conforming client stops the sign-in here.",
            (("issuer", issuer), ("named", named[0])),
            links=(("metadata", record.flow, record.line()),))]

    # ---- keys (RFC 7517): a JWKS the proxy saw verifies that issuer's tokens ----------------

    def _key_set(self, ctx) -> list[Finding]:
        data = _json(ctx.response.body)
        if data is None or not isinstance(data.get("keys"), list):
            return []
        try:
            keys = tuple(jwt.PyJWKSet.from_dict(data).keys)
        except (jwt.PyJWKError, jwt.PyJWKSetError, ValueError, TypeError):
            return []
        url = _bare(ctx.request.url)
        issuer = next((server.issuer for server, _ in self.servers.values()
                       if server is not None and server.jwks_uri
                       and _bare(server.jwks_uri) == url), "")
        record = _Keys(ctx.exchange.id, url, issuer or origin(url), keys)
        self.keys[(issuer or origin(url)).rstrip("/")] = record
        return []

    def _keys_for(self, token) -> _Keys | None:
        issuer = token.claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            return None
        return self.keys.get(issuer.rstrip("/")) or self.keys.get(origin(issuer))

    def _signature(self, ctx, token) -> list[Finding]:
        """token-kid-unknown / token-signature-invalid against a JWKS seen in traffic (unless
        a rule names keys for this issuer: the rule's check speaks then)."""
        alg = str(token.header.get("alg") or "")
        keys = self._keys_for(token) if alg[:2] in ("RS", "PS", "ES", "Ed") else None
        rules = ctx.settings.rules
        if keys is None or (rules is not None and rules.jwks.get(token.claims.get("iss"))):
            return []
        kid = token.header.get("kid")
        candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
        link = (("keys", keys.flow, keys.line()),)
        shown_token = shown(grants.key(token.value))
        if not candidates:
            return [Finding(
                "token-kid-unknown",
                f"Token {shown_token} is signed with key id {kid!r}, which the {keys.line()} "
                f"for {keys.issuer} does not have: the issuer rotated its keys after this server "
                f"(or client) fetched them, or the token comes from another issuer or tenant.",
                (("kid", kid), ("known_kids", [str(k.key_id) for k in keys.keys]),
                 ("jwks", keys.url)), links=link)]
        for key in candidates:
            try:
                jwt.decode(token.value, key.key, algorithms=[alg], options={
                    "verify_signature": True, "verify_exp": False, "verify_nbf": False,
                    "verify_iat": False, "verify_aud": False, "verify_iss": False})
                return []
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                return []
        return [Finding(
            "token-signature-invalid",
            f"Token {shown_token} (kid {kid!r}) does not verify with the {keys.line()} for "
            f"{keys.issuer}: it was altered after issue, or signed by another issuer that "
            f"uses the same key id.",
            (("kid", kid), ("jwks", keys.url)), links=link)]

    # ---- the sign-in (RFC 8707 resource) ----------------------------------------------------

    def _for_resource(self, url: str) -> _Resource | None:
        known = self.servers.get(origin(url))
        return known[1] if known else None

    def _authorization_request(self, ctx) -> list[Finding]:
        params = dict(parse_qsl(ctx.request.query, max_num_fields=64))
        findings = self._pkce_method(ctx, params) if self.endpoints else []
        record = self._for_resource(ctx.request.url)
        if record is None or "client_id" not in params or params.get("resource"):
            return findings
        return [*findings, _resource_missing(ctx, "authorization request", record)]

    # ---- requests checked against the authorization server's metadata (RFC 8414 §2) --------

    def _pkce_method(self, ctx, params: dict) -> list[Finding]:
        """A refused authorization request whose PKCE method the metadata does not list (a
        code_challenge without a method is ``plain``, RFC 7636 §4.3)."""
        server = self.endpoints.get(origin(ctx.request.url))
        if server is None or not server.pkce_methods or "code_challenge" not in params:
            return []
        method = params.get("code_challenge_method") or "plain"
        if method in server.pkce_methods or _refusal(ctx) not in ("", "invalid_request"):
            return []
        named = "" if params.get("code_challenge_method") else " (no code_challenge_method: plain)"
        return [_metadata_mismatch(
            server, "code_challenge_methods_supported",
            f"This authorization request uses PKCE method {method!r}{named}, but the "
            f"{server.line()} lists code_challenge_methods_supported "
            f"{list(server.pkce_methods)}: send code_challenge_method="
            f"{server.pkce_methods[0]} with the matching code_challenge (RFC 7636 §4.2).")]

    def _against_metadata(self, ctx, answer: grants.TokenResponse | None) -> list[Finding]:
        """oauth-metadata-mismatch: a refused token request that went to another URL than the
        metadata's token_endpoint, or used a grant or a client authentication the metadata does
        not list. Only on a refusal that such a mistake gives: a success says nothing."""
        error = _refusal(ctx, answer)
        server = self.endpoints.get(origin(ctx.request.url)) if error is not None else None
        if server is None or not server.token_endpoint:
            return []
        url = _bare(ctx.request.url)
        if url != _bare(server.token_endpoint):
            if error or origin(server.token_endpoint) != origin(url):
                return []  # an OAuth error came back: it is a token endpoint after all
            return [_metadata_mismatch(
                server, "token_endpoint",
                f"This token request went to {url}, which answered {ctx.status} without an "
                f"OAuth error, but the {server.line()} says token_endpoint is "
                f"{server.token_endpoint!r}: send it there (clients that build the URL from "
                f"the issuer guess `/token`; read token_endpoint from the metadata).")]
        params = dict(parse_qsl(ctx.request.body.decode("utf-8", "replace"), max_num_fields=128))
        findings = []
        grant = params.get("grant_type", "")
        if (server.grants and grant not in server.grants
                and error in ("", "unsupported_grant_type", "unauthorized_client",
                              "invalid_request")):
            findings.append(_metadata_mismatch(
                server, "grant_types_supported",
                f"This token request uses grant_type {grant!r}, which the {server.line()} does "
                f"not list in grant_types_supported {list(server.grants)}: this server does not "
                f"issue tokens that way; use one of those grants."))
        method = _auth_method(ctx.request, params)
        if (server.auth_methods and method not in server.auth_methods
                and error in ("", "invalid_client", "unauthorized_client", "invalid_request")):
            wanted = server.auth_methods[0]
            findings.append(_metadata_mismatch(
                server, "token_endpoint_auth_methods_supported",
                f"This token request authenticates the client with {method} "
                f"({_AUTH_WORDS[method]}), which the {server.line()} does not list in "
                f"token_endpoint_auth_methods_supported {list(server.auth_methods)}: "
                f"authenticate as it lists, e.g. {wanted}"
                f"{f' ({_AUTH_WORDS[wanted]})' if wanted in _AUTH_WORDS else ''}."))
        return findings

    def _token_request(self, ctx, request: grants.TokenRequest) -> list[Finding]:
        answer = grants.parse_response(ctx.response)
        findings = self._refresh_reused(ctx, request, answer)
        if self.endpoints:
            findings.extend(self._against_metadata(ctx, answer))
        record = self._for_resource(ctx.request.url) if self.servers else None
        if record is None:
            return findings
        params = dict(parse_qsl(ctx.request.body.decode("utf-8", "replace"),
                                max_num_fields=128))
        resource = params.get("resource", "")
        if answer is not None and answer.issued:
            self.issued[answer.access_key] = _Issued(ctx.exchange.id, ctx.sent_at, resource,
                                                     answer.scope or request.scope)
        if resource or request.grant not in ("authorization_code", "refresh_token"):
            return findings
        return [*findings, _resource_missing(ctx, f"{request.grant} token request", record)]

    def _refresh_reused(self, ctx, request: grants.TokenRequest,
                        answer: grants.TokenResponse | None) -> list[Finding]:
        """refresh-token-reused: a refresh token the token endpoint already exchanged once."""
        if request.grant != "refresh_token" or not request.refresh_key:
            return []
        first = self.redeemed.get(request.refresh_key)
        if first is None or first[0] == ctx.exchange.id:
            if first is None and answer is not None and answer.issued:
                self.redeemed[request.refresh_key] = (ctx.exchange.id, ctx.sent_at,
                                                      answer.refresh_key)
            return []
        flow, at, successor = first
        rotated = (f"; that answer carried a new refresh token {shown(successor)}, which the "
                   f"client should have sent" if successor else "")
        return [Finding(
            "refresh-token-reused",
            f"Refresh token {shown(request.refresh_key)} was already redeemed at {clock(at)} "
            f"(the first flow linked here){rotated}. This second redemption "
            f"{'got ' + answer.error if answer is not None and answer.error else 'reuses it'}; "
            f"a server that rotates refresh tokens may now revoke the whole family, the tokens "
            f"the first redemption issued included.",
            (("refresh_token", shown(request.refresh_key)), ("first_redeemed", flow)),
            links=(("redeemed-by", flow, f"first redemption at {clock(at)}"),))]

    # ---- calls that send the token ----------------------------------------------------------

    def _refused_token(self, ctx) -> list[Finding]:
        record = self._metadata_for_call(ctx) if self.resources else None
        findings: list[Finding] = []
        for token in ctx.tokens:
            if token.kind == "jwt":
                findings.extend(_clock_skew(ctx, token))
            if token.kind == "jwt" and self.keys:
                findings.extend(self._signature(ctx, token))
            if record is None:
                continue
            issued = self.issued.get(grants.key(token.value))
            if token.kind == "jwt":
                findings.extend(self._audience(ctx, token, record, issued))
            if ctx.status == 403:
                findings.extend(self._scope(ctx, token, issued))
        return findings

    def _metadata_for_call(self, ctx) -> _Resource | None:
        named = next((c.get("resource_metadata") for c in ctx.challenges.challenges
                      if c.get("resource_metadata")), None)
        if named:
            return self.resources.get(_bare(named))
        url = _bare(ctx.request.url).rstrip("/")
        while url and url not in self.resources:
            url = url.rpartition("/")[0] if "/" in url.split("://", 1)[-1] else ""
        return self.resources.get(url) if url else None

    def _audience(self, ctx, token, record: _Resource, issued: _Issued | None) -> list[Finding]:
        audiences = _strings(token.claims.get("aud"))
        wanted = record.resource.rstrip("/")
        if any(a.rstrip("/") == wanted for a in audiences):
            return []
        links = (("metadata", record.flow, record.line()),)  # token-origin links the issuer
        text = (f"Token {shown(grants.key(token.value))} has aud "
                f"{', '.join(repr(a) for a in audiences) or '(none)'}, but {record.line()}: "
                f"this server accepts only tokens issued for {record.resource!r}.")
        if issued is not None:
            asked = f"resource={issued.resource!r}" if issued.resource else "no resource"
            text += f" The token request that issued it ({clock(issued.at)}) sent {asked}."
        return [Finding("token-audience-mismatch", text,
                        (("aud", list(audiences)), ("resource", record.resource)),
                        links=links)]

    def _scope(self, ctx, token, issued: _Issued | None) -> list[Finding]:
        challenge = next((c for c in ctx.challenges.challenges
                          if c.get("error") == "insufficient_scope"), None)
        if challenge is None or challenge.get("scope"):  # scope= is read by the challenge check
            return []
        found = _REQUIRED_SCOPE.search(challenge.get("error_description") or "")
        if found is None:
            return []
        required = found.group(1).replace(",", " ").split()
        if token.kind == "jwt":
            have, source = sorted(token_scopes(token)), "the token carries"
        elif issued is not None:
            have, source = issued.scope.split(), "the token response granted"
        else:
            return []
        missing = [s for s in required if s not in have]
        if not missing:
            return []
        return [Finding(
            "token-scope-missing",
            f"The server's description says {found.group(0).strip()!r}; {source} "
            f"{', '.join(have) or 'no scope'}: missing {', '.join(missing)}. Ask for it in the "
            f"authorization request's `scope` (the client may step up and sign in again).",
            (("missing", missing), ("have", have)))]


def _server_time(ctx) -> float | None:
    """The server's clock: its ``Date`` header (RFC 9110 §6.6.1), or None."""
    value = ctx.response.header("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _window_problem(token, now: float, leeway: float) -> str:
    """What is wrong with the token's validity at ``now``: "expired", "not yet valid" or ""."""
    exp, start = token.validity
    if exp is not None and exp + leeway < now:
        return "expired"
    return "not yet valid" if start is not None and start - leeway > now else ""


def _clock_skew(ctx, token) -> list[Finding]:
    """clock-skew: whose clock makes the token's times fail, the issuer's or the server's,
    from the proxy's clock (the send time) and the server's (``Date``)."""
    server = _server_time(ctx)
    if server is None:
        return []
    leeway, proxy = ctx.leeway, ctx.response.timestamp or ctx.sent_at
    by_server, by_proxy = (_window_problem(token, server, leeway),
                           _window_problem(token, proxy, leeway))
    if not by_server:
        return []
    skew = server - proxy
    shown_token = shown(grants.key(token.value))
    if not by_proxy and abs(skew) > leeway:
        return [Finding(
            "clock-skew",
            f"The server's clock (Date: {ctx.response.header('Date')}) is {duration(skew)} "
            f"{'ahead of' if skew > 0 else 'behind'} the proxy's: by the server's clock token "
            f"{shown_token} is {by_server}, by the proxy's it is valid. The server's clock is "
            f"off.", (("server_skew_s", round(skew)), ("token", shown_token)))]
    start = token.validity[1]
    if by_server == "not yet valid" and by_proxy and start is not None and abs(skew) <= leeway:
        ahead = start - proxy
        return [Finding(
            "clock-skew",
            f"Token {shown_token} starts (iat/nbf) {duration(ahead)} after the request was sent, "
            f"by the proxy's clock and by the server's (Date: {ctx.response.header('Date')}), "
            f"which agree: the clock of the issuer that signed it is about {duration(ahead)} "
            f"ahead.", (("issuer_ahead_s", round(ahead)), ("token", shown_token)))]
    return []


_AUTH_WORDS = {
    "client_secret_basic": "the client id and secret in an `Authorization: Basic` header",
    "client_secret_post": "client_secret in the form",
    "client_secret_jwt": "a client_assertion JWT signed with the secret (HS*)",
    "private_key_jwt": "a client_assertion JWT signed with the client's private key",
    "none": "no client authentication, a public client",
    "tls_client_auth": "a TLS client certificate (RFC 8705)",
    "self_signed_tls_client_auth": "a self-signed TLS client certificate (RFC 8705)",
}
"""The client authentication methods (RFC 8414 §2; RFC 7591 §2; RFC 8705 §2), in words."""


def _auth_method(request, params: dict) -> str:
    """How this token request authenticates the client, as the metadata names methods."""
    scheme = (request.header("Authorization") or "").strip().partition(" ")[0].lower()
    if scheme == "basic":
        return "client_secret_basic"
    assertion = params.get("client_assertion")
    if assertion:
        try:
            alg = str(jwt.get_unverified_header(assertion).get("alg") or "")
        except jwt.PyJWTError:
            alg = ""
        return "client_secret_jwt" if alg.startswith("HS") else "private_key_jwt"
    return "client_secret_post" if params.get("client_secret") else "none"


def _refusal(ctx, answer: grants.TokenResponse | None = None) -> str | None:
    """The OAuth error code of a refused request ("" for a refusal without one: a 404, a
    gateway's 401); None when it was not refused. An authorization request is refused by a
    4xx or by a redirect that carries ``error=`` (RFC 6749 §4.1.2.1)."""
    status = ctx.status
    if status is None:
        return None
    if status in (302, 303):
        location = ctx.response.header("Location") or ""
        query = urlsplit(location).query if "?" in location else ""
        error = dict(parse_qsl(query, max_num_fields=64)).get("error")
        return error if error else None
    if answer is not None and answer.error:
        return answer.error
    return "" if status >= 400 else None


def _metadata_mismatch(server: _Server, field: str, text: str) -> Finding:
    return Finding("oauth-metadata-mismatch", text,
                   (("field", field), ("issuer", server.issuer), ("metadata", server.url)),
                   links=(("metadata", server.flow, server.line()),))


def _who(ctx) -> tuple[str, str]:
    """Which client follows a challenge: its address and User-Agent (two programs on one
    machine are two clients)."""
    return ctx.exchange.client, ctx.request.header("User-Agent") or ""


def _resource_missing(ctx, what: str, record: _Resource) -> Finding:
    return Finding(
        "oauth-resource-missing",
        f"This {what} to {origin(ctx.request.url)} has no `resource` parameter, though this "
        f"server signs the user in for {record.resource!r} ({record.line()}). Without it the "
        f"token's audience is whatever the server defaults to, which {record.resource!r} may "
        f"refuse.",
        (("resource", record.resource),),
        links=(("metadata", record.flow, record.line()),))
