"""The findings a rule makes possible, as ``check(ctx)`` functions reading ``ctx.rule``.

Rule checks speak only about calls that failed (an error status, or the API's own error report,
such as Slack's 200 with ok:false): on a call the API accepted, a rule that disagrees is the rule's
problem, not the request's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from .. import scopes
from ..bodies import VendorError, read_spec
from ..model import STATEMENT, Finding, on_failure
from ..secrecy import redact
from .jwks import signature_problem
from .rule import CredentialSpec, Rule, matches_any

# Where credentials commonly end up when they are not where the API wants them.
KEY_HEADERS = ("authorization", "x-api-key", "api-key", "apikey", "x-apikey", "x-auth-token",
               "x-access-token", "ocp-apim-subscription-key", "x-functions-key", "private-token",
               "x-goog-api-key", "token")
KEY_PARAMS = ("key", "api_key", "apikey", "api-key", "token", "access_token", "subscription-key",
              "code", "auth")


# ---- reading the request and the response ---------------------------------------------------


def _query(ctx) -> dict[str, str]:
    return {k.lower(): v for k, v in parse_qsl(ctx.request.query, keep_blank_values=True)}


def _cookies(ctx) -> dict[str, str]:
    jar = SimpleCookie()
    for value in ctx.request.header_all("cookie"):
        try:
            jar.load(value)
        except Exception:  # noqa: BLE001 - a malformed Cookie header is not ours to judge
            continue
    return {k.lower(): m.value for k, m in jar.items()}


def _present(ctx, spec: CredentialSpec) -> str | None:
    """The value sent where ``spec`` wants it, or None."""
    if spec.place in ("scheme", "header"):
        return ctx.request.header(spec.name)
    if spec.place == "query":
        return _query(ctx).get(spec.name.lower())
    return _cookies(ctx).get(spec.name.lower())


def _elsewhere(ctx, rule: Rule) -> list[tuple[str, str]]:
    """Credentials sent in places the rule names for none of its credentials: (place, value)."""
    wanted = {(s.place if s.place != "scheme" else "header", s.name.lower()) for s in rule.credentials}
    found = []
    for name in KEY_HEADERS:
        value = ctx.request.header(name)
        if value and ("header", name) not in wanted:
            found.append((f"header {_display(name)}", value))
    for name, value in _query(ctx).items():
        if name in KEY_PARAMS and value and ("query", name) not in wanted:
            found.append((f"query parameter ?{name}=", value))
    return found


def _display(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def _json(body: bytes):
    if not body or body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def may_hold(body: bytes, spec) -> bool:
    """Whether a JSON body can hold a field the rule reads (spares parsing every healthy 200)."""
    if not body:
        return False
    test = spec.body_test
    return test is None or test.search(body) is not None


def vendor_error(ctx) -> VendorError | None:
    """The API's own error report, read as its rule says (the first known code wins)."""
    rule, response = ctx.rule, ctx.response
    if rule is None or rule.errors is None or response is None:
        return None
    spec = rule.errors
    if spec.statuses and response.status not in spec.statuses:
        return None
    body = _json(response.body) if may_hold(response.body, spec) else None
    if body is None and not spec.code_headers:
        return None
    return read_spec(rule, response, body, reveal=ctx.settings.reveal)


def failed(ctx) -> bool:
    """True when the call failed (an error status, or the API reported an error)."""
    return ctx.response is None or ctx.status >= 400 or ctx.vendor_error is not None


def _api(rule: Rule) -> str:
    return f"{rule.name} (rule {rule.where})"


# ---- checks ---------------------------------------------------------------------------------


@on_failure
def check_vendor_error(ctx) -> Iterable[Finding]:
    """The rule's meaning of the API's code, as the catalog id the rule maps it to (or
    ``vendor-error``, the fallback for codes with no better id)."""
    error = ctx.vendor_error
    if error is None or error.rule_code is None:
        return
    known = error.rule_code
    said = f": \"{error.message[:200]}\"" if error.message and error.message != error.code else ""
    fix = f" Fix: {known.fix}" if known.fix else ""
    yield Finding(error.finding, f"{ctx.rule.name} says {error.code} ({error.where}){said}. "
                  f"{known.meaning}{fix}",
                  (("code", error.code), ("where", error.where), ("rule", ctx.rule.where),
                   STATEMENT), verdict=error.verdict)


@on_failure
def check_credential_place(ctx) -> Iterable[Finding]:
    rule = ctx.rule
    if rule is None or not rule.credentials or not failed(ctx):
        return
    missing = [s for s in rule.credentials if not _present(ctx, s)]
    if not missing or (rule.any_credential and len(missing) < len(rule.credentials)):
        return
    elsewhere = _elsewhere(ctx, rule)
    reveal = ctx.settings.reveal
    if elsewhere:
        place, value = elsewhere[0]
        wanted = " or ".join(s.describe() for s in missing) if rule.any_credential else missing[0].describe()
        yield Finding("apikey-wrong-place",
                      f"{_api(rule)} wants the credential in {wanted}; the request sent "
                      f"{redact(value, reveal)} in {place} instead.",
                      (("expected", wanted), ("sent_in", place)))
    elif len(missing) < len(rule.credentials):
        names = ", ".join(f"{s.label + ': ' if s.label else ''}{s.describe()}" for s in missing)
        yield Finding("credential-missing",
                      f"{_api(rule)} needs several credentials; the request did not send {names}.",
                      (("missing", names),))


@on_failure
def check_scheme(ctx) -> Iterable[Finding]:
    rule = ctx.rule
    if rule is None or not failed(ctx):
        return
    specs = [s for s in rule.credentials if s.place == "scheme"]
    if not specs:
        return
    accepted = {scheme.lower() for s in specs for scheme in s.schemes}
    for credential in ctx.credentials:
        if credential.location == "header" and credential.name.lower() == "authorization" \
                and credential.scheme and credential.scheme.lower() not in accepted:
            wanted = " or ".join(dict.fromkeys(x for s in specs for x in s.schemes))
            yield Finding("scheme-unexpected",
                          f"{_api(rule)} expects Authorization: {wanted}; the request sent "
                          f"{credential.scheme}.",
                          (("sent", credential.scheme), ("expected", wanted)))


def _audiences(token) -> list[str]:
    aud = token.claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def token_scopes(token) -> set[str]:
    return scopes.token_scopes(token.claims)


def token_roles(token) -> set[str]:
    return scopes.token_roles(token.claims)


def _jwts(ctx):
    return [t for t in ctx.tokens if t.kind == "jwt"]


@on_failure
def check_token_audience(ctx) -> Iterable[Finding]:
    rule = ctx.rule
    if rule is None or rule.token is None or not rule.token.audiences or not failed(ctx):
        return
    accepted = rule.audiences_for(ctx.request.host)
    for token in _jwts(ctx):
        audiences = _audiences(token)
        if not audiences or any(matches_any(a, accepted) for a in audiences):
            continue
        owner = ctx.settings.rules.audience_owner(audiences[0]) if ctx.settings.rules else None
        belongs = f" ({owner.name})" if owner is not None and owner is not rule else ""
        yield Finding("token-audience-mismatch",
                      f"The token's audience is {', '.join(audiences)}{belongs}; {_api(rule)} "
                      f"accepts {', '.join(accepted)}. Get a token for this API.",
                      (("aud", audiences), ("accepted", list(accepted)),
                       ("aud_belongs_to", owner.name if owner is not None and belongs else None)))


@on_failure
def check_token_issuer(ctx) -> Iterable[Finding]:
    rule = ctx.rule
    if rule is None or not failed(ctx):
        return
    host = ctx.request.host
    host_env = next((e for e in rule.environments if matches_any(host, e.hosts)), None)
    issuers = rule.token.issuers if rule.token else ()
    for token in _jwts(ctx):
        iss, tid = str(token.claims.get("iss", "")), str(token.claims.get("tid", ""))
        token_env = next((e for e in rule.environments if e.owns_token(iss, tid)), None)
        if host_env and token_env and token_env is not host_env:
            yield Finding("token-issuer-mismatch",
                          f"The token is a {token_env.name} token (issuer {iss or '-'}"
                          f"{', tenant ' + tid if tid else ''}); {host} is {host_env.name} "
                          f"({_api(rule)}). Get a {host_env.name} token.",
                          (("iss", iss), ("token_environment", token_env.name),
                           ("host_environment", host_env.name)))
        elif issuers and iss and not matches_any(iss, issuers):
            named = f", a {token_env.name} issuer" if token_env else ""
            yield Finding("token-issuer-mismatch",
                          f"The token's issuer is {iss}{named}; {_api(rule)} trusts "
                          f"{', '.join(issuers)}.",
                          (("iss", iss), ("accepted", list(issuers)),
                           ("token_environment", token_env.name if token_env else None)))


@on_failure
def check_token_scopes(ctx) -> Iterable[Finding]:
    rule = ctx.rule
    if rule is None or rule.token is None or not failed(ctx):
        return
    for token in _jwts(ctx):
        for kind, required, have in (("scope", rule.token.scopes, token_scopes(token)),
                                     ("role", rule.token.roles, token_roles(token))):
            lacking = scopes.missing(required, have)
            if lacking:
                yield _scope_finding(f"{_api(rule)} needs {kind}(s)", lacking, sorted(have))


@on_failure
def check_challenge_scopes(ctx) -> Iterable[Finding]:
    """insufficient_scope with ``scope=``: which of the named scopes the (readable) token lacks.
    With an opaque token, challenge-insufficient-scope already says all there is to say."""
    asking = [c for c in getattr(ctx.challenges, "challenges", ())
              if c.get("error") == "insufficient_scope" and c.get("scope")]
    jwts = _jwts(ctx) if asking else ()
    if not jwts:
        return
    have = sorted(set().union(*(token_scopes(t) for t in jwts)))
    for challenge in asking:
        lacking = scopes.missing(scopes.split(challenge.get("scope")), have)
        if lacking:
            yield _scope_finding(f"The server's challenge ({challenge.scheme}) asks for scope(s)",
                                 lacking, have)


@on_failure
def check_accepted_scopes(ctx) -> Iterable[Finding]:
    """GitHub/Slack: X-Accepted-OAuth-Scopes (any of them will do) vs X-OAuth-Scopes (the token)."""
    response = ctx.response
    if response is None or not failed(ctx):
        return
    accepted, granted = response.header("x-accepted-oauth-scopes"), response.header("x-oauth-scopes")
    if accepted is None or granted is None:
        return
    have = scopes.split(granted)
    lacking = scopes.missing(scopes.split(accepted), have, any_of=True)
    if lacking:
        yield _scope_finding("X-Accepted-OAuth-Scopes says the call needs one of", lacking, have)


def _scope_finding(lead: str, missing: list[str], have: list[str]) -> Finding:
    has = ", ".join(have) if have else "none"
    return Finding("token-scope-missing", f"{lead} {', '.join(missing)}; the token has {has}.",
                   (("missing", missing), ("token_has", have)))


def check_token_signature(ctx) -> Iterable[Finding]:
    """Only on a refused call: an accepted one proves the server took the signature."""
    rules = ctx.settings.rules
    if rules is None or not rules.jwks or ctx.response is None or not failed(ctx):
        return ()  # the usual case, on every call: no generator to make
    return _signature_findings(ctx, rules)


def _signature_findings(ctx, rules) -> Iterable[Finding]:
    for token in _jwts(ctx):
        source = rules.jwks.get(str(token.claims.get("iss", "")))
        if source is None or str(token.header.get("alg", "")).lower() == "none":
            continue
        problem = signature_problem(token.value, token.header, source)
        if problem:
            yield Finding("token-signature-invalid",
                          f"The token from {source.issuer} does not verify: {problem} "
                          f"(JWKS from {source.url or source.file}).",
                          (("issuer", source.issuer), ("kid", token.header.get("kid"))))


CHECKS = (check_vendor_error, check_credential_place, check_scheme, check_token_audience,
          check_token_issuer, check_token_scopes, check_challenge_scopes, check_accepted_scopes,
          check_token_signature)
