"""Error reports in responses: read the API's own error code and say what it means.

The standard shapes are read here: RFC 6749 §5.2 token endpoint errors (``{"error": ...}``, JSON
or form), RFC 9457 problem details, Entra ID's ``AADSTS`` numbers in any text, a bare message.
What each vendor's codes mean is data: the presets' ``[rule.errors]`` tables, read once
(``PRESET_ERRORS``) whether or not the presets are in force as rules, through the one reader the
rules use (``read_spec``). The preset of the host called reads its body; presets marked
``anywhere`` name their known codes on any host. Unknown codes on a 401/403/407 still produce
``error-in-body`` (verdict by status); on any other status only known codes do, so a 400
validation error is never mistaken for a refusal.

Never raises: bodies are read up to ``MAX_BODY`` bytes, decoded leniently, and a body that is
binary, huge, truncated, deeply nested or not JSON simply yields nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from . import catalog, scopes
from .caching import Memo, once
from .catalog import AUTHN, AUTHZ, UNKNOWN
from .model import STATEMENT, Finding, ResponseView, on_failure
from .secrecy import redact, redact_token_shaped, redact_url

log = logging.getLogger("authlens")

MAX_BODY = 64 * 1024
"""Bytes of a body that are read; error bodies are small, a bigger one is not an error body."""
MAX_TEXT_SHOWN = 300

REFUSALS = (401, 403, 407)
VERDICTS = {"authentication": AUTHN, "authorization": AUTHZ, "other": UNKNOWN}
"""A rule's verdict word -> the one Verdict enum (rules say ``other`` for neither)."""

# ---- the standard shapes: RFC 6749 §5.2 codes, RFC 9457, a bare message ----------------------

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
    """The API's own error report: the one shape for the standard readers here and for every
    ``[rule.errors]`` table, the presets' and the user's (``read_spec``)."""

    vendor: str
    code: str
    message: str
    verdict: str | None = None
    """From a table; None: the code is not in one (verdict then follows the status)."""
    explanation: str = ""
    finding: str = "error-in-body"
    evidence: tuple = field(default=())
    where: str = ""
    """Where a table's reading found it (``body error``, ``header x-github-sso``); empty for the
    standard shapes."""
    rule_code: Any = None
    """The table's ``ErrorCode`` for this code (``read_spec``), or None."""

    @property
    def known(self) -> bool:
        return self.verdict is not None

    @property
    def named(self) -> str:
        """The catalog id the API's code names (its table's ``finding``), or empty."""
        return self.rule_code.finding if self.rule_code is not None else ""


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


# ---- the standard shapes: (ctx, data, text) -> VendorError | None ----------------------------

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
    known = PRESET_ERRORS.aadsts
    for number in numbers:
        if number in known:
            return number, (VERDICTS[known[number].verdict], known[number].meaning)
    if numbers:
        return numbers[0], (None, "see https://login.microsoftonline.com/error?code="
                                  f"{numbers[0]}")
    return None


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


# ---- vendors' codes: the presets' [rule.errors] tables, as data -----------------------------

class PresetErrors:
    """The presets' error tables, loaded on first use and kept (a preset that does not load is
    skipped, with a warning: never an error-level log)."""

    @once
    def rules(self) -> tuple:
        from .rules.loader import load_presets
        found: list = []
        for loaded in load_presets():
            for problem in loaded.errors:
                log.warning("authlens: preset not loaded: %s", problem)
            found.extend(rule for rule in loaded.rules if rule.errors is not None)
        return tuple(found)

    @once
    def ruleset(self):
        """The presets that read errors, by host (``RuleSet.match``)."""
        from .rules.matcher import RuleSet
        return RuleSet(self.rules)

    @once
    def anywhere(self) -> tuple:
        return tuple(rule for rule in self.rules if rule.errors.anywhere)

    @once
    def headers(self) -> frozenset[str]:
        """The code headers the ``anywhere`` presets read: on a success too, the cheap gates
        (``may_be_error_header``, the adapter's) must let a response with one through."""
        return frozenset(h.lower() for rule in self.anywhere for h in rule.errors.code_headers)

    @once
    def anywhere_codes(self) -> re.Pattern:
        """A pre-test on the raw body: one of the ``anywhere`` presets' codes, or a backslash
        (a JSON escape may hide one). Without a match, no such preset can name a code."""
        codes = sorted({code for rule in self.anywhere for code in rule.errors.codes}, key=len,
                       reverse=True)
        return re.compile(b"|".join([rb"\\", *(re.escape(c.encode()) for c in codes)]))

    @once
    def read_headers(self) -> frozenset[str]:
        """Every response header an error reader looks at, in lower case."""
        names = {"content-type"}
        for rule in self.rules:
            names.update(h.lower() for h in (*rule.errors.code_headers,
                                             *rule.errors.detail_headers))
        return frozenset(names)

    @once
    def _indexes(self) -> dict[int, int]:
        return {id(rule): i for i, rule in enumerate(self.rules)}

    def index_of(self, rule) -> int:
        """The place of one of ``rules`` in it (-1 for None): rules hold dicts, so are no keys."""
        return -1 if rule is None else self._indexes[id(rule)]

    @once
    def aadsts(self) -> dict:
        """Entra ID's AADSTS numbers -> their ``ErrorCode``, from its token endpoint's preset."""
        rule = self.ruleset.match("login.microsoftonline.com")
        codes = rule.errors.codes if rule is not None else {}
        return {int(code): known for code, known in codes.items() if code.isdigit()}


PRESET_ERRORS = PresetErrors()


def field_values(data: Any, dotted: str) -> list:
    """The values at a dotted path: a digit picks one item of a list, ``*`` each item (the first
    8), and a name may itself hold a dot (``odata.error.code``)."""
    node = data
    for part in dotted.split("."):  # the usual path: names of nested objects
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    else:
        return [node]
    if "*" in dotted or (isinstance(node, dict) and any("." in k for k in node)):
        return _walk_values(data, dotted.split("."))  # a list to spread, a name with a dot
    return []


def _walk_values(data: Any, parts: list[str]) -> list:
    found: list = []

    def walk(node: Any, i: int) -> None:
        if i == len(parts):
            found.append(node)
        elif isinstance(node, list):
            part = parts[i]
            if part == "*":
                for item in node[:8]:
                    walk(item, i + 1)
            elif part.isdigit() and int(part) < len(node):
                walk(node[int(part)], i + 1)
        elif isinstance(node, dict):
            for j in range(len(parts), i, -1):  # the longest name first: "odata.error"
                name = parts[i] if j == i + 1 else ".".join(parts[i:j])
                if name in node:
                    walk(node[name], j)
                    return

    walk(data, 0)
    return found


def first_value(data: Any, dotted: str) -> Any:
    values = field_values(data, dotted) if dotted else ()
    return values[0] if values else None


_HEADER_PARAM = re.compile(r';\s*([A-Za-z][\w-]*)\s*=\s*(?:"([^"]*)"|([^;]*))')


def _header_details(value: str, reveal: bool) -> tuple:
    """``code; url=...; reason="..."`` -> ((url, ...), (reason, ...)), URLs redacted."""
    out = []
    for m in _HEADER_PARAM.finditer(value[:2048]):
        text = (m.group(2) if m.group(2) is not None else m.group(3)).strip()
        if "://" in text:
            text = redact_url(text, reveal)
        out.append((m.group(1).lower(), text[:300]))
    return tuple(out)


def _shown_header(value: str, reveal: bool) -> str:
    """A header value as a message: the URLs in its parameters redacted."""
    if reveal or "://" not in value:
        return value

    def shown(m: re.Match) -> str:
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        return m.group(0).replace(raw, redact_url(raw.strip())) if "://" in raw else m.group(0)

    return _HEADER_PARAM.sub(shown, value)


def read_spec(rule, response, data: Any, body: bool = True, phrases: bool = True,
              reveal: bool = False) -> VendorError | None:
    """The API's error report as ``rule.errors`` says to read it: its code headers, then its
    code fields, the first known code winning; then (``phrases``) a message holding a code's
    phrase; else the first code read, unknown. The rules and the body readers both use it."""
    spec = rule.errors
    found: list[tuple[str, str, str, tuple]] = []
    for name in spec.code_headers:
        value = response.header(name)
        if value:
            code = value.split(";", 1)[0].split(":", 1)[0].strip()
            found.append((code, _shown_header(value, reveal), f"header {name}",
                          _header_details(value, reveal)))
    message = ""
    if body and data is not None:
        message = _text(first_value(data, spec.message_field))
        for name in spec.code_fields:
            for value in field_values(data, name):
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    beside = message or _text(first_value(data, name.rpartition(".")[0] + ".message")
                                              if "." in name else None)
                    found.append((str(value), beside, f"body {name}", ()))
    details = _details(spec, response, data if body else None)
    for code, said, where, more in found:
        known = spec.codes.get(code)
        if known is not None:
            return _rule_error(rule, code, said, where, known, more + details)
    if phrases and message and spec.phrases:
        low = message.lower()
        for phrase, code in spec.phrases:
            if phrase in low:
                return _rule_error(rule, code, message, f"body {spec.message_field}",
                                   spec.codes[code], details)
    if found:
        code, said, where, more = found[0]
        return _rule_error(rule, code, said, where, None, more + details)
    if body and spec.ok_field and first_value(data, spec.ok_field) is False:
        return _rule_error(rule, "", "", f"body {spec.ok_field}", None, details)
    return None


def _details(spec, response, data: Any) -> tuple:
    out = []
    for name in spec.detail_fields:
        value = first_value(data, name) if data is not None else None
        if isinstance(value, str) and value:
            out.append((name.rpartition(".")[2], value[:200]))
    for name in spec.detail_headers:
        value = response.header(name)
        if value:
            out.append((name.lower(), value[:200]))
    return tuple(out)


def _rule_error(rule, code: str, message: str, where: str, known, details: tuple) -> VendorError:
    if known is None:
        return VendorError(rule.name, code, message, where=where, finding="vendor-error",
                           evidence=details)
    return VendorError(rule.name, code, message, VERDICTS[known.verdict], known.meaning,
                       known.finding or "vendor-error", details, where, known)


def _as_body_error(error: VendorError) -> VendorError:
    """A preset's reading as the body readers report it: ``error-in-body`` (the server's
    statement then names the code's own finding), or the code's finding itself when that one
    never explains a refusal by itself (``route-not-found``, a warning)."""
    named = error.named
    direct = bool(named) and catalog.get(named).verdict is None
    return replace(error, finding=named if direct else "error-in-body")


def _preset_error(ctx, rule, data: Any, phrases: bool) -> VendorError | None:
    """What the preset ``rule`` reads in the response: the body only where the status may carry
    an error report for it (on a success: a status its ``statuses`` names), headers always."""
    spec, status = rule.errors, ctx.status
    if spec.statuses and status not in spec.statuses and status >= 400:
        return None
    body = (status >= 400 or status in spec.statuses) and data is not None
    test = spec.body_test if body else None
    if test is not None and ctx.response.body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        body = test.search(ctx.response.body) is not None  # else no field it reads is there
    if not body and not any(ctx.response.header(name) is not None for name in spec.code_headers):
        return None
    found = read_spec(rule, ctx.response, data, body, phrases, ctx.settings.reveal)
    return _as_body_error(found) if found is not None else None


def _vendor(ctx, data: Any) -> VendorError | None:
    """The preset of the host called (``ctx.own``: any code it reads), else a known code of an
    ``anywhere`` preset, else the host preset's unknown code."""
    presets = PRESET_ERRORS
    own = ctx.own
    unknown = None
    if own is not None:
        found = _preset_error(ctx, own, data, phrases=True)
        if found is not None and found.known:
            return found
        unknown = found
    if (data is None or presets.anywhere_codes.search(ctx.response.body) is None) and not \
            may_be_error_header(ctx.response):
        return unknown  # no code any of them knows is in a body read or in a header
    for rule in presets.anywhere:
        if rule is not own:
            found = _preset_error(ctx, rule, data, phrases=False)
            if found is not None and found.known:
                return found
    return unknown


# ---- the entry point -------------------------------------------------------------------------

def _maybe_error_body(ctx) -> bool:
    """Cheap gate: a 2xx/3xx is read only when it looks like Slack's ok:false or a token
    endpoint's error (GitHub answers 200 ``error=bad_verification_code``), or carries a code
    header a preset reads anywhere (GitHub's ``X-GitHub-SSO`` on a 200)."""
    status = ctx.status
    if status is None or status >= 500 or status < 200:
        return False
    if status >= 400:
        return True
    return may_be_error(ctx.response.body) or may_be_error_header(ctx.response)


def may_be_error(body: bytes) -> bool:
    """Whether a 2xx/3xx body may be an error report (also the adapter's cheap gate)."""
    if not body or len(body) > MAX_BODY:
        return False
    # find() with bounds, not slices and ``in``: this runs on every small 2xx body (half the cost)
    return (body.find(b'"ok"', 0, 200) >= 0 or body.startswith(b"error=")
            or body.find(b'"error"', 0, 32) >= 0)


def may_be_error_header(response) -> bool:
    """Whether a response carries a code header an ``anywhere`` preset reads."""
    for name in PRESET_ERRORS.headers:
        if response.header(name) is not None:
            return True
    return False


def read_error(ctx) -> VendorError | None:
    """The vendor error the response carries, or None. Never raises. Remembered by all it reads
    (``_Reading``): the same refusal, from the same API, is read once."""
    response = ctx.response
    if response is None or not _maybe_error_body(ctx):
        return None
    request = ctx.request
    own = PRESET_ERRORS.ruleset.match(request.host, request.path, request.method, request.port)
    read = PRESET_ERRORS.read_headers
    headers = tuple((k.lower(), v) for k, v in response.headers if k.lower() in read)
    return _READINGS[PRESET_ERRORS.index_of(own), request.host, request.method, ctx.status,
                     headers, response.body, ctx.settings.reveal]


class _Reading:
    """All the error readers look at, and nothing else: the host's own preset (``own``), the
    host and method, the status, the headers they read, the body and the reveal setting."""

    def __init__(self, own: int, host: str, method: str, status: int, headers: tuple,
                 body: bytes, reveal: bool):
        self.own = PRESET_ERRORS.rules[own] if own >= 0 else None
        self.request = _Called(host, method)
        self.status = status
        self.response = ResponseView(status, headers, body)
        self.settings = _Reveal(reveal)


class _Called(NamedTuple):
    host: str
    method: str


class _Reveal(NamedTuple):
    reveal: bool


def _read_error(*reading) -> VendorError | None:
    ctx = _Reading(*reading)
    try:
        found = _read(ctx)
    except Exception:  # pragma: no cover - a reader bug must not break the flow
        log.debug("authlens: error body not read", exc_info=True)
        return None
    if found is None:
        return None
    if ctx.status in REFUSALS or found.known:
        return found
    return None


_READINGS = Memo(_read_error, 1024, 16 * 1024)
"""``_read_error`` of a reading (a VendorError is frozen, so sharing it is safe)."""


def _read(ctx) -> VendorError | None:
    text = _decode(ctx.response.body)
    data = None
    if text is not None:
        data = _load_json(text)
        if data is None:
            data = _load_form(text)
    status = ctx.status
    if data is not None and (status >= 400 or ctx.request.method.upper() == "POST"):
        found = _oauth(ctx, data, text)  # a token endpoint's error, on a POST's 200 too
        if found is not None:
            return found
    found = _vendor(ctx, data)
    if found is not None:
        return found
    if data is not None and status >= 400:
        for reader in (_problem, _bare_message):
            found = reader(ctx, data, text)
            if found is not None:
                return found
    if status in REFUSALS and text:
        aad = _aadsts(text)
        if aad is not None:
            number, (verdict, explanation) = aad
            return VendorError("Microsoft Entra ID", f"AADSTS{number}", "", verdict, explanation)
    return None


# ---- findings --------------------------------------------------------------------------------

def _scrub(ctx, text: str) -> str:
    """No secret in a message: the request's own credentials and anything token-shaped."""
    values = tuple(value for value in (getattr(c, "value", "") for c in ctx.credentials)
                   if value and len(value) >= 8)
    return _SCRUBBED[text, values, ctx.settings.reveal]


def _scrubbed(text: str, values: tuple[str, ...], reveal: bool) -> str:
    text = " ".join(text.split())
    for value in values:
        if value in text:
            text = text.replace(value, redact(value, reveal))
    if not reveal:
        text = redact_token_shaped(text)
    if len(text) > MAX_TEXT_SHOWN:
        text = text[: MAX_TEXT_SHOWN - 1] + "…"
    return text


_SCRUBBED = Memo(_scrubbed, 512, 8 * 1024)
"""``_scrubbed`` of (message, the request's credential values, reveal): a server repeats its
words to a client that repeats its credentials."""


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
        text += f" — {error.explanation.rstrip('.')}"
    details = [(k, _scrub(ctx, v)) for k, v in error.evidence if isinstance(v, str)]
    if details:
        text += " (" + ", ".join(f"{k} {v!r}" for k, v in details) + ")"
    if error.finding == "route-not-found":
        text += ("; a credential was sent, so the route itself does not exist" if
                 _sent_credential(ctx) else "")
    text += "."
    evidence = [("vendor", error.vendor), ("code", error.code)]
    if message:
        evidence.append(("message", message))
    evidence.extend(details)
    entry = catalog.get(error.finding)
    override = verdict if verdict != entry.verdict and entry.severity == "error" else None
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
