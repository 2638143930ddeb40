"""The one catalog of findings: every finding id authlens can report, explained.

Modelled on HTTPolice's ``notices.xml``: each entry says what is wrong, why it makes the call fail,
where the fix lives, and which standard (section) says so. README's findings table is generated
from here (``authlens catalog --markdown``) and a test keeps the two in step.

``verdict`` is what the finding means for a refused call when it is the best explanation:
``authentication`` (prove who you are again: fix, refresh or send the credential) or
``authorization`` (the credential is fine; get the permission). ``None``: it never explains a
refusal by itself (a hint, a server defect, a security warning). Which finding is named as the
cause is decided by one explicit order, ``analyze.PRECEDENCE``, not by the entries. ``group`` picks the flow marker: ``format`` (the request is malformed), ``credential``
(the credential is refused), ``permission`` (the credential lacks rights), ``server`` (the server's
configuration refuses a request that cannot carry a credential), ``note`` (no marker).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """What a refused call needs: the one set of verdicts (JSON keeps the plain strings)."""

    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    UNKNOWN = "unknown"


AUTHN = Verdict.AUTHENTICATION
AUTHZ = Verdict.AUTHORIZATION
UNKNOWN = Verdict.UNKNOWN
"""Not an entry verdict: a finding sets it (``Finding.verdict``) when the call was refused but
neither re-authenticating nor a permission fixes it (``route-not-found``, ``oauth-invalid-request``);
those entries have verdict None and are placed in ``analyze.PRECEDENCE`` like the others."""

SEVERITIES = ("error", "warning", "info")
GROUPS = ("format", "credential", "permission", "server", "note")


@dataclass(frozen=True, kw_only=True)
class Entry:
    id: str
    severity: str
    title: str
    explanation: str
    fix: str
    cite: str
    verdict: str | None = None
    group: str = "note"
    fallback: bool = False
    """Reported only when no other finding explains the refusal (the bare status code)."""
    generic: bool = False
    """Says only that the server refused (its words unmapped, or the bare status): named as the
    cause last (``analyze.PRECEDENCE``), and its fix quotes what the server said."""
    step: bool = False
    """A normal protocol step (the 401 that starts an MCP sign-in): the exchange gets no verdict,
    and the findings that would have explained a refusal are dropped..."""
    breaks_step: bool = False
    """...unless a finding of an entry with this set says the step went wrong (the client did
    not follow it): then the step findings are dropped instead."""


_ENTRIES = [
    # ---- request side: the Authorization header itself -------------------------------------
    Entry(
        id="credential-missing", severity="error", title="No credential sent",
        explanation=(
            "The request carried no Authorization header, API key, cookie or query credential, and the "
            "server refused it."),
        fix=(
            "Client: attach the credential (check the connection/connector is signed in and that the "
            "code path that adds the header runs for this request)."),
        cite="RFC 9110 §11.6.2, §15.5.2", verdict=AUTHN, group="credential"),
    Entry(
        id="credential-empty", severity="error", title="Empty credential",
        explanation=(
            "The Authorization header is empty or names a scheme with nothing after it (`Bearer`, "
            "`Bearer `): the variable that should hold the token was empty."),
        fix=(
            "Client: make sure the token was acquired before this call and that the variable holding it "
            "is set in this scope."),
        cite="RFC 9110 §11.6.2; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="credential-placeholder", severity="error", title="Placeholder instead of a credential",
        explanation=(
            "The credential is a template or default value that was never filled in (`{{token}}`, "
            "`${TOKEN}`, `null`, `undefined`, `[object Object]`, `YOUR_API_KEY`, ...)."),
        fix=(
            "Client: the expression/variable substitution did not run; fix the variable name or the step "
            "that sets it."),
        cite="RFC 9110 §11.6.2", verdict=AUTHN, group="format"),
    Entry(
        id="credential-quoted", severity="error", title="Credential wrapped in quotes",
        explanation=(
            "Quotes surround the header value or the token (`\"Bearer ey...\"`, `Bearer \"ey...\"`). "
            "Quotes are not part of token68 syntax; the server sees a different token. Typically an "
            "expression engine or JSON serialisation added them."),
        fix=(
            "Client: remove the quotes where the header is built (use the raw string, not a JSON-encoded "
            "one)."),
        cite="RFC 9110 §11.4; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="credential-whitespace", severity="error",
        title="Stray whitespace or invisible character in credential",
        explanation=(
            "The credential contains leading/trailing or doubled spaces, a tab, CR/LF, a zero-width or "
            "another non-ASCII character. Servers compare tokens byte for byte; a copy-paste or a "
            "template line break changes the token."),
        fix=(
            "Client: trim the value where it is read (secret store, environment variable, config file) "
            "and rebuild the header as `Scheme<one space>credential`."),
        cite="RFC 9110 §11.4, §5.5; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="scheme-missing", severity="error", title="No authentication scheme",
        explanation=(
            "The Authorization header holds a bare token or key with no scheme in front of it: the "
            "server cannot tell how to read it. (Not reported when the server accepted the call or is "
            "known to take bare credentials, e.g. AWS API Gateway authorizers.)"),
        fix="Client: send `Authorization: Bearer <token>` (or the scheme the API documents).",
        cite="RFC 9110 §11.4, §11.6.2; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="scheme-duplicated", severity="error", title="Scheme written twice",
        explanation=(
            "The scheme appears twice (`Bearer Bearer ey...`): the code adds `Bearer ` to a value that "
            "already had it."),
        fix="Client: add the scheme in one place only (usually: store the raw token, prefix when sending).",
        cite="RFC 9110 §11.4; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="scheme-unexpected", severity="error", title="Scheme the server does not accept",
        explanation=(
            "The request used a scheme the server did not challenge for (sent Bearer, server asks Basic), "
            "or not the one the API's rule expects. Servers sometimes accept schemes they do not "
            "advertise, so an explicit error from the server outranks this."),
        fix="Client: use the scheme in the server's WWW-Authenticate challenge or the API's documentation.",
        cite="RFC 9110 §11.6.1, §11.6.2", verdict=AUTHN, group="format"),
    Entry(
        id="credential-malformed", severity="error",
        title="Credential does not fit its scheme's syntax",
        explanation=(
            "A Bearer credential must be token68 (letters, digits, `-._~+/`, trailing `=`). A character "
            "outside that set means something else was pasted in (`Bearer token=abc`, a JSON object, "
            "a whole header line)."),
        fix="Client: send only the token itself after `Bearer `.",
        cite="RFC 9110 §11.2; RFC 6750 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="basic-malformed", severity="error", title="Basic credential not encoded right",
        explanation=(
            "A Basic credential must be base64(user-id \":\" password). This one is not base64, decodes "
            "to something without a colon, or is `user:pass` in clear."),
        fix=(
            "Client: send `Basic ` + base64(\"user:password\") (most HTTP libraries do this for you: pass "
            "user and password, not a header)."),
        cite="RFC 7617 §2", verdict=AUTHN, group="format"),
    Entry(
        id="credential-in-url", severity="warning", title="Credential in the URL",
        explanation=(
            "A token, key or password is in the query string or the URL's user-info. URLs end up in "
            "logs, browser history and Referer headers; many APIs ignore or reject credentials there."),
        fix="Client: move the credential to the Authorization header (or the header the API documents).",
        cite="RFC 6750 §2.3, §5.3; RFC 9110 §4.2.4", verdict=None, group="note"),
    Entry(
        id="header-misspelled", severity="error", title="Authorization header misspelled",
        explanation=(
            "The credential is in a header the server does not read (`Authorisation`, `Authentication`, "
            "`Auth`, `Bearer`, ...), so as far as the server knows none was sent."),
        fix="Client: send it in `Authorization` (or the header the API documents).",
        cite="RFC 9110 §11.6.2", verdict=AUTHN, group="format"),
    Entry(
        id="header-duplicated", severity="error", title="Authorization header sent more than once",
        explanation=(
            "Authorization is a singleton field; with two of them servers and proxies pick one, join "
            "them with a comma, or reject the request."),
        fix="Client: set the header once (look for a default header plus a per-request one).",
        cite="RFC 9110 §5.3, §11.6.2", verdict=AUTHN, group="format"),
    Entry(
        id="credential-over-http", severity="warning", title="Credential sent over plain HTTP",
        explanation=(
            "The credential crossed the network unencrypted to a host that is not loopback. Anyone on the "
            "path can read and replay it; many servers refuse or redirect such requests."),
        fix="Client: use https://; rotate the credential if this was a real one.",
        cite="RFC 6750 §5.3; RFC 7617 §4; RFC 9110 §17.16", verdict=None, group="note"),
    # ---- the token -------------------------------------------------------------------------
    Entry(
        id="token-expired", severity="error", title="Token expired",
        explanation=(
            "The token's `exp` (for an opaque token: the `expires_in` of the token response that issued "
            "it) was already past when the request was sent (allowing for the configured clock-skew "
            "leeway)."),
        fix=(
            "Client: refresh or re-acquire the token before it expires (check that the refresh actually "
            "replaces the token the client sends)."),
        cite="RFC 7519 §4.1.4; RFC 6750 §3.1 invalid_token", verdict=AUTHN, group="credential"),
    Entry(
        id="token-not-yet-valid", severity="error", title="Token not yet valid",
        explanation=(
            "The token's `nbf` (or `iat`) lies in the future of the time the request was sent: the clock "
            "of the client or of the token issuer is off."),
        fix="Machine running the client (or the issuer): fix the clock (NTP); or wait for nbf.",
        cite="RFC 7519 §4.1.5, §4.1.6", verdict=AUTHN, group="credential"),
    Entry(
        id="token-malformed", severity="error", title="Token cannot be decoded",
        explanation=(
            "The token looks like a JWT (three dot-separated parts) but a part is not valid base64url or "
            "JSON: it was truncated, edited or double-encoded on the way."),
        fix=(
            "Client: send the token exactly as the issuer returned it (look for truncation, URL-encoding "
            "or a value that was concatenated)."),
        cite="RFC 7519 §7.2; RFC 7515 §7.1", verdict=AUTHN, group="credential"),
    Entry(
        id="token-unsigned", severity="error", title="Unsigned token (alg none)",
        explanation="The JWT header says `alg: none`: no signature. Servers must reject such tokens.",
        fix=(
            "Client/issuer: request a signed token from the real identity provider; `alg: none` tokens "
            "come from test stubs or forged tokens."),
        cite="RFC 7518 §3.6; RFC 8725 §2.1, §3.1", verdict=AUTHN, group="credential"),
    Entry(
        id="token-opaque", severity="info", title="Opaque token",
        explanation=(
            "The token is not a JWT: only the server that issued it can read it, so its expiry and scopes "
            "cannot be checked here."),
        fix="Nothing to fix; use the issuer's introspection endpoint to read it if needed.",
        cite="RFC 6750 §1.3; RFC 7662", verdict=None, group="note"),
    Entry(
        id="token-encrypted", severity="info", title="Encrypted token (JWE)",
        explanation="The token is an encrypted JWT (five parts); its claims are readable only by the audience.",
        fix="Nothing to fix client-side.", cite="RFC 7516 §7.1", verdict=None, group="note"),
    # ---- the token's life (authlens.oauth.lifecycle: what the proxy saw earlier) ------------
    Entry(
        id="token-origin", severity="info", title="Where the token came from",
        explanation=(
            "authlens saw the token endpoint issue this token (or refresh token) earlier in the "
            "session: which grant, client and endpoint, when, its lifetime, and what happened to it "
            "since (refreshed, revoked, expired)."),
        fix="Nothing to fix by itself; follow the link to the flow that issued the token.",
        cite="RFC 6749 §5.1", verdict=None, group="note"),
    Entry(
        id="token-stale", severity="error", title="Stale token: a newer one was already issued",
        explanation=(
            "The request carried a token although the token endpoint had already issued a newer one "
            "to the same client for the same audience: the refresh worked, but the client kept "
            "sending the old token (a cached header, a copy of the token in another object or "
            "thread)."),
        fix=(
            "Client: after a refresh, replace the token everywhere it is used (read it from one "
            "place per request, not from a copy taken at start-up)."),
        cite="RFC 6749 §6, §1.5", verdict=AUTHN, group="credential"),
    Entry(
        id="token-lifetime-pattern", severity="warning", title="Tokens rejected at the same age",
        explanation=(
            "Several different tokens were rejected by this host when they reached about the same "
            "age since issue: the server enforces a lifetime (token or session) the client does not "
            "plan for, the 'fails after X minutes, consistently' symptom."),
        fix=(
            "Client: refresh (or re-acquire) tokens before they reach that age, e.g. at 80% of the "
            "observed lifetime or of expires_in."),
        cite="RFC 6749 §5.1 expires_in, §6", verdict=AUTHN, group="credential"),
    Entry(
        id="oauth-no-refresh-token", severity="warning",
        title="Expiring token issued without a refresh token",
        explanation=(
            "The token endpoint issued an access token that expires, but no refresh token: when it "
            "expires the user has to sign in again. Usually the `offline_access` scope (OpenID "
            "Connect, Entra, Auth0, Okta) or Google's `access_type=offline` was not requested, or "
            "the client is not allowed the refresh_token grant."),
        fix=(
            "Client: request `offline_access` (or the provider's equivalent) in the authorization "
            "request; app registration: allow refresh tokens for this client."),
        cite="RFC 6749 §1.5, §5.1; OpenID Connect Core §11", verdict=None, group="note"),
    Entry(
        id="oauth-client-mismatch", severity="error",
        title="Refresh sent by another client or to another endpoint",
        explanation=(
            "The refresh token was sent with another client_id, or to another token endpoint URL, "
            "than the grant that issued it. A refresh token is bound to the client it was issued to "
            "(and to its issuer, tenant and endpoint version); the server answers invalid_grant or "
            "invalid_client."),
        fix=(
            "Client config: refresh with the same client_id, client authentication and token "
            "endpoint URL (tenant, v1 vs v2) as the sign-in that issued the refresh token."),
        cite="RFC 6749 §6, §10.4", verdict=AUTHN, group="credential"),
    # ---- response side ---------------------------------------------------------------------
    Entry(
        id="challenge-missing", severity="warning", title="401 without WWW-Authenticate",
        explanation=(
            "A 401 response must say how to authenticate in a WWW-Authenticate header. This server did "
            "not, so clients cannot react automatically (no retry with the right scheme or scope)."),
        fix="Server: add the challenge. Client side: read the error body for the reason.",
        cite="RFC 9110 §15.5.2, §11.6.1", verdict=None, group="note"),
    Entry(
        id="challenge-invalid-token", severity="error", title="Server says the token is invalid",
        explanation=(
            "The server's challenge carries `error=\"invalid_token\"`: the token is expired, revoked, "
            "malformed, or for another audience or issuer."),
        fix="Client: acquire a new token for this API (right audience/resource and tenant) and send it.",
        cite="RFC 6750 §3.1", verdict=AUTHN, group="credential", generic=True),
    Entry(
        id="challenge-insufficient-scope", severity="error", title="Token lacks the required scope",
        explanation=(
            "The server's challenge carries `error=\"insufficient_scope\"`: the caller is authenticated "
            "but the token does not grant this operation. Re-authenticating with the same consent will "
            "not help."),
        fix=(
            "Permissions: request/consent the scope named in the challenge (app registration, admin "
            "consent, role assignment), then get a new token that carries it."),
        cite="RFC 6750 §3.1", verdict=AUTHZ, group="permission"),
    Entry(
        id="challenge-invalid-request", severity="error",
        title="Server says the request is malformed",
        explanation=(
            "The server's challenge carries `error=\"invalid_request\"`: a parameter is missing, repeated "
            "or malformed, or the credential was sent more than one way."),
        fix="Client: send the credential once, in the documented place and format.",
        cite="RFC 6750 §3.1", verdict=AUTHN, group="format"),
    Entry(
        id="challenge-malformed", severity="warning", title="WWW-Authenticate does not parse",
        explanation=(
            "The server's WWW-Authenticate header does not follow the challenge syntax; clients may "
            "ignore it."),
        fix="Server: fix the header syntax. Client: read the error body instead.",
        cite="RFC 9110 §11.6.1, §11.3", verdict=None, group="note"),
    Entry(
        id="status-error-mismatch", severity="warning", title="Error code on the wrong status",
        explanation=(
            "The challenge's error code does not match the status: `insufficient_scope` belongs on a 403, "
            "`invalid_token` on a 401. Trust the error code: it says which problem this really is."),
        fix="Server: use the status RFC 6750 assigns to the error. Client: act on the error code.",
        cite="RFC 6750 §3.1", verdict=None, group="note"),
    Entry(
        id="error-in-body", severity="error", title="Server explained the refusal in its body",
        explanation=(
            "The response body carries the API's own error code and message (Graph, Google, GitHub, AWS, "
            "Slack, ...), which says more than the status code."),
        fix=(
            "Act on the server's own words (quoted in the message); authlens has no more specific "
            "finding for this code."),
        cite="RFC 9457; vendor documentation", verdict=AUTHN, group="credential", generic=True),
    Entry(
        id="challenge-claims-required", severity="error",
        title="Conditional Access wants a new token with claims",
        explanation=(
            "The challenge carries `error=\"insufficient_claims\"` and a `claims` request (Microsoft "
            "Entra Conditional Access authentication context or Continuous Access Evaluation): the "
            "token is otherwise valid, but a policy (MFA, compliant device, location) requires a "
            "fresh sign-in that satisfies those claims, or the session was revoked. Sent as a 401 on "
            "purpose: re-authenticating (with the claims) is the fix."),
        fix=(
            "Client: acquire a new token interactively, passing the challenge's `claims` (MSAL: "
            "`WithClaims(...)` / `claims_challenge=`), and declare the `cp1` client capability."),
        cite="Microsoft identity platform: claims challenges, CAE; RFC 6750 §3", verdict=AUTHN,
        group="credential"),
    Entry(
        id="challenge-step-up-required", severity="error",
        title="Stronger or more recent sign-in required",
        explanation=(
            "The challenge carries `error=\"insufficient_user_authentication\"`: the token is valid "
            "but the sign-in behind it was not strong enough (`acr_values`) or is too old (`max_age`)."),
        fix=(
            "Client: send the user through the authorization server again requesting the `acr_values` "
            "/ `max_age` from the challenge, then retry with the new token."),
        cite="RFC 9470 §3, §4", verdict=AUTHN, group="credential"),
    Entry(
        id="challenge-dpop-nonce", severity="warning", title="DPoP nonce required",
        explanation=(
            "The challenge carries `error=\"use_dpop_nonce\"`: the server wants a DPoP proof that "
            "includes the nonce from its `DPoP-Nonce` response header. Normal protocol step, not a bad "
            "token."),
        fix=(
            "Client: build a new DPoP proof with the `nonce` claim set to the `DPoP-Nonce` value and "
            "retry (most DPoP libraries do this automatically once)."),
        cite="RFC 9449 §9, §8", verdict=AUTHN, group="credential"),
    Entry(
        id="challenge-invalid-dpop-proof", severity="error", title="DPoP proof rejected",
        explanation=(
            "The challenge carries `error=\"invalid_dpop_proof\"`: the DPoP proof JWT is missing, "
            "badly signed, for another method/URL (`htm`/`htu`), stale (`iat`), replayed (`jti`) or "
            "does not match the token's key binding (`ath`, `cnf.jkt`)."),
        fix=(
            "Client: create a fresh proof per request with the exact method and URL, the current time, "
            "a new jti, `ath` of the access token, signed with the key the token is bound to."),
        cite="RFC 9449 §4.3, §7.1", verdict=AUTHN, group="format"),
    Entry(
        id="challenge-charset-mismatch", severity="error",
        title="Basic credential in the wrong character encoding",
        explanation=(
            "The server's Basic challenge says `charset=\"UTF-8\"`, but the user-id:password the "
            "client sent is not valid UTF-8 (typically ISO-8859-1): a non-ASCII character in the "
            "password was encoded differently from how the server stored it."),
        fix=(
            "Client: encode `user:password` as UTF-8 before base64 (e.g. requests: pass bytes, or use "
            "`HTTPBasicAuth` with str in a recent version)."),
        cite="RFC 7617 §2.1", verdict=AUTHN, group="format"),
    Entry(
        id="route-not-found", severity="error",
        title="No such route (API Gateway's 'Missing Authentication Token')",
        explanation=(
            "AWS API Gateway answers requests for a path, method or stage it does not have with 403 "
            "`{\"message\":\"Missing Authentication Token\"}` (`MissingAuthenticationTokenException`). "
            "It is a 404 in disguise, not a credential problem, unless the route really uses IAM "
            "authorization and no SigV4 signature was sent."),
        fix=(
            "Client: check the URL (stage name, resource path, trailing slash) and the HTTP method "
            "against the deployed API; redeploy the stage if the route is new."),
        cite="AWS API Gateway documentation: MissingAuthenticationTokenException", verdict=None,
        group="note"),
    Entry(
        id="status-hidden-404", severity="warning", title="404 that may hide a refusal",
        explanation=(
            "The server answered 404 to a request that carried a credential, and this API hides "
            "resources the caller may not see as 404 instead of 403 (GitHub, GitLab private "
            "repositories), or its scope headers show the token lacks the needed scope. The resource "
            "may well exist."),
        fix=(
            "Permissions: check the token's scopes/permissions and the account's access to the "
            "resource (GitHub: compare X-OAuth-Scopes with X-Accepted-OAuth-Scopes); otherwise check "
            "the path."),
        cite="RFC 9110 §15.5.5, §15.5.4", verdict=AUTHZ, group="permission", generic=True),
    # ---- across flows: credentials lost on the way (redirects, CORS, cookies) ----------------
    Entry(
        id="credential-dropped-on-redirect", severity="error",
        title="Credential dropped on a cross-origin redirect",
        explanation=(
            "The client sent a credential, got a redirect to another host, scheme or port, and followed "
            "it without the credential. HTTP clients strip Authorization on cross-origin redirects on "
            "purpose (requests, curl, browsers), so the server at the new location never saw it."),
        fix=(
            "Client: call the final URL directly (update the base URL to where the redirect leads), or "
            "re-attach the credential for that host deliberately (e.g. curl --location-trusted, a "
            "requests auth handler per host) only if you trust it."),
        cite="RFC 9110 §15.4, §11.6.2; Fetch Standard §4.4 HTTP-redirect fetch; curl CVE-2022-27776",
        verdict=AUTHN, group="credential"),
    Entry(
        id="cors-preflight-auth", severity="error",
        title="CORS preflight refused for lack of credentials",
        explanation=(
            "The request is a browser's CORS preflight (OPTIONS with Access-Control-Request-Method). "
            "Browsers never send cookies or Authorization on a preflight, so a server that demands "
            "authentication for it refuses every one; the browser then reports a CORS error and never "
            "sends the real request."),
        fix=(
            "Server: let OPTIONS preflights through before authentication and answer them with "
            "Access-Control-Allow-Origin/-Methods/-Headers (and -Credentials when needed)."),
        cite="Fetch Standard §3.2.2, §4.8 CORS-preflight fetch; RFC 9110 §9.3.7", verdict=AUTHN,
        group="server"),
    Entry(
        id="cors-hides-status", severity="warning",
        title="CORS hides the real status from the page",
        explanation=(
            "The cross-origin response lacks a matching Access-Control-Allow-Origin (or, for a call with "
            "cookies, Access-Control-Allow-Credentials), so the browser withholds it: the page's script "
            "sees only a network/CORS error (`TypeError: Failed to fetch`), never the 401/403."),
        fix=(
            "Server: send the CORS headers on error responses too, so the page can read the status. "
            "Debugging: look at this flow's real status and its other findings, not the script's error."),
        cite="Fetch Standard §3.2.3, §4.9 CORS check", verdict=None, group="note"),
    Entry(
        id="cookie-session-missing", severity="error", title="Session cookie not sent",
        explanation=(
            "The request relies on a session cookie (named by a rule, or set earlier on this host) but "
            "arrived without it, and the server refused it or redirected to its login page."),
        fix=(
            "Client: keep and send the cookie (a cookie jar / `requests.Session`, fetch with "
            "`credentials: 'include'`, the same browser context), or sign in again."),
        cite="RFC 6265 §5.4; RFC 9110 §15.5.2", verdict=AUTHN, group="credential"),
    Entry(
        id="cookie-session-expired", severity="error", title="Session cookie expired",
        explanation=(
            "The session cookie's Expires/Max-Age had passed (or the server cleared it) when the request "
            "was sent: a browser no longer sends it, and a server no longer accepts it."),
        fix=(
            "Client: sign in again (or refresh the session before it ends); server: lengthen the "
            "session or renew the cookie on activity if sessions end too soon."),
        cite="RFC 6265 §4.1.2.1, §4.1.2.2, §5.3", verdict=AUTHN, group="credential"),
    Entry(
        id="cookie-not-sent", severity="error",
        title="Session cookie withheld by its own attributes",
        explanation=(
            "The session cookie exists but its Set-Cookie attributes stop the browser from sending it "
            "with this request: SameSite on a cross-site request, Secure over http, or a Domain/Path "
            "that does not cover this URL."),
        fix=(
            "Server: set the attributes this use needs (SameSite=None; Secure for cross-site calls, a "
            "Domain/Path covering the API, https); or client: call the API from the same site."),
        cite="RFC 6265 §5.4; draft-ietf-httpbis-rfc6265bis §5.6.7 (SameSite)", verdict=AUTHN,
        group="credential"),
    Entry(
        id="status-unauthorized", severity="error",
        title="401: the server did not accept the credential",
        explanation=(
            "The server refused the credential without saying why: it is wrong, expired, revoked, for "
            "another API or tenant, or missing."),
        fix="Client: get a fresh credential for this API and check the request's header as sent.",
        cite="RFC 9110 §15.5.2", verdict=AUTHN, group="credential", fallback=True, generic=True),
    Entry(
        id="status-forbidden", severity="error", title="403: authenticated, but not allowed",
        explanation=(
            "The server knows who is calling and refuses the operation: a role, scope, license, policy or "
            "resource permission is missing. Logging in again will not help."),
        fix=(
            "Permissions: have the account or app granted the role/scope for this resource (ask the "
            "resource's admin)."),
        cite="RFC 9110 §15.5.4", verdict=AUTHZ, group="permission", fallback=True, generic=True),
    # ---- token endpoint (RFC 6749 §5.2 error responses) ------------------------------------
    Entry(
        id="oauth-invalid-grant", severity="error",
        title="Token endpoint: grant invalid, expired or revoked",
        explanation=(
            "The token endpoint answered `invalid_grant`: the authorization code, refresh token or "
            "assertion is invalid, expired, revoked, already used, or was issued to another client or "
            "redirect URI. A refresh token that fails this way will not start working again."),
        fix=(
            "Client: start a new sign-in (interactive) to get a new code/refresh token; for codes, "
            "redeem each only once with the same redirect_uri used to obtain it."),
        cite="RFC 6749 §5.2", verdict=AUTHN, group="credential"),
    Entry(
        id="oauth-invalid-client", severity="error",
        title="Token endpoint: client authentication failed",
        explanation=(
            "The token endpoint answered `invalid_client`: the client id is unknown, or its secret, "
            "certificate or assertion is wrong or expired, or it authenticated with a method the "
            "registration does not allow. This is the application's credential, not the user's."),
        fix=(
            "App registration / client config: use the current client secret *value* (not its id), "
            "certificate or assertion, and the auth method (Basic vs POST body) the server expects."),
        cite="RFC 6749 §5.2, §2.3.1", verdict=AUTHN, group="credential"),
    Entry(
        id="oauth-unauthorized-client", severity="error",
        title="Token endpoint: client not allowed this grant",
        explanation=(
            "The token endpoint answered `unauthorized_client`: the client authenticated but is not "
            "allowed to use this grant type (client credentials, refresh, device code, ...)."),
        fix=(
            "App registration: enable the grant type / flow for this client (or use the flow it is "
            "registered for)."),
        cite="RFC 6749 §5.2", verdict=AUTHZ, group="permission"),
    Entry(
        id="oauth-invalid-scope", severity="error",
        title="Token endpoint: scope invalid or not granted",
        explanation=(
            "The token endpoint answered `invalid_scope`: a requested scope is unknown, malformed, "
            "for another resource, or more than the client or user was granted."),
        fix=(
            "Client / app registration: request only scopes the API defines and the app is granted "
            "(and consented); one resource per token request."),
        cite="RFC 6749 §5.2, §3.3", verdict=AUTHZ, group="permission"),
    Entry(
        id="oauth-invalid-request", severity="error",
        title="Token endpoint: malformed token request",
        explanation=(
            "The token endpoint answered `invalid_request`: a required parameter (grant_type, code, "
            "redirect_uri, client_id, code_verifier...) is missing, repeated or malformed. Not a bad "
            "credential: the request itself is wrong."),
        fix="Client: send the parameters the grant requires, form-encoded, each once.",
        cite="RFC 6749 §5.2", verdict=None, group="note"),
    # ---- the server's own words, mapped to what they mean (statements.py, bodies.py) ---------
    Entry(
        id="credential-invalid", severity="error", title="Server does not recognise the credential",
        explanation=(
            "The server said the credential itself is wrong (`Bad credentials`, `Invalid API key "
            "provided`, `invalid_auth`, `API_KEY_INVALID`, `Invalid Credentials`): mistyped, "
            "rotated or deleted, from another account, project or mode (test vs live)."),
        fix=(
            "Client: send the current credential for this account and environment (copy it again "
            "from where it is issued; check test vs live keys)."),
        cite="RFC 9110 §15.5.2; RFC 6750 §3.1; vendor documentation", verdict=AUTHN,
        group="credential"),
    Entry(
        id="token-revoked", severity="error", title="Token revoked or no longer active",
        explanation=(
            "The server said the token (or the session or grant behind it) was revoked or is no "
            "longer active: a sign-out, password change, app uninstall or admin action ended it."),
        fix="Client: get a new token (sign in again); a revoked token never works again.",
        cite="RFC 7009; RFC 7662 §2.2 active; RFC 6750 §3.1", verdict=AUTHN, group="credential"),
    Entry(
        id="token-wrong-type", severity="error", title="Wrong kind of token for this API",
        explanation=(
            "The server refused the token and its claims say it is another kind than this API takes "
            "(an access token where an ID token is expected or the reverse, a user token where an app "
            "token is expected)."),
        fix=(
            "Client: send the kind of token the API's authorizer is configured for (e.g. API Gateway "
            "Cognito authorizers without scopes want the ID token)."),
        cite="RFC 9068 §2.1; OpenID Connect Core §2; AWS API Gateway Cognito authorizers",
        verdict=AUTHN, group="credential"),
    Entry(
        id="permission-missing", severity="error",
        title="The identity lacks a permission on this resource",
        explanation=(
            "The server said the caller is known but lacks a permission, role, privilege or "
            "membership for this resource, or a policy on the resource refuses it. A new token with "
            "the same grants will not help."),
        fix=(
            "Permissions: have the resource's admin grant the role/privilege or change the policy "
            "named in the message (then retry; no new sign-in needed unless roles are in the token)."),
        cite="RFC 9110 §15.5.4; vendor documentation", verdict=AUTHZ, group="permission"),
    Entry(
        id="sso-not-authorized", severity="error",
        title="Token not authorized for the organization's SSO",
        explanation=(
            "The organization enforces SAML single sign-on and this token has not been authorized "
            "for it (GitHub `X-GitHub-SSO: required`, on a refusal or on a 200 that leaves the "
            "organization's data out). The token is valid elsewhere: a new one will not help."),
        fix=(
            "Permissions: the token's owner authorizes it for the organization's SSO at the URL "
            "in X-GitHub-SSO (in the message; valid for one hour), then retries."),
        cite="GitHub docs: Authorizing a personal access token for use with SAML single sign-on",
        verdict=AUTHZ, group="permission"),
    Entry(
        id="sso-partial-results", severity="warning",
        title="Some organizations' data left out (SSO not authorized)",
        explanation=(
            "The call worked, but GitHub left out the data of organizations that enforce SAML "
            "single sign-on this token is not authorized for (`X-GitHub-SSO: partial-results; "
            "organizations=...`): a list may be silently incomplete."),
        fix=(
            "Permissions: authorize the token for those organizations' SSO (GitHub settings, "
            "the token's Configure SSO), if their data is wanted."),
        cite="GitHub docs: Authorizing a personal access token for use with SAML single sign-on",
        verdict=None, group="note"),
    Entry(
        id="api-access-not-configured", severity="error",
        title="The API is not enabled for this caller",
        explanation=(
            "The credential is fine, but the API is not enabled or subscribed for the caller's "
            "project, key or plan (Google `SERVICE_DISABLED`, API Gateway key without a usage plan). "
            "Neither a new credential nor a new sign-in fixes it."),
        fix=(
            "Configuration: enable the API for the project (or add the key to a usage plan of this "
            "stage), then retry."),
        cite="Google Cloud API errors; AWS API Gateway usage plans", verdict=AUTHZ,
        group="permission"),
    Entry(
        id="credential-unusual-char", severity="warning",
        title="Credential character outside token68",
        explanation=(
            "The credential has a character token68 does not allow (`!`, `#`, `$`, `*`, ...). Many "
            "servers accept such tokens, so this is reported but never named as the cause of a "
            "refusal."),
        fix=(
            "Client: if the server refuses the token, check that the value is the token as issued "
            "(no extra characters)."),
        cite="RFC 9110 §11.2; RFC 6750 §2.1", verdict=None, group="note"),
    # ---- rules: what the API expects (rules/, presets) -------------------------------------
    Entry(
        id="apikey-wrong-place", severity="error", title="Credential sent in the wrong place",
        explanation=(
            "The API's rule says where its key or token goes (a header, a query parameter, a cookie, "
            "`Authorization`); this request carried one somewhere else, so as far as the API knows "
            "none was sent."),
        fix=(
            "Client: send the credential where the API's rule (and documentation) says: the header, "
            "parameter or cookie named in the message."),
        cite="RFC 6750 §2; API documentation", verdict=AUTHN, group="format"),
    Entry(
        id="token-audience-mismatch", severity="error", title="Token issued for another API",
        explanation=(
            "The token's `aud` is not an audience this API accepts: it was requested for another "
            "resource (a Graph token sent to SharePoint, an ID token or the app's own API sent to a "
            "resource server)."),
        fix=(
            "Client: request the token for this API (the `scope`/`resource` of the token request must "
            "name this API), then send that token."),
        cite="RFC 7519 §4.1.3; RFC 8707; RFC 9068 §4", verdict=AUTHN, group="credential"),
    Entry(
        id="token-issuer-mismatch", severity="error",
        title="Token from another issuer or environment",
        explanation=(
            "The token's `iss` (or tenant) is not one this API trusts: typically a staging token on a "
            "production host, or a token from another tenant."),
        fix=(
            "Client: get the token from the issuer/tenant of the environment you are calling (check "
            "the authority URL and tenant id in the client's configuration)."),
        cite="RFC 7519 §4.1.1; RFC 9068 §4", verdict=AUTHN, group="credential"),
    Entry(
        id="token-scope-missing", severity="error",
        title="Token lacks a scope or role this call needs",
        explanation=(
            "The token is accepted but does not carry the scope(s) or role(s) the call requires (from "
            "the API's rule, the challenge's `scope=`, or `X-Accepted-OAuth-Scopes`). "
            "Re-authenticating with the same consent will not help."),
        fix=(
            "Permissions: grant/consent the missing scope or role (app registration, admin consent, "
            "app reinstall), then get a new token that carries it."),
        cite="RFC 6750 §3.1; RFC 8693 §4.2; RFC 9068 §2.2.3", verdict=AUTHZ, group="permission"),
    Entry(
        id="token-signature-invalid", severity="error", title="Token signature does not verify",
        explanation=(
            "The token's signature does not verify against the issuer's keys (JWKS): it was altered, "
            "signed by another issuer or environment, or with a key the issuer no longer publishes."),
        fix="Client: get a fresh token from the issuer this API trusts; never edit tokens.",
        cite="RFC 7515 §5.2; RFC 7517; RFC 8725 §3.1", verdict=AUTHN, group="credential"),
    Entry(
        id="vendor-error", severity="error", title="The API's own error code, explained",
        explanation=(
            "The API reported a documented error code (body field or header); the API's rule says what "
            "it means and whether it is an authentication or an authorization problem."),
        fix="As the message says for this code.", cite="API documentation (rules/, presets)",
        verdict=AUTHN, group="credential"),
    # ---- MCP / OAuth discovery (authlens.oauth.discovery: what the traffic says the API expects)
    Entry(
        id="discovery-challenge", severity="info",
        title="Sign-in starts: the server says where to discover it",
        explanation=(
            "A request without credential was answered 401 with `WWW-Authenticate: Bearer "
            "resource_metadata=...`: the normal first step of an MCP (OAuth 2.1) sign-in. The client "
            "is expected to fetch that protected resource metadata, then the authorization server's "
            "metadata, sign the user in and call again with the token. Not a refusal."),
        fix=(
            "Nothing to fix when the client follows it; otherwise the client must implement MCP "
            "authorization discovery (see the message for the next request)."),
        cite="RFC 9728 §5.1; MCP specification, Authorization (Authorization Server Discovery)",
        verdict=None, group="note", step=True),
    Entry(
        id="discovery-not-followed", severity="error", title="Client ignored the sign-in challenge",
        explanation=(
            "The server already answered this client's call with a 401 that named its protected "
            "resource metadata, and the client called again without a credential instead of fetching "
            "the metadata and signing in: it does not implement MCP authorization discovery, or its "
            "OAuth support is off."),
        fix=(
            "Client: follow `resource_metadata` (RFC 9728), discover the authorization server "
            "(RFC 8414), sign in with the authorization code grant and PKCE (`resource` = the "
            "server's URL) and send `Authorization: Bearer <token>`; or configure a token by hand."),
        cite="RFC 9728 §5.1; RFC 6750 §3; MCP specification, Authorization", verdict=AUTHN,
        group="credential", breaks_step=True),
    Entry(
        id="resource-metadata-missing", severity="error",
        title="Protected resource metadata missing or wrong",
        explanation=(
            "The protected resource metadata the challenge points to (or the well-known "
            "`/.well-known/oauth-protected-resource[/path]` URLs, tried in that order) answered an "
            "error or no JSON with a `resource`, or its `resource` is not the URL the client called "
            "(a trailing slash, another path, another host): the client cannot learn, or must not "
            "trust, which authorization server signs it in."),
        fix=(
            "Server: serve the metadata at the URL the challenge names (mounted apps often move it "
            "under a prefix) with `resource` equal to the URL clients call (the public URL behind a "
            "proxy, exact path, no stray trailing slash)."),
        cite="RFC 9728 §3, §3.3, §5.1", verdict=None, group="note"),
    Entry(
        id="server-metadata-issuer-mismatch", severity="error",
        title="Authorization server metadata: issuer is not the server named",
        explanation=(
            "The `issuer` in the authorization server metadata is not, character for character, the "
            "authorization server the protected resource metadata names (often only a trailing "
            "slash differs, added by a URL type on one side). Clients must compare them exactly "
            "and stop the sign-in (the MCP Python SDK: `Authorization server metadata issuer "
            "mismatch`)."),
        fix=(
            "Server: configure the same issuer string in the resource server's "
            "`authorization_servers` and in the authorization server (with or without the trailing "
            "slash, the same on both)."),
        cite="RFC 8414 §3.3; RFC 9728 §2; RFC 9207", verdict=None, group="note"),
    Entry(
        id="oauth-metadata-mismatch", severity="error",
        title="Request does not follow the authorization server's metadata",
        explanation="The authorization server's metadata (RFC 8414 / OpenID Connect discovery) "
        "passed through the proxy earlier, and this refused token or authorization request "
        "does not follow it: sent to another URL than its `token_endpoint` (a guessed `/token` "
        "where it says `/oauth2/token`), with a `grant_type` not in `grant_types_supported`, a "
        "client authentication not in `token_endpoint_auth_methods_supported` (the secret in "
        "the form where only Basic is taken), or a PKCE method not in "
        "`code_challenge_methods_supported` (`plain` where only `S256` is). The message names "
        "which.",
        fix="Client: take the endpoints and methods from the metadata instead of building or "
        "assuming them: the `token_endpoint` URL, a listed grant, a listed client "
        "authentication method, `code_challenge_method=S256`.",
        cite="RFC 8414 §2, §3; RFC 6749 §2.3, §5.2; RFC 7636 §4.2, §4.3",
        verdict=AUTHN, group="format"),
    Entry(
        id="oauth-resource-missing", severity="warning",
        title="Sign-in request without the resource indicator",
        explanation=(
            "An authorization or token request to the authorization server an MCP server named has "
            "no RFC 8707 `resource` parameter, which the MCP specification requires. The token is "
            "then issued for the server's default audience, the usual reason an MCP server refuses "
            "it as issued for another resource."),
        fix=(
            "Client: send `resource=<the MCP server's URL>` (its canonical URI, as in the protected "
            "resource metadata) in both the authorization and the token request."),
        cite="RFC 8707 §2; MCP specification, Authorization (Resource Parameter)", verdict=None,
        group="note"),
    Entry(
        id="oauth-invalid-target", severity="error",
        title="Token endpoint: resource (target) not accepted",
        explanation=(
            "The token endpoint answered `invalid_target`: the `resource` (or `audience`) requested "
            "is unknown to it, malformed, or not one this client may get tokens for."),
        fix=(
            "Client: request the resource exactly as the protected resource metadata names it; "
            "authorization server: register that resource (API / audience) and allow the client."),
        cite="RFC 8707 §2; RFC 8693 §2.2.2", verdict=None, group="note"),
    Entry(
        id="token-kid-unknown", severity="error",
        title="Token signed with a key the issuer does not publish",
        explanation=(
            "The token's `kid` is not in the issuer's JWKS that passed through the proxy: the issuer "
            "rotated its signing keys after the keys were fetched (a resource server caching an old "
            "JWKS), or the token comes from another issuer, tenant or environment."),
        fix=(
            "Resource server: re-fetch the JWKS when a token names an unknown kid (rate-limited); "
            "client: get the token from the issuer this API trusts."),
        cite="RFC 7517 §4.5, §5; RFC 7515 §4.1.4; RFC 8725 §3.1", verdict=AUTHN, group="credential"),
    Entry(
        id="refresh-token-reused", severity="error", title="Refresh token redeemed twice",
        explanation=(
            "The client sent a refresh token the token endpoint had already exchanged. A server that "
            "rotates refresh tokens answers `invalid_grant`, and may treat the reuse as theft and "
            "revoke every token of that sign-in (the ones the first redemption issued too). Usual "
            "causes: the new refresh token was not stored, or two threads or processes refreshed "
            "at once with the same one."),
        fix=(
            "Client: store the refresh token each response returns before using it, and refresh "
            "once at a time (one lock per sign-in, shared by threads and processes)."),
        cite="RFC 9700 §4.14.2; RFC 6749 §6, §10.4", verdict=AUTHN, group="credential"),
    Entry(
        id="clock-skew", severity="error", title="A clock is off: the server's or the issuer's",
        explanation=(
            "The token's times fail by one clock and not another: the server's `Date` and the "
            "proxy's clock disagree by more than the leeway and only the server's makes the token "
            "expired or not yet valid (the server's clock is off), or both agree and the token's "
            "`iat`/`nbf` lie ahead of them (the issuer's clock is ahead)."),
        fix=(
            "The machine whose clock the message names: synchronise it (NTP); meanwhile the "
            "resource server can allow a small leeway."),
        cite="RFC 7519 §4.1.4, §4.1.5, §4.1.6; RFC 9110 §6.6.1", verdict=AUTHN, group="credential"),
    Entry(
        id="dpop-proof-mismatch", severity="error", title="DPoP proof does not match its request",
        explanation=(
            "The DPoP proof sent with this request names another method (`htm`) or URL (`htu`: "
            "another host, port, path, or a query it must not carry; behind a proxy or gateway the "
            "URL the server sees differs from the one the client signed), is stale (`iat`), or "
            "its `ath` is not the hash of the access token sent with it."),
        fix=(
            "Client: build a new proof per request from the exact method and the URL the server "
            "receives (scheme, host, port, path; no query or fragment), with the current time and "
            "`ath` = base64url(SHA-256(access token))."),
        cite="RFC 9449 §4.2, §4.3", verdict=AUTHN, group="format"),
    Entry(
        id="dpop-nonce-loop", severity="error", title="DPoP nonce retry does not converge",
        explanation=(
            "The server answered `use_dpop_nonce` again: the client retried without the nonce the "
            "previous answer's `DPoP-Nonce` header offered (or with an old one), so every retry is "
            "refused the same way."),
        fix=(
            "Client: read `DPoP-Nonce` from each use_dpop_nonce answer (and from successful ones: "
            "servers rotate it) and put it in the `nonce` claim of the next proof."),
        cite="RFC 9449 §8, §9", verdict=AUTHN, group="credential"),
    # ---- the connection below HTTP: mutual TLS (authlens.mtls) ------------------------------
    Entry(
        id="client-certificate-missing", severity="error",
        title="TLS client certificate missing or refused",
        explanation="The server asked for a client certificate in the TLS handshake (mutual "
        "TLS) and got none, or refused the one it got: it ended the handshake (TLS 1.3 alert "
        "`certificate_required`, a `handshake failure` after its CertificateRequest), closed "
        "the connection, or refused the call (nginx: 400 `No required SSL certificate was "
        "sent`). Behind mitmproxy the client's own certificate never reaches the server: "
        "mitmproxy ends the client's TLS and opens its own, and sends a certificate only when "
        "given one.",
        fix="Client: give mitmproxy the certificate and its key (`--set client_certs=FILE.pem`, "
        "or a folder with a `<host>.pem` per server; mitmproxy's `client_certs` option); "
        "server: accept the CA that issued it.",
        cite="RFC 8446 §4.3.2, §4.4.2, §6.2; RFC 8705 §2", verdict=AUTHN, group="credential"),
]

CATALOG: dict[str, Entry] = {entry.id: entry for entry in _ENTRIES}
assert len(CATALOG) == len(_ENTRIES), "duplicate catalog id"


def get(finding_id: str) -> Entry:
    """The catalog entry for ``finding_id`` (KeyError for an unknown id: a bug, caught by tests)."""
    return CATALOG[finding_id]


def describe(entry: Entry) -> str:
    """Everything the catalog says of one finding, as ``authlens catalog ID`` prints it."""
    return "\n".join((
        f"{entry.id} ({entry.severity}, verdict {entry.verdict or '-'}): {entry.title}",
        f"  why:  {entry.explanation}",
        f"  fix:  {entry.fix}",
        f"  see:  {entry.cite}",
    ))


def markdown_table() -> str:
    """The README findings table: every entry with its explanation, fix side and citation."""
    lines = ["| id | severity | verdict | title | why | where the fix lives | reference |",
             "|---|---|---|---|---|---|---|"]
    for e in _ENTRIES:
        lines.append(f"| `{e.id}` | {e.severity} | {e.verdict or '-'} | {e.title} | "
                     f"{e.explanation.replace('|', '/')} | {e.fix.replace('|', '/')} | {e.cite} |")
    return "\n".join(lines)
