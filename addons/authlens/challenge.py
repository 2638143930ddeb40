"""WWW-Authenticate / Proxy-Authenticate parsing and the response-side checks.

Why a hand-written parser: werkzeug (``parse_www_authenticate_header``) and requests read *one*
challenge and silently drop what they do not understand (a second challenge, a token68, a value
with a stray ``/``, an unterminated quote). authlens must see every challenge the server offered
and say where the header stops following RFC 9110, so this is a small scanner over the grammar::

    WWW-Authenticate = #challenge                                  ; RFC 9110 §11.6.1, §5.6.1
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]      ; §11.3
    auth-param       = token BWS "=" BWS ( token / quoted-string )          ; §11.2
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    quoted-string    = DQUOTE *( qdtext / quoted-pair ) DQUOTE              ; §5.6.4

It is linear: every character is consumed once, with only anchored, non-nested regexes
(``match`` at a position, no backtracking), and the input, challenges, parameters and error list
are capped so a 1 MB header costs a few milliseconds.

Tolerated (parsed, not reported): empty list elements, no space after commas, obs-fold line
breaks, any case in scheme and parameter names, unquoted values that are not tokens but clearly
end at a comma (Azure/Dataverse ``authorization_uri=https://...``). Reported as
``challenge-malformed`` with the position: a parameter before any scheme, a name without ``=``,
an unterminated quoted-string, characters that cannot start an element, a missing comma,
duplicate parameters.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .caching import Memo
from .model import Finding, ResponseView, on_failure

CHALLENGE_HEADERS = ("www-authenticate", "proxy-authenticate")

MAX_INPUT = 64 * 1024
"""Characters of one header value that are parsed; the rest is reported, not read."""
MAX_CHALLENGES = 32
MAX_PARAMS = 64
MAX_ERRORS = 16

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = re.compile(r"(?:[ \t]|\r?\n[ \t]|\r?\n)*")  # obs-fold and stray line breaks as space
_QDTEXT = re.compile(r'[^"\\]*')
_SLOPPY = re.compile(r'[^,\s"]+')  # an unquoted value that is not a token: up to , or space


_SHOWN_NAMES = {"www-authenticate": "WWW-Authenticate", "proxy-authenticate": "Proxy-Authenticate"}


class ParseError(str):
    """An error message (a ``str``) that also carries where it happened."""

    header: str
    position: int

    def __new__(cls, header: str, index: int, position: int, what: str) -> ParseError:
        where = _SHOWN_NAMES.get(header, header) + (f" #{index + 1}" if index else "")
        self = super().__new__(cls, f"{where}, position {position}: {what}")
        self.header = header
        self.position = position
        return self


@dataclass(frozen=True)
class Challenge:
    """One challenge; frozen, with read-only params once parsed (parses are shared by flows)."""

    scheme: str
    """As sent; compare with ``name`` (lower case)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Parameter names lower-cased; values unquoted and unescaped."""
    token68: str | None = None
    header: str = "www-authenticate"

    @property
    def name(self) -> str:
        return self.scheme.lower()

    def get(self, param: str) -> str | None:
        return self.params.get(param)

    def to_dict(self) -> dict:
        out = {"scheme": self.scheme, "params": dict(self.params), "header": self.header}
        if self.token68 is not None:
            out["token68"] = self.token68
        return out


@dataclass(frozen=True)
class ParsedChallenges:
    """The challenges of a response and the parse errors. Built with lists; ``frozen()`` is the
    read-only copy the shared parses (``PARSED_LINES``) hold."""

    challenges: Any = field(default_factory=list)
    """A list while parsing, a tuple once frozen."""
    errors: Any = field(default_factory=list)

    def frozen(self) -> ParsedChallenges:
        return ParsedChallenges(
            tuple(dataclasses.replace(c, params=MappingProxyType(dict(c.params)))
                  for c in self.challenges), tuple(self.errors))

    def __bool__(self) -> bool:
        return bool(self.challenges or self.errors)

    def in_header(self, header: str) -> list:
        return [c for c in self.challenges if c.header == header]


def _quote(ch: str) -> str:
    return repr(ch) if ch else "end of header"


class _Parser:
    """One header value. ``parse()`` appends to ``out``; never raises."""

    def __init__(self, value: str, header: str, index: int, out: ParsedChallenges):
        self.header, self.index, self.out = header, index, out
        if len(value) > MAX_INPUT:
            self.s = value[:MAX_INPUT]
            self.error(MAX_INPUT, f"header is {len(value)} characters long; only the first "
                                  f"{MAX_INPUT} were read")
        else:
            self.s = value
        self.n = len(self.s)
        self.count = 0

    def error(self, pos: int, what: str) -> None:
        if len(self.out.errors) < MAX_ERRORS:
            self.out.errors.append(ParseError(self.header, self.index, pos, what))

    def ows(self, i: int) -> int:
        return _OWS.match(self.s, i).end()  # type: ignore[union-attr]  # matches empty

    def parse(self) -> None:
        s, n = self.s, self.n
        current: Challenge | None = None
        after_scheme = False  # the first auth-param follows its scheme without a comma
        i = 0
        while True:
            # skip whitespace and empty list elements (",  ,")
            comma = False
            while True:
                i = self.ows(i)
                if i < n and s[i] == ",":
                    i += 1
                    comma = True
                    continue
                break
            if i >= n:
                return
            m = _TOKEN.match(s, i)
            if m is None:
                self.error(i, f"expected an auth-scheme or auth-param, found {_quote(s[i])}")
                i = self._skip_element(i)
                after_scheme = False
                continue
            name, j = m.group(), m.end()
            k = self.ows(j)
            if k < n and s[k] == "=" and not self._token68_ahead(i):
                if current is None:
                    self.error(i, f"parameter {name!r} before any auth-scheme")
                elif not comma and not after_scheme:
                    self.error(i, f"expected ',' before parameter {name!r}")
                after_scheme = False
                i = self._param(current, name, i, k + 1)
                continue
            # a new challenge
            if current is not None and not comma:
                self.error(i, f"expected ',' before the next challenge {name!r}")
            if self.count >= MAX_CHALLENGES:
                self.error(i, f"more than {MAX_CHALLENGES} challenges; the rest was not read")
                return
            current = Challenge(name, {}, header=self.header)
            self.out.challenges.append(current)
            self.count += 1
            after_scheme = False
            if k >= n or s[k] == ",":
                i = k
                continue
            if k == j:  # e.g. 'Bearer"x"' or 'Basic(realm)'
                self.error(j, f"expected a space after auth-scheme {name!r}, found {_quote(s[j])}")
                i = self._skip_element(j)
                continue
            t = _TOKEN68.match(s, k)
            if t is not None:
                after = self.ows(t.end())
                if after >= n or s[after] == ",":
                    current = dataclasses.replace(current, token68=t.group())
                    self.out.challenges[-1] = current
                    i = after
                    continue
            after_scheme = True
            i = k  # auth-params follow

    def _token68_ahead(self, i: int) -> bool:
        """``abc==`` or ``abc=,``: a token68 ending in '=' rather than ``name=value``."""
        t = _TOKEN68.match(self.s, i)
        if t is None or not t.group().endswith("="):
            return False
        after = self.ows(t.end())
        return after >= self.n or self.s[after] == ","

    def _param(self, challenge: Challenge | None, name: str, start: int, i: int) -> int:
        s, n = self.s, self.n
        i = self.ows(i)
        value: str | None
        if i < n and s[i] == '"':
            value, i = self._quoted(i)
            if value is None:
                return n
        else:
            m = _TOKEN.match(s, i)
            end = m.end() if m else i
            sloppy = _SLOPPY.match(s, i)
            if sloppy is not None and sloppy.end() > end:
                end = sloppy.end()  # tolerated: authorization_uri=https://login...
            if end == i:
                self.error(i, f"expected a value for parameter {name!r}, "
                              f"found {_quote(s[i:i + 1])}")
            value = s[i:end]
            i = end
        key = name.lower()
        if challenge is not None:
            if key in challenge.params:
                self.error(start, f"parameter {key!r} repeated in the {challenge.scheme} "
                                  f"challenge; the first value is kept")
            elif len(challenge.params) >= MAX_PARAMS:
                self.error(start, f"more than {MAX_PARAMS} parameters; {key!r} ignored")
            else:
                challenge.params[key] = value  # type: ignore[index]  # a dict while parsing
        i = self.ows(i)
        if i < n and s[i] != "," and _TOKEN.match(s, i) is None:
            self.error(i, f"expected ',' after the value of {name!r}, found {_quote(s[i])}")
            return self._skip_element(i)
        return i

    def _quoted(self, i: int) -> tuple[str | None, int]:
        """Parse a quoted-string at ``s[i] == '"'``; returns (value or None, end)."""
        s, n = self.s, self.n
        start = i
        i += 1
        parts = []
        while True:
            m = _QDTEXT.match(s, i)
            assert m is not None  # the pattern matches empty
            parts.append(m.group())
            i = m.end()
            if i >= n:
                self.error(start, "quoted-string is never closed")
                return None, n
            if s[i] == '"':
                return "".join(parts), i + 1
            # backslash: quoted-pair
            if i + 1 >= n:
                self.error(i, "quoted-string ends in a lone backslash")
                return None, n
            parts.append(s[i + 1])
            i += 2

    def _skip_element(self, i: int) -> int:
        """Recover: jump to the next comma (the main loop consumes it as a list separator)."""
        j = self.s.find(",", i)
        return self.n if j < 0 else j


def parse_challenge_header(value: str, header: str = "www-authenticate", index: int = 0,
                           out: ParsedChallenges | None = None) -> ParsedChallenges:
    """Parse one header line's value (all the challenges in it)."""
    out = out if out is not None else ParsedChallenges()
    try:
        _Parser(value, header, index, out).parse()
    except Exception as exc:  # pragma: no cover - defensive: a parser bug must not kill a flow
        out.errors.append(ParseError(header, index, 0, f"internal parser error: {exc!r}"))
    return out


def parse_challenges(values: Iterable[str], header: str = "www-authenticate") -> ParsedChallenges:
    """Parse several header lines of the same field (as if joined with commas, RFC 9110 §5.3)."""
    out = ParsedChallenges()
    for index, value in enumerate(values):
        parse_challenge_header(value, header, index, out)
    return out


def parse_response_challenges(response: ResponseView | None) -> ParsedChallenges:
    """Every challenge in a response's WWW-Authenticate and Proxy-Authenticate lines.

    Shared, do not modify: servers send the same challenge lines over and over, so the result is
    remembered by those lines (``PARSED_LINES``)."""
    if response is None:
        return _NONE
    lines: tuple[str, ...] = ()
    for key, value in response.headers:
        lower = key.lower()
        if lower in CHALLENGE_HEADERS:
            lines += (lower, value)
    return PARSED_LINES[lines] if lines else _NONE


def _parse_lines(*lines: str) -> ParsedChallenges:
    """The challenges in ``lines``: header name, value, header name, value..."""
    out = ParsedChallenges()
    counters: dict[str, int] = {}
    for header, value in zip(lines[::2], lines[1::2], strict=False):
        index = counters.get(header, 0)
        counters[header] = index + 1
        parse_challenge_header(value, header, index, out)
    return out.frozen()


_NONE = ParsedChallenges((), ())
PARSED_LINES = Memo(_parse_lines, 256, 4096)
"""``parse_response_challenges`` by the challenge lines, when they total at most 4096 characters
(a megabyte at most, whatever servers send)."""


# ---- response checks --------------------------------------------------------------------------

# RFC 6750 §3.1, RFC 9470 §3, RFC 9449 §7.1/§9: the status each error code belongs on.
_ERROR_STATUS = {
    "invalid_request": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "insufficient_user_authentication": 401,
    "insufficient_claims": 401,
    "use_dpop_nonce": 401,
    "invalid_dpop_proof": 401,
}

_ERROR_FINDINGS = {
    "invalid_token": "challenge-invalid-token",
    "insufficient_scope": "challenge-insufficient-scope",
    "invalid_request": "challenge-invalid-request",
    "insufficient_claims": "challenge-claims-required",
    "insufficient_user_authentication": "challenge-step-up-required",
    "use_dpop_nonce": "challenge-dpop-nonce",
    "invalid_dpop_proof": "challenge-invalid-dpop-proof",
}

_MAX_SHOWN = 300


def _clip(text: str, limit: int = _MAX_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_of(challenge: Challenge) -> str | None:
    error = challenge.params.get("error")
    return error.strip().lower() if error else None


def _decode_claims(claims: str) -> str | None:
    """CAE/Conditional Access ``claims`` is base64 of a JSON claims request (or the JSON itself)."""
    text = claims.strip()
    if not text.startswith("{") and len(text) <= 8192:
        try:
            text = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_").decode("utf-8")
        except (binascii.Error, ValueError):
            try:
                text = base64.b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                return None
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except (ValueError, RecursionError):
        return None


def _describe_error(challenge: Challenge, error: str) -> tuple[str, tuple]:
    params = challenge.params
    evidence: list = [("scheme", challenge.scheme), ("error", error)]
    desc = params.get("error_description")
    tail = f" ({_clip(desc)})" if desc else ""
    if desc:
        evidence.append(("error_description", _clip(desc)))
    if error == "insufficient_scope":
        scope = params.get("scope")
        if scope:
            evidence.append(("required_scope", scope.split()))
            return (f"The {challenge.scheme} challenge says insufficient_scope; the operation needs "
                    f"scope {_clip(scope, 200)!r}{tail}.", tuple(evidence))
        return (f"The {challenge.scheme} challenge says insufficient_scope, without naming the "
                f"scope needed{tail}.", tuple(evidence))
    if error == "insufficient_claims":
        claims = params.get("claims")
        decoded = _decode_claims(claims) if claims else None
        if decoded:
            evidence.append(("claims", _clip(decoded, 500)))
        what = f" claims {_clip(decoded, 200)}" if decoded else " the claims in the challenge"
        return (f"Conditional Access / Continuous Access Evaluation wants a new token with{what}"
                f"{tail}: re-acquire it interactively passing the challenge's claims.",
                tuple(evidence))
    if error == "insufficient_user_authentication":
        for key in ("acr_values", "max_age"):
            if params.get(key):
                evidence.append((key, params[key]))
        need = []
        if params.get("acr_values"):
            need.append(f"acr_values {params['acr_values']!r}")
        if params.get("max_age"):
            need.append(f"a sign-in no older than {params['max_age']}s")
        wanted = " and ".join(need) or "a stronger or more recent sign-in"
        return (f"The server wants {wanted} (RFC 9470 step-up){tail}.", tuple(evidence))
    if error == "use_dpop_nonce":
        return (f"The server requires a DPoP nonce: retry with a new DPoP proof carrying the "
                f"DPoP-Nonce response header's value{tail}.", tuple(evidence))
    if error == "invalid_dpop_proof":
        return f"The server rejected the DPoP proof{tail}.", tuple(evidence)
    if error == "invalid_token":
        return f"The {challenge.scheme} challenge says invalid_token{tail}.", tuple(evidence)
    return f"The {challenge.scheme} challenge says {error}{tail}.", tuple(evidence)


def _relevant(ctx) -> list:
    """Challenges that apply to this status: Proxy-Authenticate on 407, else WWW-Authenticate."""
    parsed = ctx.challenges
    if not parsed.challenges:
        return []
    header = "proxy-authenticate" if ctx.status == 407 else "www-authenticate"
    return parsed.in_header(header)


@on_failure
def check_challenge_missing(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status == 401:
        if ctx.response.header("www-authenticate") is None:
            yield Finding("challenge-missing",
                          "The 401 response has no WWW-Authenticate header, so it does not say "
                          "which scheme or token it expects.", (("status", 401),))
    elif status == 407:
        if ctx.response.header("proxy-authenticate") is None:
            yield Finding("challenge-missing",
                          "The 407 response has no Proxy-Authenticate header, so it does not say "
                          "how to authenticate to the proxy.", (("status", 407),))


@on_failure
def check_challenge_errors(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status is None or status < 400 or not ctx.challenges.challenges:
        return  # a challenge's error code only explains a refusal
    for challenge in _relevant(ctx):
        error = _error_of(challenge)
        if not error:
            continue
        finding_id = _ERROR_FINDINGS.get(error)
        message, evidence = _describe_error(challenge, error)
        if finding_id:
            yield Finding(finding_id, message, evidence)
        expected = _ERROR_STATUS.get(error)
        if expected and status in (400, 401, 403, 407) and status != expected and not (
                status == 407 and expected == 401):
            yield Finding("status-error-mismatch", _mismatch_message(error, status, expected),
                          (("error", error), ("status", status), ("expected_status", expected)))


def _mismatch_message(error: str, status: int, expected: int) -> str:
    if error == "insufficient_scope":
        return (f"insufficient_scope arrived on a {status}: this is an authorization problem "
                f"wearing a {status}; the token is valid but lacks a scope (RFC 6750 says 403).")
    if expected == 401 and status == 403:
        return (f"{error} arrived on a 403: the server rejects the credential itself, so this is "
                f"an authentication problem (RFC says 401).")
    return f"{error} arrived on a {status}; RFC assigns it {expected}."


@on_failure
def check_challenge_malformed(ctx) -> Iterator[Finding]:
    parsed = ctx.challenges
    if not parsed.errors:
        return
    for error in parsed.errors[:5]:
        evidence: list[tuple[str, object]] = [("error", str(error))]
        if isinstance(error, ParseError):
            evidence += [("header", error.header), ("position", error.position)]
        yield Finding("challenge-malformed", f"{error}.", tuple(evidence))


@on_failure
def check_basic_charset(ctx) -> Iterator[Finding]:
    """Basic challenge with charset="UTF-8" (RFC 7617 §2.1) but the credential is not UTF-8."""
    if ctx.status not in (401, 407):
        return
    wants_utf8 = any(c.name == "basic" and (c.get("charset") or "").lower() == "utf-8"
                     for c in _relevant(ctx))
    if not wants_utf8:
        return
    for cred in ctx.credentials:
        if (cred.scheme or "").lower() != "basic" or not cred.value:
            continue
        try:
            raw = base64.b64decode(cred.value, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Finding(
                "challenge-charset-mismatch",
                f"The server asked for UTF-8 Basic credentials (charset=\"UTF-8\") but the sent "
                f"user:password is not UTF-8 (byte {exc.start} is 0x{raw[exc.start]:02x}; probably "
                f"ISO-8859-1): a non-ASCII character was encoded the wrong way.",
                (("position", exc.start), ("charset", "UTF-8")))


@on_failure
def check_status_fallback(ctx) -> Iterator[Finding]:
    status = ctx.status
    if status in (401, 407):
        offered = _relevant(ctx)
        if offered:
            shown = ", ".join(_offer(c) for c in offered[:4])
            tail = f" It asks for: {shown}."
        else:
            tail = ""
        who = "proxy" if status == 407 else "server"
        yield Finding("status-unauthorized",
                      f"The {who} answered {status} without a more specific reason authlens "
                      f"recognises.{tail}", (("status", status),))
    elif status == 403:
        yield Finding("status-forbidden",
                      "The server answered 403: it knows the caller and refuses this operation.",
                      (("status", 403),))


def _offer(challenge: Challenge) -> str:
    bits = []
    for key in ("realm", "scope", "resource", "resource_id", "authorization_uri", "authorization"):
        value = challenge.params.get(key)
        if value:
            bits.append(f"{key}={_clip(value, 80)!r}")
    return challenge.scheme + (f" ({', '.join(bits)})" if bits else "")


CHECKS = (
    check_challenge_missing,
    check_challenge_errors,
    check_challenge_malformed,
    check_basic_charset,
    check_status_fallback,
)
