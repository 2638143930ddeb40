"""Find the credentials a request carries, and lint how they were written.

Hand-written on purpose: HTTP libraries (werkzeug, mitmproxy) parse Authorization leniently and
normalise away exactly the defects authlens must report (quotes, stray spaces, invisible
characters, a missing or doubled scheme).

Grammar linted against (RFC 9110 §11.4, §11.2)::

    credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

Each credential is parsed once, lazily (``Credential.issues``), and every check only filters
those issues, so a clean ``Bearer <jwt>`` costs one anchored regex match. Work that could grow
with the input (naming characters, counting them, parsing a query or a cookie) is capped; only
linear C-level operations (``str.strip``, anchored regexes) see the whole of a huge value.

Positions in messages are 1-based and counted in the part named ("of the token" = after the
scheme and any quotes; "of the Authorization value" = the header value as sent).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from . import secrecy
from .caching import Memo, once
from .model import Finding, RequestView
from .secrecy import redact

AUTH_HEADERS = ("authorization", "proxy-authorization")
KNOWN_SCHEMES = ("bearer", "basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual",
                 "aws4-hmac-sha256", "dpop", "sharedkey", "sswss", "ssws", "apikey")
STRICT_TOKEN68_SCHEMES = frozenset({"bearer", "basic", "negotiate", "ntlm", "dpop"})
"""Schemes whose credential must be a token68 (no auth-params)."""

_QUOTES = "\"'\u201c\u201d\u2018\u2019`\u201e\u201a\u00ab\u00bb"
_JUNK = (" \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
         "\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff")
"""Whitespace and invisible characters: stripped from a credential's value, always reported."""
_JUNK_SET = frozenset(_JUNK)

MAX_SCAN = 64 * 1024
"""Characters examined for counting/naming; longer values are still stripped and matched."""
MAX_REPORTS = 3
"""Findings of one id per credential at most (the first ones)."""
MAX_TEMPLATE_SCAN = 8 * 1024
MAX_QUERY = 16 * 1024
MAX_PARAMS = 256
"""Query and form parameters read: the first MAX_PARAMS pairs of the first MAX_QUERY characters."""
MAX_COOKIES = 64
MAX_FORM_BODY = 64 * 1024
MAX_CACHED_VALUE = 16 * 1024
"""Longer header values are parsed and linted each time (the caches must not hold megabytes)."""

# --- regexes (precompiled) -----------------------------------------------------------------------
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_CLEAN_AUTH = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31}) ([A-Za-z0-9\-._~+/]+=*)")
"""The fast path: ``Scheme SP token68`` and nothing else."""
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_TOKEN68_CHARS = re.compile(r"[A-Za-z0-9\-._~+/=]*")
_SCHEME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_WORD = re.compile(r"[^ \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f"
                   r"\u2060\u3000\ufeff]*")
_JUNK_RUN = re.compile(r"[ \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f"
                       r"\u2060\u3000\ufeff]*")
_BAD_CHAR = re.compile(r"[^\x21-\x7e ]")
"""Anything but printable ASCII and SP: tab, CR/LF, controls, non-ASCII, invisible, raw bytes."""
_NOT_SPACE_OR_BAD = re.compile(r"[\x21-\x7e]")
_PARAMS_START = re.compile(rf"[{_TCHAR}]+[ \t]*=[ \t]*[^= \t]")
_JOINED = re.compile(rf",[ \t]*([{_TCHAR}]+)[ \t]+[^= \t,]")
_GLUED = re.compile(r"(bearer|basic|dpop|negotiate|ntlm)(?:([:=])|(?=eyJ))", re.I)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BASE64_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")

_CLEAR_MISSPELLINGS = {
    "authorisation": "British spelling",
    "proxy-authorisation": "British spelling",
    "authentification": "not an HTTP header",
    "bearer": "a scheme, not a header name",
    "authorizaton": "typo", "autorization": "typo", "authorzation": "typo",
    "authroization": "typo", "authorizarion": "typo", "athorization": "typo",
    "authorizatoin": "typo", "authoriztion": "typo", "authorizaion": "typo",
}
AMBIGUOUS_NAMES = {
    "authentication": "a different word from Authorization",
    "auth": "not the standard header",
    "token": "not the standard header",
    "x-authorization": "a non-standard variant",
}
"""Headers some APIs do read: reported only when refused and no Authorization was sent."""

_CHAR_NAMES = {
    "\t": "CHARACTER TABULATION (tab)", "\n": "LINE FEED (LF)", "\r": "CARRIAGE RETURN (CR)",
    "\x0b": "LINE TABULATION", "\x0c": "FORM FEED (FF)", "\x00": "NULL", "\x7f": "DELETE",
}


_ALNUM = re.compile(r"[A-Za-z0-9]")


# --- the Credential --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    """One credential as sent. ``value`` is the credential proper, with stray quotes and
    whitespace removed so a mis-quoted token can still be decoded; ``raw`` is exactly as sent."""

    location: str
    """header | query | userinfo | cookie | body"""
    name: str
    raw: str
    scheme: str | None
    value: str
    kind: str = field(default="", compare=False)
    """auth (Authorization, Proxy-Authorization) | apikey | misspelled | query | userinfo |
    cookie | cookies (a whole Cookie header without a credential-like cookie) | body"""

    def describe(self, reveal: bool = False) -> dict:
        """Plain, redacted view; ``sent``: the header value as sent (quotes, stray spaces,
        invisible characters shown), when it is more than the scheme and the credential."""
        shown = redact(self.value, reveal)
        out = {"location": self.location, "name": self.name, "value": shown}
        if self.scheme is not None:
            out["scheme"] = self.scheme
        if (self.location == "header" and self.value and len(self.raw) <= MAX_CACHED_VALUE
                and self.raw.count(self.value) == 1):
            sent = self.raw.replace(self.value, shown, 1)
            around = self.raw.replace(self.value, "", 1).replace(self.scheme or "\0", "", 1)
            if (sent != (f"{self.scheme} {shown}" if self.scheme else shown)
                    and not _ALNUM.search(around)):  # only quotes, spaces, invisibles around
                out["sent"] = "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in sent)
        return out

    @property
    def label(self) -> str:
        """How messages name it: ``Authorization``, ``query parameter access_token``..."""
        if self.location == "header":
            return self.name
        if self.location == "query":
            return f"query parameter {self.name}"
        if self.location == "body":
            return f"form field {self.name}"
        if self.location == "cookie":
            return f"cookie {self.name}"
        return "the URL's user-info"

    @once
    def issues(self) -> tuple[Finding, ...]:
        """Every defect in how this credential was written (computed once)."""
        if self.kind in ("auth", "misspelled"):
            return tuple(_lint_auth(self))
        if self.kind in ("apikey", "query", "body"):
            return tuple(_lint_simple(self))
        if self.kind in ("cookie", "userinfo"):
            return tuple(_placeholder(self, self.value))
        return ()

    @once
    def issue_map(self) -> dict[str, list[Finding]]:
        """``issues`` by finding id."""
        out: dict[str, list[Finding]] = {}
        for finding in self.issues:
            out.setdefault(finding.id, []).append(finding)
        return out


# --- parsing an Authorization value ----------------------------------------------------------------

@dataclass
class _Parsed:
    raw: str
    lead: str = ""
    """Junk before the value."""
    trail: str = ""
    core_start: int = 0
    quotes: list = field(default_factory=list)
    """(where, description) of quotes removed."""
    scheme: str | None = None
    scheme_raw: str = ""
    separator: str = ""
    glued: str = ""
    """':' / '=' / '' when the scheme is glued to the token; None-like '' otherwise."""
    duplicates: list = field(default_factory=list)
    joined: str | None = None
    """The scheme/word of a second credential joined with a comma."""
    params: bool = False
    token: str = ""
    """The credential after the scheme, quotes removed, invisible characters still in."""
    value: str = ""
    empty: bool = False
    colon: bool = False
    fast: bool = False
    """Matched ``Scheme SP token68`` exactly: no quotes, whitespace or bad characters."""
    """The value started with ':' (the header name was written as ``Authorization:``)."""


def _strip_junk(s: str) -> tuple[str, str, str]:
    """(leading junk, core, trailing junk); linear."""
    left = s.lstrip(_JUNK)
    core = left.rstrip(_JUNK)
    return s[:len(s) - len(left)], core, left[len(core):]


def _unquote(s: str, parsed: _Parsed, where: str) -> str:
    """Strip quotes (and JSON-escaped quotes) around ``s``, recording what was removed."""
    if len(s) >= 2 and s.startswith('\\"'):
        s = s[2:]
        if s.endswith('\\"'):
            s = s[:-2]
            parsed.quotes.append((where, 'JSON-escaped double quotes (\\") around'))
        else:
            parsed.quotes.append((where, 'a JSON-escaped double quote (\\") before'))
        return s
    first = s[:1]
    last = s[-1:]
    opened = first in _QUOTES and first != ""
    closed = last in _QUOTES and last != "" and (len(s) >= 2 or not opened)
    if opened and closed:
        parsed.quotes.append((where, f"{_quote_name(first)} and {_quote_name(last)} around"
                              if first != last else f"{_quote_name(first, True)} around"))
        return s[1:-1]
    if opened:
        parsed.quotes.append((where, f"a stray {_quote_name(first)} before"))
        return s[1:]
    if closed:
        parsed.quotes.append((where, f"a stray {_quote_name(last)} after"))
        return s[:-1]
    return s


def _quote_name(ch: str, plural: bool = False) -> str:
    s = "s" if plural else ""
    return {'"': f'double quote{s} (")', "'": f"single quote{s} (')",
            "`": f"backtick{s} (`)"}.get(ch, f"{_char_name(ch).lower()}{s} ({ch})")


def __parse_auth_uncached(raw: str) -> _Parsed:
    """Parse an Authorization value once (cached: extraction and linting both need it; the
    result must be treated as read-only)."""
    p = _Parsed(raw)
    m = _CLEAN_AUTH.fullmatch(raw)
    if m is not None and (m.group(1).lower() in KNOWN_SCHEMES or not m.group(1).startswith("eyJ")):
        # Fast path: one scheme, one space, a token68. Nothing to strip.
        p.scheme = p.scheme_raw = m.group(1)
        p.separator = " "
        p.token = p.value = m.group(2)
        p.fast = True
        if p.token.lower() == p.scheme.lower():
            p.duplicates.append(p.token)
            p.token = p.value = ""
            p.empty = True
        return p

    p.lead, core, p.trail = _strip_junk(raw)
    p.core_start = len(p.lead)
    if not core:
        p.empty = True
        return p
    if core[:1] in _QUOTES or core.startswith('\\"'):
        # Quotes around the whole value: "Bearer ey..." (a closing quote alone is handled on
        # the token: Digest values legitimately end with one).
        before = len(p.quotes)
        inner = _unquote(core, p, "value")
        if len(p.quotes) > before:
            lead2, core, trail2 = _strip_junk(inner)
            p.lead += lead2
            p.trail = trail2 + p.trail
            if not core:
                p.empty = True
                return p

    if core.startswith(":"):
        # "Authorization:: Bearer x": the header name was written with its colon.
        p.colon = True
        lead2, core, _ = _strip_junk(core[1:])
        if not core:
            p.empty = True
            return p
    word = _WORD.match(core).group()  # type: ignore[union-attr]  # matches empty
    rest_start = len(word)
    glued = None
    if _SCHEME_NAME.fullmatch(word) and not word.startswith("eyJ") and (
            word.lower() in KNOWN_SCHEMES or rest_start < len(core)):
        p.scheme = p.scheme_raw = word
    else:
        glued = _GLUED.match(core)
        if glued is not None:
            p.scheme = p.scheme_raw = glued.group(1)
            p.glued = glued.group(2) or ""
            rest_start = glued.end()
    if p.scheme is None:
        p.token = core
        p.value = _clean_token(core)
        return p

    p.separator = _JUNK_RUN.match(core, rest_start).group()  # type: ignore[union-attr]  # matches empty
    rest = core[rest_start + len(p.separator):]
    # The same (or another) scheme written again: "Bearer Bearer ey...".
    for _ in range(4):
        word2 = _WORD.match(rest).group()  # type: ignore[union-attr]  # matches empty
        if not word2 or word2.lower() not in KNOWN_SCHEMES:
            break
        after = rest[len(word2):]
        if word2.lower() != p.scheme.lower() and not after:
            break  # "Bearer token": a placeholder, not a second scheme
        p.duplicates.append(word2)
        rest = after.lstrip(_JUNK)
    if not rest:
        p.empty = True
        return p

    strict = p.scheme.lower() in STRICT_TOKEN68_SCHEMES
    p.params = not strict and _PARAMS_START.match(rest) is not None
    joined = _JOINED.search(rest, 0, MAX_SCAN) if "," in rest[:MAX_SCAN] else None
    if joined is not None and (not p.params or joined.group(1).lower() in KNOWN_SCHEMES):
        p.joined = joined.group(1)
        rest = rest[:joined.start()].rstrip(" \t")
    if p.params:
        p.token = rest
        p.value = _INVISIBLE_RUN.sub("", rest)
        return p
    token = _unquote(rest, p, "token")
    lead2, token, trail2 = _strip_junk(token)
    if lead2 or trail2:
        p.quotes.append(("inside", (lead2, trail2)))
    p.token = token
    p.value = _clean_token(token)
    if not p.value:
        p.empty = True
    return p


_parse_auth = Memo(__parse_auth_uncached, 256, MAX_CACHED_VALUE).__getitem__


_INVISIBLE_RUN = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]+")
_JUNK_RUN_PLUS = re.compile("[" + re.escape(_JUNK) + "\u00ad]+")


def _clean_token(token: str) -> str:
    """The token with every whitespace and invisible character removed."""
    return _JUNK_RUN_PLUS.sub("", token) if _BAD_CHAR.search(token) or " " in token else token


def split_scheme(raw: str) -> tuple[str | None, str]:
    """``'Bearer abc'`` -> ``('Bearer', 'abc')``; a bare token -> ``(None, token)``.

    The value has stray quotes, whitespace and invisible characters removed."""
    p = _parse_auth(raw)
    return p.scheme, p.value


# --- linting ---------------------------------------------------------------------------------------

def _char_name(ch: str) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:
        return f"byte 0x{cp - 0xDC00:02X} (not valid UTF-8)"
    if ch in _CHAR_NAMES:
        return _CHAR_NAMES[ch]
    try:
        return unicodedata.name(ch)
    except ValueError:
        return "control character" if cp < 0x20 or 0x7F <= cp < 0xA0 else "unnamed character"


def _describe_char(ch: str) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:
        return f"raw byte 0x{cp - 0xDC00:02X} (not valid UTF-8)"
    if ch == " ":
        return "space"
    return f"U+{cp:04X} {_char_name(ch)}"


def _char_evidence(ch: str, position: int, where: str, count: int | None = None) -> tuple:
    cp = ord(ch)
    ev = [("position", position), ("where", where)]
    if 0xDC80 <= cp <= 0xDCFF:
        ev.insert(0, ("byte", f"0x{cp - 0xDC00:02X}"))
    else:
        ev.insert(0, ("char", f"U+{cp:04X}"))
        ev.insert(1, ("char_name", _char_name(ch)))
    if count is not None and count > 1:
        ev.append(("count", count))
    return tuple(ev)


def _describe_run(run: str) -> str:
    if set(run) == {" "}:
        return f"{len(run)} space" + ("s" if len(run) > 1 else "")
    names = []
    for ch in dict.fromkeys(run[:MAX_SCAN]):
        d = _describe_char(ch)
        if d not in names:
            names.append(d)
        if len(names) == 3:
            break
    return " + ".join(names)


def _bad_chars(cred: Credential, text: str, where: str, allow_space: bool) -> Iterator[Finding]:
    """Whitespace, controls, invisible and non-ASCII characters inside ``text``."""
    pattern = _BAD_CHAR if allow_space else _SPACE_OR_BAD
    m = pattern.search(text)
    if m is None:
        return
    window = text[:MAX_SCAN]
    count = len(pattern.findall(window))
    more = "+" if len(text) > MAX_SCAN else ""
    reported = 0
    for m in pattern.finditer(window):
        ch = m.group()
        pos = m.start() + 1
        extra = f" ({count}{more} such characters in all)" if count > 1 and reported == 0 else ""
        hint = _char_hint(ch, pos, len(text))
        yield Finding("credential-whitespace",
                      f"{_describe_char(ch)} at position {pos} of {where}{extra}{hint}.",
                      _char_evidence(ch, pos, where, count if reported == 0 else None))
        reported += 1
        if reported >= MAX_REPORTS or count <= 1:
            break


_SPACE_OR_BAD = re.compile(r"[^\x21-\x7e]")


def _char_hint(ch: str, pos: int, length: int) -> str:
    if ch in "\r\n":
        return ": the value was split across lines (a template or a file read without trimming)"
    if ch in "\u200b\u200c\u200d\u2060\ufeff":
        return ": invisible, usually pasted along with the token"
    if ch == "\u00a0":
        return ": a non-breaking space, usually from copying out of a web page or document"
    if ch == " ":
        return ": a space inside the credential splits it in two"
    if ch == "\u2026":
        return ": the token was copied from a truncated display"
    return ""


def _lint_edges(cred: Credential, lead: str, trail: str, label: str) -> Iterator[Finding]:
    if lead:
        yield Finding("credential-whitespace",
                      f"{_describe_run(lead)} before the {label} value.",
                      (("where", "leading"), ("chars", [f"U+{ord(c):04X}" for c in lead[:8]])))
    if trail:
        yield Finding("credential-whitespace",
                      f"{_describe_run(trail)} after the {label} value"
                      + (" (a line break read along with the secret)" if "\n" in trail[:64]
                         else "") + ".",
                      (("where", "trailing"), ("chars", [f"U+{ord(c):04X}" for c in trail[:8]])))


def _lint_quotes(cred: Credential, quotes: list, label: str) -> Iterator[Finding]:
    for where, what in quotes:
        if where == "inside":
            lead, trail = what
            runs = " and ".join(f"{_describe_run(r)} {side}" for r, side in
                                ((lead, "after the opening quote"), (trail, "before the end"))
                                if r)
            yield Finding("credential-whitespace", f"{runs} of the {label} credential.",
                          (("where", "token-edges"),))
            continue
        target = "the whole value" if where == "value" else "the credential"
        yield Finding("credential-quoted",
                      f"{label}: {what} {target}; quotes are not part of the credential.",
                      (("where", where), ("quotes", what)))


def _lint_auth(cred: Credential) -> Iterator[Finding]:
    label = cred.name
    p = _parse_auth(cred.raw)
    strict_kind = cred.kind == "auth"
    if p.fast and not p.empty:
        # Scheme SP token68: only a placeholder word or a Basic defect can still be wrong.
        placeholder = list(_placeholder(cred, p.value, token68=True))
        if placeholder:
            yield from placeholder
        elif p.scheme.lower() == "basic":
            yield from _lint_basic(cred, p.value)
        return
    if p.colon:
        yield Finding("header-misspelled",
                      f"The {label} value starts with ':': the header name was written with its "
                      f"colon (`{label}:`), so the server sees a value that begins with ':'.",
                      (("header", f"{label}:"), ("expected", label)))
    if not p.empty:
        yield from _lint_edges(cred, p.lead, p.trail, label)
    yield from _lint_quotes(cred, p.quotes, label)
    if p.empty and not p.duplicates:
        if p.scheme is None:
            msg = f"The {label} header is empty."
        else:
            msg = f"{label} is `{p.scheme_raw}` with nothing after it."
        yield Finding("credential-empty", msg, (("scheme", p.scheme),))
        return
    if p.duplicates:
        yield Finding("scheme-duplicated",
                      f"{label} starts with `{p.scheme_raw} {' '.join(p.duplicates)}`: "
                      "the scheme was added to a value that already had one.",
                      (("scheme", p.scheme), ("repeated", list(p.duplicates))))
        if p.empty:
            yield Finding("credential-empty",
                          f"{label} has only the scheme `{p.scheme_raw}` (twice) and no credential.",
                          (("scheme", p.scheme),))
            return
    if p.joined is not None and strict_kind:
        yield Finding("header-duplicated",
                      f"One {label} value holds two credentials joined by a comma (the second "
                      f"starts with `{p.joined}`): two headers were merged into one.",
                      (("second", p.joined),))
    if p.glued or (p.scheme and not p.separator):
        sep = f"'{p.glued}'" if p.glued else "nothing"
        yield Finding("credential-malformed",
                      f"{label}: `{p.scheme_raw}` is followed by {sep} instead of a space.",
                      (("scheme", p.scheme), ("separator", p.glued)))
    elif p.separator and p.separator != " ":
        yield Finding("credential-whitespace",
                      f"{_describe_run(p.separator)} between the scheme `{p.scheme_raw}` and the "
                      "credential; send exactly one space (many servers split on a single one).",
                      (("where", "separator"), ("chars", [f"U+{ord(c):04X}"
                                                          for c in p.separator[:8]])))

    placeholder = list(_placeholder(cred, p.value))
    yield from placeholder
    if p.params:
        yield from _bad_chars(cred, p.token, f"the {label} credential", allow_space=True)
        return
    yield from _bad_chars(cred, p.token, "the token" if p.scheme else f"the {label} value",
                          allow_space=False)
    if placeholder:
        return
    scheme = (p.scheme or "").lower()
    if p.scheme is None:
        if strict_kind:
            yield _scheme_missing(cred, p.value)
        return
    if scheme == "basic":
        yield from _lint_basic(cred, p.value)
    elif scheme in STRICT_TOKEN68_SCHEMES:
        yield from _lint_token68(cred, p.value, p.scheme_raw)


def _scheme_missing(cred: Credential, value: str) -> Finding:
    if _JWT.match(value):
        what, want = "a bare JWT", "Bearer"
    else:
        decoded = _b64_decode(value) if len(value) < 4096 else None
        if decoded is not None and b":" in decoded and _printable(decoded):
            what, want = "what looks like a base64 user:password with no `Basic `", "Basic"
        else:
            what, want = "a bare token or key", "Bearer"
    return Finding("scheme-missing",
                   f"{cred.name} holds {what}, {redact(value)}, with no scheme in front; "
                   f"expected `{cred.name}: {want} <credential>` (or the scheme the API documents).",
                   (("looks_like", want.lower()), ("length", len(value))))


def _lint_token68(cred: Credential, value: str, scheme: str) -> Iterator[Finding]:
    if _TOKEN68.fullmatch(value) is not None:
        return
    chars_ok = _TOKEN68_CHARS.match(value).end()  # type: ignore[union-attr]  # matches empty
    # Characters the whitespace check already names (non-ASCII, controls) are skipped.
    pos = chars_ok
    while pos < len(value) and pos < MAX_SCAN and not _NOT_SPACE_OR_BAD.match(value, pos):
        pos += 1
        pos = _TOKEN68_CHARS.match(value, pos).end()  # type: ignore[union-attr]  # matches empty
    if pos < len(value) and pos < MAX_SCAN:
        ch = value[pos]
        hint = _token_hint(value, ch)
        if ch in TOLERATED_CHARS and not hint:
            yield Finding("credential-unusual-char",
                          f"'{ch}' at position {pos + 1} of the {scheme} token is outside token68 "
                          "(letters, digits, -._~+/ and trailing =); many servers accept it.",
                          (("char", ch), ("position", pos + 1), ("scheme", scheme)))
            return
        yield Finding("credential-malformed",
                      f"'{ch}' at position {pos + 1} of the {scheme} token is not allowed in a "
                      f"token68 (letters, digits, -._~+/ and trailing =){hint}.",
                      (("char", ch), ("position", pos + 1), ("scheme", scheme)))
        return
    eq = value.find("=")
    if eq != -1 and _TOKEN68_CHARS.fullmatch(value):
        key = value[:eq]
        hint = (f"; it looks like `{key}=...`, a key=value pair" if re.fullmatch(r"[A-Za-z_]\w{0,31}", key)
                else "")
        yield Finding("credential-malformed",
                      f"'=' at position {eq + 1} of the {scheme} token: '=' is only allowed as "
                      f"trailing padding{hint}.",
                      (("char", "="), ("position", eq + 1), ("scheme", scheme)))


TOLERATED_CHARS = frozenset("!#$&'*^`|")
"""tchar characters outside token68 that servers accept in tokens in practice: a warning, never
the cause of a refusal."""


def _token_hint(value: str, ch: str) -> str:
    head = value[:64].lstrip()
    if head.startswith("{") or head.startswith("["):
        return "; the value is JSON (the whole token response?): send only its access_token"
    if "access_token=" in value[:4096]:
        return "; the value is a form/query string: send only the access_token value"
    if ch == "%":
        return "; the token was URL-encoded (e.g. %3D is '='): decode it before sending"
    if ch == ":":
        return "; a `user:password` or `key:secret` pair does not belong in a token"
    if ch == ",":
        return "; a list of values was sent"
    return ""


def _b64_decode(value: str) -> bytes | None:
    if not _BASE64_STD.fullmatch(value):
        return None
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable(data: bytes) -> bool:
    try:
        return data.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        return False


def _lint_basic(cred: Credential, value: str) -> Iterator[Finding]:
    label = f"{cred.name} Basic credential"
    if ":" in value:
        colon = value.index(":")
        yield Finding("basic-malformed",
                      f"The {label} is `user:password` in clear (':' at position {colon + 1}), "
                      "not base64-encoded.",
                      (("problem", "not-encoded"), ("colon_position", colon + 1)))
        return
    if not _BASE64_STD.fullmatch(value):
        m = re.search(r"[^A-Za-z0-9+/=]", value[:MAX_SCAN])
        if m is not None and _NOT_SPACE_OR_BAD.match(m.group()):
            ch = m.group()
            hint = (": base64url alphabet; Basic needs standard base64 (+ and /)" if ch in "-_"
                    else "")
            yield Finding("basic-malformed",
                          f"The {label} is not base64: '{ch}' at position {m.start() + 1}{hint}.",
                          (("problem", "not-base64"), ("char", ch), ("position", m.start() + 1)))
        elif m is None:
            eq = value.find("=")
            yield Finding("basic-malformed",
                          f"The {label} is not base64: '=' at position {eq + 1} is not "
                          "trailing padding.",
                          (("problem", "not-base64"), ("char", "="), ("position", eq + 1)))
        return
    if len(value) % 4 == 1:
        yield Finding("basic-malformed",
                      f"The {label} is not valid base64: its length {len(value)} cannot be "
                      "decoded (truncated?).",
                      (("problem", "bad-length"), ("length", len(value))))
        return
    decoded = _b64_decode(value)
    if decoded is None:  # pragma: no cover - guarded by the regex and length checks above
        return
    utf8 = True
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = False
    ev_utf8 = (("utf8", utf8),) if not utf8 else ()
    if len(value) % 4:
        yield Finding("basic-malformed",
                      f"The {label} lacks base64 padding (length {len(value)} is not a multiple "
                      "of 4); strict decoders reject it.",
                      (("problem", "unpadded"), ("length", len(value))) + ev_utf8)
    if b":" not in decoded:
        note = "" if utf8 else ", and the bytes are not UTF-8 (RFC 7617 §2.1)"
        yield Finding("basic-malformed",
                      f"The {label} decodes to {len(decoded)} bytes without ':'{note}: a token "
                      "or a lone user-id was sent as Basic.",
                      (("problem", "no-colon"), ("decoded_length", len(decoded))) + ev_utf8)
        return
    user, _, password = decoded.partition(b":")
    if not user and not password:
        yield Finding("credential-empty",
                      f"The {label} decodes to ':' alone: both user-id and password are empty.",
                      (("scheme", "Basic"),))
        return
    for part, what in ((user, "user-id"), (password, "password")):
        text = part.decode("utf-8", "replace").strip()
        if text.lower() in secrecy.PH_STRICT or secrecy.PH_TEMPLATE.search(text):
            yield Finding("credential-placeholder",
                          f"The {label}'s {what} is `{text[:40]}`: the variable holding it was "
                          "not set.",
                          (("part", what), ("placeholder", text[:40])))
    if password.endswith(b"\n") or user.endswith(b"\n"):
        what = "password" if password.endswith(b"\n") else "user-id"
        yield Finding("basic-malformed",
                      f"The {label} decodes to a {what} that ends in a newline: it was encoded "
                      "with the line break `echo user:pass | base64` adds (use `echo -n` or "
                      "`printf %s`).",
                      (("problem", "trailing-newline"), ("part", what)))


def _lint_simple(cred: Credential) -> Iterator[Finding]:
    """API-key headers, query and form parameters: a bare value, no scheme."""
    raw = cred.raw
    if cred.location == "header":
        lead, core, trail = _strip_junk(raw)
        yield from _lint_edges(cred, lead, trail, cred.label)
    else:
        core = raw
    if not core.strip(_JUNK):
        if cred.location == "header":
            yield Finding("credential-empty", f"The {cred.label} header is empty.",
                          (("name", cred.name),))
        else:
            yield Finding("credential-empty", f"The {cred.label} is empty.", (("name", cred.name),))
        return
    p = _Parsed(raw)
    token = _unquote(core, p, "token")
    yield from _lint_quotes(cred, p.quotes, cred.label)
    placeholder = list(_placeholder(cred, cred.value))
    yield from placeholder
    yield from _bad_chars(cred, token, f"the {cred.label} value",
                          allow_space=cred.name.lower() in AMBIGUOUS_NAMES)


def _placeholder(cred: Credential, value: str,
                 token68: bool = False) -> Iterator[Finding]:
    """``token68``: the value is known to be token68, so no template syntax can be in it."""
    if not value:
        return
    found = None
    if token68 and ("process.env." in value or "os.environ" in value):
        m = secrecy.PH_TEMPLATE.search(value, 0, MAX_TEMPLATE_SCAN)
        found = m.group() if m is not None else None
    if found is None and len(value) <= 120:
        v = value.strip().lower()
        if v in secrecy.PH_WORDS or secrecy.PH_WHOLE.fullmatch(v) or secrecy.is_phrase_placeholder(v):
            found = value.strip()
    if found is None and not token68:
        head = value[:MAX_TEMPLATE_SCAN]
        if "{" in head or "$" in head or "<%" in head or "process.env." in head \
                or "os.environ" in head:
            m = secrecy.PH_TEMPLATE.search(head)
            if m is not None:
                found = m.group()
    if found is None:
        return
    yield Finding("credential-placeholder",
                  f"{cred.label} carries `{found[:60]}` instead of a credential: an unfilled "
                  "template or an unset variable.",
                  (("placeholder", found[:60]),))


# --- extraction ------------------------------------------------------------------------------------

def header_kind(name: str) -> str | None:
    """What a request header is, credential-wise: auth | apikey | misspelled | cookie | None."""
    n = name.lower()
    if n in AUTH_HEADERS:
        return "auth"
    if n == "cookie":
        return "cookie"
    if n in AMBIGUOUS_NAMES:
        return "apikey"
    if misspelling(name) is not None:
        return "misspelled"
    if "csrf" in n or "xsrf" in n or "idempotency" in n:
        return None
    if ("api-key" in n or "api_key" in n or "apikey" in n or n.endswith("token")
            or n.endswith("secret") or n.endswith("subscription-key") or n.endswith("access-key")
            or n.endswith("app-key") or n.endswith("auth-key") or n in ("x-auth", "x-key")):
        return "apikey"
    return None


def _misspelling_uncached(name: str) -> str | None:
    """Why header ``name`` looks like a misspelled Authorization, or None."""
    n = name.lower()
    if n in AUTH_HEADERS:
        return None
    if n in _CLEAR_MISSPELLINGS:
        return _CLEAR_MISSPELLINGS[n]
    stripped = n.strip(" \t:")
    if stripped != n and stripped in AUTH_HEADERS:
        return "extra ':' or space in the header name"
    for target in AUTH_HEADERS:
        if abs(len(n) - len(target)) <= 2 and n[:2] == target[:2] and _distance(n, target) <= 2:
            return "typo"
    return None


misspelling = Memo(_misspelling_uncached, 2048, 256).__getitem__


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (small strings only)."""
    prev2 = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def extract_credentials(request: RequestView) -> list[Credential]:
    """Every credential in the request, in the order they appear: headers, URL, cookies, form."""
    found: list[Credential] = []
    for key, value in request.headers:
        if HEADER_KINDS[key] is not None:
            found.extend(HEADER_CREDENTIALS[key, value])
    url = request.url
    if "?" in url:
        query = request.query
        if query:
            found.extend(_param_credentials(query, "query", secrecy.CREDENTIAL_PARAMS))
    if "@" in url:
        found.extend(_userinfo_credentials(url))
    if request.body and request.method.upper() not in ("GET", "HEAD"):
        ctype = (request.header("content-type") or "").lower()
        if "application/x-www-form-urlencoded" in ctype and len(request.body) <= MAX_FORM_BODY:
            body = request.body.decode("utf-8", "surrogateescape")
            found.extend(_param_credentials(body, "body", secrecy.FORM_CREDENTIALS))
    return found


def _header_credentials(key: str, value: str) -> tuple[Credential, ...]:
    """The credentials in one header (of a ``header_kind``)."""
    kind = HEADER_KINDS[key]
    if kind == "auth" or kind == "misspelled":
        scheme, cred = split_scheme(value)
        return (Credential("header", key, value, scheme, cred, kind),)
    if kind == "apikey":
        return (Credential("header", key, value, None, _clean_simple(value), kind),)
    return tuple(_cookie_credentials(key, value))


HEADER_KINDS = Memo(header_kind, 2048, 256)
"""``header_kind`` of the header names seen."""
HEADER_CREDENTIALS = Memo(_header_credentials, 2048, MAX_CACHED_VALUE)
"""``_header_credentials`` by (name, value). Clients send the same values over and over; a
Credential is immutable and lints itself once (``issues``), so this is also the lint cache."""


def _clean_simple(value: str) -> str:
    value = value.strip(_JUNK)
    if value.startswith('\\"'):
        value = value[2:]
        if value.endswith('\\"'):
            value = value[:-2]
    value = value.strip(_QUOTES).strip(_JUNK)
    return _clean_token(value)


def _param_credentials(params: str, location: str, names: frozenset) -> list[Credential]:
    """The credentials among the first ``MAX_PARAMS`` ``name=value`` pairs of a query or form
    body (a list, and no ``unquote`` call without a ``%``: this runs on every URL with a query)."""
    form = location == "body"
    found = []
    for pair in params[:MAX_QUERY].split("&", MAX_PARAMS)[:MAX_PARAMS]:
        key, eq, value = pair.partition("=")
        if not eq:
            continue
        if form:
            key = key.replace("+", " ")
        if "%" in key:
            key = unquote(key)
        if key.lower() in names:
            decoded = unquote(value.replace("+", " ") if form else value)
            found.append(Credential(location, key, decoded, None, _clean_simple(decoded),
                                    "body" if form else "query"))
    return found


def query_credentials(query: str) -> list[Credential]:
    """The credentials in a URL's query string."""
    return _param_credentials(query, "query", secrecy.CREDENTIAL_PARAMS)


def _userinfo_credentials(url: str) -> Iterator[Credential]:
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if not user and password is None:
        return
    user = unquote(user or "")
    if password is None:
        yield Credential("userinfo", "userinfo", user, None, user, "userinfo")
    else:
        pair = f"{user}:{unquote(password)}"
        yield Credential("userinfo", "userinfo", pair, None, pair, "userinfo")


def _cookie_credentials(key: str, value: str) -> list[Credential]:
    creds = []
    for i, pair in enumerate(value[:MAX_QUERY].split(";")):
        if i >= MAX_COOKIES:
            break
        name, eq, cvalue = pair.strip().partition("=")
        if eq and secrecy.CREDENTIAL_COOKIE.search(name):
            cvalue = cvalue.strip()
            creds.append(Credential("cookie", name, pair.strip(), None,
                                    cvalue.strip('"'), "cookie"))
    if not creds and value.strip():
        creds.append(Credential("cookie", key, value, None, value, "cookies"))
    return creds
