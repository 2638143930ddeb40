"""Vendor error bodies: read the API's own error code and say what it means.

Table-driven: each *reader* recognises one vendor's body shape and returns the raw
``(vendor, code, message)``; one table per vendor maps the code to ``(verdict, explanation)``.
Unknown codes on a 401/403/407 still produce ``error-in-body`` (verdict by status); on any other
status only codes from a table do, so a 400 validation error is never mistaken for a refusal.

Never raises: bodies are read up to ``MAX_BODY`` bytes, decoded leniently, and a body that is
binary, huge, truncated, deeply nested or not JSON simply yields nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import catalog, scopes
from .catalog import AUTHN, AUTHZ, UNKNOWN
from .model import STATEMENT, Finding, on_failure
from .secrecy import redact, redact_token_shaped

MAX_BODY = 64 * 1024
"""Bytes of a body that are read; error bodies are small, a bigger one is not an error body."""
MAX_TEXT_SHOWN = 300

REFUSALS = (401, 403, 407)

# ---- tables: code -> (verdict, plain explanation) -------------------------------------------

MICROSOFT = {
    # Microsoft Graph
    "InvalidAuthenticationToken": (AUTHN, "the access token is invalid: expired, for another "
                                          "audience/resource, or malformed"),
    "Authentication_ExpiredToken": (AUTHN, "the access token has expired"),
    "Authentication_MissingOrMalformed": (AUTHN, "the access token is missing or malformed"),
    "Authorization_RequestDenied": (AUTHZ, "the token lacks the permission (delegated scope or "
                                           "application role) or admin consent for this "
                                           "operation"),
    "Authorization_IdentityNotFound": (AUTHZ, "the calling app has no service principal in this "
                                              "tenant (not consented/provisioned there)"),
    "AccessDenied": (AUTHZ, "the caller lacks the permission for this resource"),
    "ErrorAccessDenied": (AUTHZ, "the caller lacks the permission for this mailbox/resource"),
    "accessDenied": (AUTHZ, "the caller lacks the permission for this item"),
    "Forbidden": (AUTHZ, "the caller is not allowed this operation"),
    "Unauthorized": (AUTHN, "no valid token was presented"),
    "unauthenticated": (AUTHN, "no valid token was presented"),
    # Azure Resource Manager / Azure services
    "InvalidAuthenticationTokenAudience": (AUTHN, "the token was issued for another audience: "
                                                  "request it for this API's resource/scope"),
    "InvalidAuthenticationTokenTenant": (AUTHN, "the token is from another tenant than the "
                                                "subscription's directory"),
    "ExpiredAuthenticationToken": (AUTHN, "the access token has expired"),
    "AuthenticationFailed": (AUTHN, "the server could not authenticate the request"),
    "AuthenticationFailedInvalidHeader": (AUTHN, "the Authorization header is not in "
                                                 "'Bearer <token>' form"),
    "AuthenticationFailedMissingToken": (AUTHN, "no token was sent"),
    "AuthorizationFailed": (AUTHZ, "the identity has no RBAC role assignment allowing this "
                                   "action at this scope"),
    "LinkedAuthorizationFailed": (AUTHZ, "the identity lacks permission on a linked resource"),
    "RequestDisallowedByPolicy": (AUTHZ, "an Azure Policy assignment denies this request"),
    "AuthorizationPermissionMismatch": (AUTHZ, "the identity's role does not include this data "
                                               "operation"),
    "AuthorizationFailure": (AUTHZ, "the request is not authorized (network rules, role or SAS "
                                    "permissions)"),
    "ForbiddenByRbac": (AUTHZ, "no Key Vault RBAC role grants this data action"),
    "ForbiddenByPolicy": (AUTHZ, "the Key Vault access policy does not grant this permission"),
    # Dataverse (Dynamics 365)
    "0x80072560": (AUTHZ, "the identity is not a user / application user of this Dataverse "
                          "environment (or the token is for another environment)"),
    "0x80040220": (AUTHZ, "the user's security roles lack the privilege on this table"),
    "0x8004f507": (AUTHZ, "the user has no license or security role for this environment"),
    # SharePoint (HRESULT part of "-2147024891, System.UnauthorizedAccessException")
    "-2147024891": (AUTHZ, "SharePoint denied access (E_ACCESSDENIED): a permission or site "
                           "policy (e.g. custom scripts disabled) refuses this operation"),
}

AADSTS = {
    50173: (AUTHN, "the refresh token was revoked (password change or revoked sessions)"),
    700082: (AUTHN, "the refresh token expired after 90 days of inactivity"),
    700084: (AUTHN, "the single-page app's refresh token expired (24 hours)"),
    70008: (AUTHN, "the authorization code or refresh token has expired"),
    70043: (AUTHN, "the refresh token expired under Conditional Access sign-in frequency"),
    54005: (AUTHN, "the authorization code was already redeemed"),
    7000215: (AUTHN, "invalid client secret: send the secret's value, not its id"),
    7000222: (AUTHN, "the client secret has expired: create a new one"),
    700027: (AUTHN, "the client assertion's signature or certificate does not validate"),
    700024: (AUTHN, "the client assertion is outside its valid time range"),
    7000218: (AUTHN, "the request needs client_secret or client_assertion (public client flows "
                     "are not allowed)"),
    50013: (AUTHN, "the assertion (user token) is expired or its signature is invalid"),
    500133: (AUTHN, "the on-behalf-of assertion is expired or not yet valid"),
    65001: (AUTHZ, "the user or an admin has not consented to the app's permissions"),
    65004: (AUTHZ, "the user declined to consent"),
    50105: (AUTHZ, "the signed-in user is not assigned to a role for the application"),
    53003: (AUTHZ, "access blocked by Conditional Access policies"),
    53000: (AUTHZ, "Conditional Access requires a compliant or managed device"),
    50020: (AUTHZ, "the user's account does not exist in this tenant (guest not invited)"),
    50076: (AUTHN, "multi-factor authentication is required: sign in interactively"),
    50079: (AUTHN, "the user must register for multi-factor authentication"),
    50158: (AUTHN, "an external security challenge was not satisfied"),
    700016: (AUTHN, "the application (client id) was not found in this tenant: wrong client id "
                    "or tenant"),
    90002: (AUTHN, "the tenant was not found: wrong tenant id or domain"),
    50034: (AUTHN, "the user account does not exist in this directory"),
    50126: (AUTHN, "invalid username or password"),
    50053: (AUTHN, "the account is locked"),
    50057: (AUTHN, "the user account is disabled"),
    50055: (AUTHN, "the user's password has expired"),
    500011: (AUTHN, "the resource principal (scope/resource) was not found in the tenant: "
                    "wrong resource, or the API is not provisioned there"),
    50011: (AUTHN, "the redirect URI does not match the app registration"),
}

GOOGLE = {
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": (AUTHZ, "the access token lacks the OAuth scope this "
                                               "method needs: re-consent with that scope"),
    "insufficientPermissions": (AUTHZ, "the access token lacks the needed scope or permission"),
    "SERVICE_DISABLED": (AUTHZ, "the API is not enabled on the caller's project: enable it in "
                                "the console (credentials are fine)"),
    "accessNotConfigured": (AUTHZ, "the API is not enabled on the caller's project"),
    "API_KEY_INVALID": (AUTHN, "the API key is not valid (wrong, deleted or for another project)"),
    "keyInvalid": (AUTHN, "the API key is not valid"),
    "API_KEY_SERVICE_BLOCKED": (AUTHZ, "the API key's restrictions do not allow this API"),
    "API_KEY_HTTP_REFERRER_BLOCKED": (AUTHZ, "the API key's HTTP referrer restriction blocks "
                                             "this caller"),
    "API_KEY_IP_ADDRESS_BLOCKED": (AUTHZ, "the API key's IP restriction blocks this caller"),
    "API_KEY_ANDROID_APP_BLOCKED": (AUTHZ, "the API key's Android app restriction blocks this "
                                           "caller"),
    "API_KEY_IOS_APP_BLOCKED": (AUTHZ, "the API key's iOS app restriction blocks this caller"),
    "ACCESS_TOKEN_EXPIRED": (AUTHN, "the access token has expired"),
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": (AUTHN, "this kind of token is not accepted here"),
    "CREDENTIALS_MISSING": (AUTHN, "no credential was sent"),
    "IAM_PERMISSION_DENIED": (AUTHZ, "the principal lacks the IAM permission"),
    "USER_PROJECT_DENIED": (AUTHZ, "the caller may not use the quota project it named"),
    "BILLING_DISABLED": (AUTHZ, "billing is disabled on the project"),
    "authError": (AUTHN, "the credentials are invalid or expired"),
    "required": (AUTHN, "login required: no credential was sent"),
    "forbidden": (AUTHZ, "the caller is not allowed this operation"),
    "UNAUTHENTICATED": (AUTHN, "the credentials are missing, invalid or expired"),
    "PERMISSION_DENIED": (AUTHZ, "the caller is not allowed this operation"),
}

GITHUB = {
    "bad credentials": (AUTHN, "the token is unknown, revoked or expired"),
    "requires authentication": (AUTHN, "no token was sent for an endpoint that needs one"),
    "resource not accessible by integration": (AUTHZ, "the GitHub App installation lacks the "
                                                      "permission, or this endpoint needs a user "
                                                      "token"),
    "resource not accessible by personal access token": (AUTHZ, "the fine-grained token lacks "
                                                                "the permission or repository"),
    "resource protected by organization saml enforcement": (AUTHZ, "the token is not authorized "
                                                                   "for the organization's SAML "
                                                                   "SSO"),
    "must have admin rights to repository": (AUTHZ, "this needs admin rights on the repository"),
    "although you appear to have the correct authorization credentials": (
        AUTHZ, "the organization restricts OAuth App access"),
    "api rate limit exceeded": (UNKNOWN, "rate limited, not an auth problem: wait for "
                                         "X-RateLimit-Reset (authenticated calls get more)"),
    "you have exceeded a secondary rate limit": (UNKNOWN, "secondary rate limit, not an auth "
                                                          "problem: slow down"),
}

SLACK = {
    "invalid_auth": (AUTHN, "the token is invalid (wrong, revoked, or sent where Slack no longer "
                            "reads it)"),
    "not_authed": (AUTHN, "no token was sent"),
    "token_revoked": (AUTHN, "the token was revoked"),
    "token_expired": (AUTHN, "the token expired (token rotation: refresh it)"),
    "account_inactive": (AUTHN, "the token's user or app was deactivated"),
    "org_login_required": (AUTHN, "the workspace is migrating; sign in again"),
    "not_allowed_token_type": (AUTHN, "this method does not take this kind of token (bot vs user)"),
    "missing_scope": (AUTHZ, "the token lacks a scope: add it and reinstall the app"),
    "no_permission": (AUTHZ, "the workspace token lacks the permission"),
    "access_denied": (AUTHZ, "access denied to this resource"),
    "ekm_access_denied": (AUTHZ, "administrators suspended access to this content"),
    "team_access_not_granted": (AUTHZ, "the token has no access to this workspace"),
}

STRIPE = {
    "invalid api key provided": (AUTHN, "the secret key is wrong, rolled, or from another mode "
                                        "(test vs live) or account"),
    "you did not provide an api key": (AUTHN, "no API key was sent: use 'Authorization: Bearer "
                                              "sk_...'"),
    "api_key_expired": (AUTHN, "the API key has expired"),
    "secret_key_required": (AUTHN, "this call needs the secret key, not the publishable key"),
    "authentication_error": (AUTHN, "the API key could not be authenticated"),
    "permission_error": (AUTHZ, "the (restricted) key lacks the permission for this resource"),
    "does not have the required permissions": (AUTHZ, "the restricted key lacks the permission"),
}

AWS = {
    "MissingAuthenticationTokenException": (UNKNOWN, ""),  # route-not-found, see _aws
    "UnauthorizedException": (AUTHN, "the authorizer rejected the token (expired, invalid, or "
                                     "the wrong kind: a Cognito user-pool authorizer without "
                                     "scopes wants the ID token, not the access token)"),
    "AccessDeniedException": (AUTHZ, "an IAM/resource policy or a Lambda authorizer's Deny "
                                     "refuses this call"),
    "ForbiddenException": (AUTHZ, "the request is refused by configuration: API key not in a "
                                  "usage plan for this stage, WAF, private API or resource "
                                  "policy"),
    "InvalidSignatureException": (AUTHN, "the SigV4 signature does not match (secret key, "
                                         "region, service, clock or canonical request)"),
    "SignatureDoesNotMatch": (AUTHN, "the SigV4 signature does not match"),
    "IncompleteSignatureException": (AUTHN, "the Authorization header is not a complete SigV4 "
                                            "signature (a Bearer token sent to an IAM route?)"),
    "ExpiredTokenException": (AUTHN, "the temporary security credentials have expired"),
    "UnrecognizedClientException": (AUTHN, "the access key id or session token is not valid"),
    "InvalidClientTokenId": (AUTHN, "the access key id does not exist"),
    "RequestExpired": (AUTHN, "the signed request is too old (clock skew)"),
}

# ---- vendor code -> the specific catalog finding it names (else error-in-body) ------------------

_EXPIRED, _AUDIENCE, _ISSUER = "token-expired", "token-audience-mismatch", "token-issuer-mismatch"
_SCOPE, _PERMISSION, _INVALID = "token-scope-missing", "permission-missing", "credential-invalid"
_NOT_ENABLED, _REVOKED = "api-access-not-configured", "token-revoked"

SPECIFIC = {
    # Microsoft Graph / Azure / Dataverse / SharePoint
    "Authentication_ExpiredToken": _EXPIRED, "ExpiredAuthenticationToken": _EXPIRED,
    "InvalidAuthenticationTokenAudience": _AUDIENCE, "InvalidAuthenticationTokenTenant": _ISSUER,
    "Authorization_RequestDenied": _SCOPE,
    "Authorization_IdentityNotFound": _PERMISSION, "AccessDenied": _PERMISSION,
    "ErrorAccessDenied": _PERMISSION, "accessDenied": _PERMISSION,
    "AuthorizationFailed": _PERMISSION, "LinkedAuthorizationFailed": _PERMISSION,
    "RequestDisallowedByPolicy": _PERMISSION, "AuthorizationPermissionMismatch": _PERMISSION,
    "ForbiddenByRbac": _PERMISSION, "ForbiddenByPolicy": _PERMISSION,
    "0x80072560": _PERMISSION, "0x80040220": _PERMISSION, "0x8004f507": _PERMISSION,
    "-2147024891": _PERMISSION,
    # Google
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": _SCOPE, "insufficientPermissions": _SCOPE,
    "SERVICE_DISABLED": _NOT_ENABLED, "accessNotConfigured": _NOT_ENABLED,
    "BILLING_DISABLED": _NOT_ENABLED,
    "API_KEY_INVALID": _INVALID, "keyInvalid": _INVALID, "authError": _INVALID,
    "ACCESS_TOKEN_EXPIRED": _EXPIRED, "IAM_PERMISSION_DENIED": _PERMISSION,
    # GitHub (message prefixes, lower case)
    "bad credentials": _INVALID,
    "resource not accessible by integration": _PERMISSION,
    "resource not accessible by personal access token": _PERMISSION,
    "must have admin rights to repository": _PERMISSION,
    "resource protected by organization saml enforcement": "sso-not-authorized",
    # Slack
    "invalid_auth": _INVALID, "token_revoked": _REVOKED, "token_expired": _EXPIRED,
    "account_inactive": _REVOKED, "missing_scope": _SCOPE, "no_permission": _PERMISSION,
    "access_denied": _PERMISSION, "team_access_not_granted": _PERMISSION,
    # Stripe (codes and message prefixes)
    "invalid api key provided": _INVALID, "api_key_expired": _EXPIRED,
    "permission_error": _PERMISSION, "does not have the required permissions": _PERMISSION,
    # AWS
    "AccessDeniedException": _PERMISSION, "ForbiddenException": _NOT_ENABLED,
    "ExpiredTokenException": _EXPIRED, "UnrecognizedClientException": _INVALID,
    "InvalidClientTokenId": _INVALID,
}
"""Vendor error code (or, for vendors without codes, a lower-case message prefix) -> the
catalog id it names. A code missing here stays ``error-in-body``, whose fix quotes the server."""


def specific_finding(error: VendorError) -> str | None:
    """The catalog id ``error``'s code names, or None."""
    found = SPECIFIC.get(error.code) or SPECIFIC.get(error.code.split(",")[0].strip())
    if found:
        return found
    for text in (error.code.lower(), error.message.lower()):
        for key, finding in SPECIFIC.items():
            if " " in key and text.startswith(key):
                return finding
    return None


_AWS_MESSAGES = {
    "missing authentication token": "MissingAuthenticationTokenException",
    "unauthorized": "UnauthorizedException",
    "forbidden": "ForbiddenException",
    "user is not authorized to access this resource": "AccessDeniedException",
    "the security token included in the request is invalid": "UnrecognizedClientException",
    "the security token included in the request is expired": "ExpiredTokenException",
    "invalid key=value pair": "IncompleteSignatureException",
    "authorization header requires": "IncompleteSignatureException",
    "the request signature we calculated does not match": "InvalidSignatureException",
}

OAUTH = {
    "invalid_grant": ("oauth-invalid-grant", None),
    "invalid_client": ("oauth-invalid-client", None),
    "unauthorized_client": ("oauth-unauthorized-client", None),
    "invalid_scope": ("oauth-invalid-scope", None),
    "invalid_request": ("oauth-invalid-request", None),
    "invalid_target": ("oauth-invalid-target", None),
    "unsupported_grant_type": ("oauth-invalid-request", "the server does not support this "
                                                        "grant_type"),
    "bad_verification_code": ("oauth-invalid-grant", "the code is wrong or expired (GitHub)"),
    "incorrect_client_credentials": ("oauth-invalid-client", "client id or secret is wrong "
                                                             "(GitHub)"),
    "access_denied": ("error-in-body", "the user or server denied the request"),
    "expired_token": ("error-in-body", "the device code expired: start the flow again"),
    "interaction_required": ("error-in-body", "the user must sign in interactively"),
    "login_required": ("error-in-body", "the user must sign in"),
    "consent_required": ("error-in-body", "the user must consent"),
    "invalid_token": ("error-in-body", "the token is invalid"),
    "insufficient_scope": ("error-in-body", "the token lacks a scope"),
    # RFC 9449: the body repeating the challenge's code names the same finding
    "use_dpop_nonce": ("challenge-dpop-nonce", "retry with the DPoP-Nonce the server sent"),
    "invalid_dpop_proof": ("challenge-invalid-dpop-proof", "the DPoP proof was rejected"),
}
_OAUTH_BODY_VERDICTS = {"access_denied": AUTHZ, "consent_required": AUTHZ,
                        "insufficient_scope": AUTHZ}
_OAUTH_NOT_FAILURES = frozenset({"authorization_pending", "slow_down"})

MESSAGE_HINTS = (
    ("audience", "the token was issued for another API (audience): request it for this "
                 "resource/scope"),
    ("expired", "the token has expired: refresh or re-acquire it"),
    ("issuer or signature", "the token's signature or issuer does not validate here: usually a "
                            "token for another API (e.g. a Graph token sent to SharePoint) or "
                            "another tenant"),
    ("signature", "the token's signature does not validate here (another issuer, tenant or API)"),
)

MASKING_404 = {
    "api.github.com": ("/repos/", "/orgs/", "/teams/", "/gists/", "/projects/", "/installation/"),
    "gitlab.com": ("/api/v4/projects/", "/api/v4/groups/"),
    "api.bitbucket.org": ("/2.0/repositories/", "/2.0/workspaces/"),
}
"""Host -> path prefixes of APIs that answer 404 for resources the caller may not see
(RFC 9110 §15.5.5). Presets may add hosts; anything else is never reported, to avoid calling
every typo an authorization problem."""

_CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "private-token", "api-key",
                                 "x-auth-token", "cookie"})


@dataclass(frozen=True)
class VendorError:
    """The API's own error report: the one shape for the body readers here and for the rules'
    ``[rule.errors]`` (``rules.checks.vendor_error``)."""

    vendor: str
    code: str
    message: str
    verdict: str | None = None
    """From a table; None: the code is not in one (verdict then follows the status)."""
    explanation: str = ""
    finding: str = "error-in-body"
    evidence: tuple = field(default=())
    where: str = ""
    """Where a rule read it (``body error``, ``header x-github-sso``); empty for the readers."""
    rule_code: Any = None
    """The rule's ``ErrorCode`` for this code (``rules.checks.vendor_error``), or None."""

    @property
    def known(self) -> bool:
        return self.verdict is not None


# ---- body decoding ---------------------------------------------------------------------------

def _decode(body: bytes) -> str | None:
    if not body or len(body) > MAX_BODY or b"\x00" in body[:512]:
        return None
    return body.decode("utf-8", "replace")


def _load_json(text: str) -> Any:
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def _load_form(text: str) -> dict | None:
    if "=" not in text or "{" in text[:1] or len(text) > 8192:
        return None
    try:
        pairs = parse_qsl(text.strip(), keep_blank_values=True, max_num_fields=64)
    except ValueError:
        return None
    return dict(pairs) if pairs and "error" in dict(pairs) else None


def _text(value: Any) -> str:
    """Vendor messages are strings, or ``{"lang":..,"value":..}`` (OData verbose)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return value["value"]
    return ""


def _hint(message: str) -> str:
    low = message.lower()
    return next((hint for key, hint in MESSAGE_HINTS if key in low), "")


def _endswith_host(host: str, *suffixes: str) -> bool:
    return any(host == s or host.endswith("." + s) for s in suffixes)


# ---- readers: (ctx, data, text) -> Optional[VendorError] ---------------------------------------

def _slack(ctx, data, text) -> VendorError | None:
    if not isinstance(data, dict) or data.get("ok") is not False:
        return None
    code = data.get("error")
    if not isinstance(code, str):
        return None
    verdict, explanation = SLACK.get(code, (None, ""))
    evidence = []
    if code == "missing_scope":
        for key in ("needed", "provided"):
            if isinstance(data.get(key), str):
                evidence.append((key, data[key]))
        if isinstance(data.get("needed"), str):
            explanation += f" (needs {data['needed']!r})"
    if code == "invalid_auth" and "token=" in ctx.request.query:
        explanation = ("the token was sent as ?token= in the URL: Slack apps created after "
                       "November 2020 must send it as 'Authorization: Bearer'")
    return VendorError("Slack", code, "", verdict, explanation, evidence=tuple(evidence))


def _oauth(ctx, data, text) -> VendorError | None:
    """RFC 6749 §5.2: ``{"error": "invalid_grant", "error_description": ...}`` (JSON or form)."""
    if not isinstance(data, dict):
        return None
    code = data.get("error")
    if not isinstance(code, str) or "ok" in data or code in _OAUTH_NOT_FAILURES:
        return None
    description = data.get("error_description")
    if not isinstance(description, str):  # {"error": "Unauthorized", "message": ...} (Auth0, hapi)
        description = _text(data.get("message")) or _text(data.get("detail"))
    mapped = OAUTH.get(code)
    if mapped is None:
        return VendorError("OAuth", code, description)
    finding, explanation = mapped
    verdict = _OAUTH_BODY_VERDICTS.get(code, AUTHN) if finding == "error-in-body" else (
        catalog.get(finding).verdict or UNKNOWN)
    vendor = "OAuth token endpoint" if finding.startswith("oauth-") else "OAuth"
    aad = _aadsts(description, data.get("error_codes"))
    if aad is not None:
        number, (aad_verdict, aad_explanation) = aad
        vendor = "Microsoft Entra ID"
        explanation = f"AADSTS{number}: {aad_explanation}"
        if aad_verdict != verdict:  # e.g. consent (AADSTS65001) arriving as invalid_grant
            finding, verdict = "error-in-body", aad_verdict
    return VendorError(vendor, code, description, verdict, explanation or "", finding,
                       (("error", code),))


_AADSTS = re.compile(r"AADSTS(\d{4,8})")


def _aadsts(text: str, codes: Any = None) -> tuple[int, tuple] | None:
    numbers = []
    if isinstance(codes, list):
        numbers = [c for c in codes[:8] if isinstance(c, int)]
    m = _AADSTS.search(text[:MAX_BODY]) if text else None
    if m:
        numbers.insert(0, int(m.group(1)))
    for number in numbers:
        if number in AADSTS:
            return number, AADSTS[number]
    if numbers:
        return numbers[0], (None, "see https://login.microsoftonline.com/error?code="
                                  f"{numbers[0]}")
    return None


def _microsoft_vendor(host: str) -> str:
    if host == "graph.microsoft.com":
        return "Microsoft Graph"
    if _endswith_host(host, "management.azure.com"):
        return "Azure Resource Manager"
    if _endswith_host(host, "dynamics.com"):
        return "Dataverse"
    if _endswith_host(host, "sharepoint.com"):
        return "SharePoint"
    if _endswith_host(host, "vault.azure.net"):
        return "Azure Key Vault"
    return "Microsoft/OData"


def _microsoft(ctx, data, text) -> VendorError | None:
    """Graph/ARM/Dataverse/Key Vault ``{"error":{"code","message"}}``, OData ``odata.error``."""
    if not isinstance(data, dict):
        return None
    err = data.get("error") if isinstance(data.get("error"), dict) else data.get("odata.error")
    if not isinstance(err, dict) or "status" in err or "type" in err:
        return None  # Google and Stripe share the envelope
    code = err.get("code")
    if not isinstance(code, str):
        return None
    message = _text(err.get("message"))
    inner = err.get("innererror") or err.get("innerError")
    lookup = [code, code.split(",")[0].strip()]
    if isinstance(inner, dict) and isinstance(inner.get("code"), str):
        lookup.insert(0, inner["code"])
    verdict, explanation = next((MICROSOFT[c] for c in lookup if c in MICROSOFT), (None, ""))
    hint = _hint(message) if verdict == AUTHN else ""
    if hint:
        explanation = hint
    return VendorError(_microsoft_vendor(ctx.request.host), code, message, verdict, explanation)


def _google(ctx, data, text) -> VendorError | None:
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    err = data["error"]
    status, details, errors = err.get("status"), err.get("details"), err.get("errors")
    if not isinstance(status, str) and not isinstance(errors, list):
        return None
    reasons = []
    for item in (details if isinstance(details, list) else [])[:8]:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.append(item["reason"])
    for item in (errors if isinstance(errors, list) else [])[:8]:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.append(item["reason"])
    if isinstance(status, str):
        reasons.append(status)
    message = _text(err.get("message"))
    for reason in reasons:
        if reason in GOOGLE:
            verdict, explanation = GOOGLE[reason]
            return VendorError("Google", reason, message, verdict, explanation)
    return VendorError("Google", reasons[0] if reasons else str(err.get("code", "")), message)


def _stripe(ctx, data, text) -> VendorError | None:
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    err = data["error"]
    kind = err.get("type")
    if not isinstance(kind, str):
        return None
    message = _text(err.get("message"))
    code = err.get("code") if isinstance(err.get("code"), str) else kind
    low = message.lower()
    for key in (code, kind):
        if key in STRIPE:
            verdict, explanation = STRIPE[key]
            return VendorError("Stripe", code, message, verdict, explanation)
    for key, (verdict, explanation) in STRIPE.items():
        if " " in key and key in low:
            return VendorError("Stripe", code, message, verdict, explanation)
    return VendorError("Stripe", code, message)


def _github(ctx, data, text) -> VendorError | None:
    host = ctx.request.host
    sso = ctx.response.header("x-github-sso")
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    doc = data.get("documentation_url")
    if not (host == "api.github.com" or host.endswith(".github.com") or sso
            or (isinstance(doc, str) and "github.com" in doc)):
        return None
    message = data["message"]
    low = message.lower()
    verdict, explanation = next(((v, e) for key, (v, e) in GITHUB.items() if low.startswith(key)),
                                (None, ""))
    evidence = []
    if sso and sso.lower().startswith("required"):
        url = sso.partition("url=")[2].strip()
        verdict = AUTHZ
        explanation = ("the token is not authorized for this organization's SAML SSO: open the "
                       "X-GitHub-SSO URL (valid for 1 hour) to authorize it")
        if url:
            evidence.append(("sso_url", url[:200]))
    gap = _scope_gap(ctx)
    if gap:
        evidence.append(("missing_scopes", gap))
        explanation = (explanation + "; " if explanation else "") + (
            f"the token lacks scope {' or '.join(gap)} (X-Accepted-OAuth-Scopes)")
    needed = ctx.response.header("x-accepted-github-permissions")
    if needed:
        evidence.append(("needed_permissions", needed))
    return VendorError("GitHub", message[:80], "", verdict, explanation, evidence=tuple(evidence))


def _aws(ctx, data, text) -> VendorError | None:
    error_type = ctx.response.header("x-amzn-errortype") or ""
    host = ctx.request.host
    if not (error_type or host.endswith(".amazonaws.com") or
            ctx.response.header("x-amzn-requestid")):
        return None
    message = ""
    if isinstance(data, dict):
        message = _text(data.get("message") or data.get("Message"))
    code = error_type.split(":")[0].strip()
    if not code and message:
        low = message.lower()
        code = next((c for key, c in _AWS_MESSAGES.items() if low.startswith(key)), "")
    if not code and not message:
        return None
    if code == "MissingAuthenticationTokenException" or message == "Missing Authentication Token":
        sent = _sent_credential(ctx)
        tail = ("a credential was sent, so the route itself does not exist" if sent else
                "unless this route uses IAM authorization and needs a SigV4 signature")
        return VendorError("AWS API Gateway", "MissingAuthenticationTokenException", message,
                           UNKNOWN, f"API Gateway has no such path/method/stage ({tail})",
                           "route-not-found")
    verdict, explanation = AWS.get(code, (None, ""))
    return VendorError("AWS", code or "error", message, verdict, explanation)


def _problem(ctx, data, text) -> VendorError | None:
    """RFC 9457 problem details."""
    if not isinstance(data, dict):
        return None
    ctype = (ctx.response.header("content-type") or "").lower()
    if "problem+json" not in ctype and not ("title" in data and ("type" in data or
                                                                 "detail" in data)):
        return None
    code = data.get("type") if isinstance(data.get("type"), str) else _text(data.get("title"))
    message = " ".join(x for x in (_text(data.get("title")), _text(data.get("detail"))) if x)
    return VendorError("Problem details (RFC 9457)", code or "about:blank", message)


def _bare_message(ctx, data, text) -> VendorError | None:
    """``{"error_description": ...}`` (SharePoint), ``{"message": ...}``, ``{"error": "..."}``."""
    if not isinstance(data, dict):
        return None
    for key in ("error_description", "message", "Message", "detail", "errorSummary",
                "errorMessage", "error_message", "error"):
        message = _text(data.get(key))
        if message:
            vendor = "SharePoint" if _endswith_host(ctx.request.host, "sharepoint.com") else \
                "the API"
            hint = _hint(message) if ctx.status in REFUSALS else ""  # a 404's words are no refusal
            return VendorError(vendor, key, message, AUTHN if hint else None, hint)
    return None


READERS: tuple[Callable[..., VendorError | None], ...] = (
    _slack, _oauth, _aws, _github, _stripe, _google, _microsoft, _problem, _bare_message,
)


# ---- headers that carry the reason -----------------------------------------------------------

_DIAG = re.compile(r'^\s*(\d+)\s*;\s*reason\s*=\s*"([^"]*)"')


def _sharepoint_diagnostics(ctx) -> VendorError | None:
    """SharePoint's ``x-ms-diagnostics: 3000003;reason="Invalid audience Uri '...'";...``."""
    value = ctx.response.header("x-ms-diagnostics")
    if not value:
        return None
    m = _DIAG.match(value[:2048])
    if not m:
        return None
    reason = m.group(2)
    hint = _hint(reason)
    return VendorError("SharePoint", m.group(1), reason, AUTHN if hint else None,
                       hint or "see the x-ms-diagnostics reason",
                       evidence=(("x-ms-diagnostics", value[:200]),))


# ---- the entry point -------------------------------------------------------------------------

def _maybe_error_body(ctx) -> bool:
    """Cheap gate: a 2xx/3xx is read only when it looks like Slack's ok:false or a token
    endpoint's error (GitHub answers 200 ``error=bad_verification_code``)."""
    status = ctx.status
    if status is None or status >= 500 or status < 200:
        return False
    if status >= 400:
        return True
    return may_be_error(ctx.response.body)


def may_be_error(body: bytes) -> bool:
    """Whether a 2xx/3xx body may be an error report (also the adapter's cheap gate)."""
    if not body or len(body) > MAX_BODY:
        return False
    # find() with bounds, not slices and ``in``: this runs on every small 2xx body (half the cost)
    return (body.find(b'"ok"', 0, 200) >= 0 or body.startswith(b"error=")
            or body.find(b'"error"', 0, 32) >= 0)


def read_error(ctx) -> VendorError | None:
    """The vendor error the response carries, or None. Never raises."""
    if ctx.response is None or not _maybe_error_body(ctx):
        return None
    try:
        found = _read(ctx)
    except Exception:  # pragma: no cover - a reader bug must not break the flow
        return None
    if found is None:
        return None
    if ctx.status in REFUSALS or found.known:
        return found
    return None


def _read(ctx) -> VendorError | None:
    diag = _sharepoint_diagnostics(ctx) if ctx.status in REFUSALS else None
    if diag is not None and diag.known:
        return diag
    text = _decode(ctx.response.body)
    if text is None:
        return diag
    data = _load_json(text)
    if data is None:
        data = _load_form(text)
    if data is not None:
        readers = READERS
        if ctx.status < 400:  # Slack's ok:false, or a token endpoint's error on a POST
            readers = (_slack, _oauth) if ctx.request.method.upper() == "POST" else (_slack,)
        for reader in readers:
            found = reader(ctx, data, text)
            if found is not None:
                return found
    if ctx.status in REFUSALS:
        aad = _aadsts(text)
        if aad is not None:
            number, (verdict, explanation) = aad
            return VendorError("Microsoft Entra ID", f"AADSTS{number}", "", verdict, explanation)
        if data is None:
            github = _github(ctx, {"message": ""}, text) if ctx.response.header(
                "x-github-sso") else None
            if github is not None:
                return github
    return diag


# ---- findings --------------------------------------------------------------------------------

def _scrub(ctx, text: str) -> str:
    """No secret in a message: the request's own credentials and anything token-shaped."""
    text = " ".join(text.split())
    for cred in ctx.credentials:
        value = getattr(cred, "value", "")
        if value and len(value) >= 8 and value in text:
            text = text.replace(value, redact(value, ctx.settings.reveal))
    if not ctx.settings.reveal:
        text = redact_token_shaped(text)
    if len(text) > MAX_TEXT_SHOWN:
        text = text[: MAX_TEXT_SHOWN - 1] + "…"
    return text


def _default_verdict(status: int | None) -> str:
    return AUTHZ if status == 403 else AUTHN


@on_failure
def check_error_body(ctx) -> Iterator[Finding]:
    error = ctx.error_body
    if error is None:
        return
    verdict = error.verdict or _default_verdict(ctx.status)
    message = _scrub(ctx, error.message) if error.message else ""
    if error.finding == "error-in-body":
        text = f"{error.vendor} error {error.code!r}"
        if message:
            text += f": {message!r}"
    else:
        text = f"{error.vendor}: {error.code}"
        if message:
            text += f" ({message})"
    if error.explanation:
        text += f" — {error.explanation}"
    text += "."
    evidence = [("vendor", error.vendor), ("code", error.code)]
    if message:
        evidence.append(("message", message))
    evidence.extend(error.evidence)
    override = verdict if verdict != catalog.get(error.finding).verdict else None
    if error.finding.startswith("challenge-"):  # the challenge check says it too: once per flow
        evidence.append(STATEMENT)
    yield Finding(error.finding, text, tuple(evidence), override)


# ---- 404 that hides a refusal ----------------------------------------------------------------

def _sent_credential(ctx) -> bool:
    if ctx.credentials:
        return True
    return any(key.lower() in _CREDENTIAL_HEADERS for key, _ in ctx.request.headers)


def _scope_gap(ctx) -> list:
    """Scopes the endpoint accepts (any one suffices) when the token has none of them."""
    accepted = ctx.response.header("x-accepted-oauth-scopes")
    have = ctx.response.header("x-oauth-scopes")
    if not accepted or have is None:
        return []
    return scopes.missing(scopes.split(accepted), scopes.split(have), any_of=True)[:16]


@on_failure
def check_hidden_404(ctx) -> Iterator[Finding]:
    if ctx.status != 404 or not _sent_credential(ctx):
        return
    gap = _scope_gap(ctx)
    host, path = ctx.request.host, ctx.request.path
    prefixes = MASKING_404.get(host, ())
    masked = any(path.startswith(p) for p in prefixes)
    if not gap and not masked:
        return
    if gap:
        text = (f"404 with a credential, and the token lacks scope {' or '.join(gap)} "
                f"(X-Accepted-OAuth-Scopes vs X-OAuth-Scopes): the resource probably exists but "
                f"is hidden from this token.")
    else:
        text = (f"404 with a credential from {host}, which answers 404 for resources the caller "
                f"may not see: check the token's access to this resource before the path.")
    evidence = (("host", host),) + ((("missing_scopes", gap),) if gap else ())
    yield Finding("status-hidden-404", text, evidence)


CHECKS = (check_error_body, check_hidden_404)
