"""The Authorization header's grammar, parsed strictly: scheme, separator, token68 or params.

Hand-written on purpose: HTTP libraries (werkzeug, mitmproxy) parse Authorization leniently and
normalise away exactly the defects authlens must report (quotes, stray spaces, invisible
characters, a missing or doubled scheme). Each distinct value is parsed once (``parse``) into a
frozen ``AuthorizationValue`` that extraction (``credentials``) and the lint
(``credential_lint``) share.

Grammar (RFC 9110 §11.4, §11.2)::

    credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from types import SimpleNamespace

from .caching import Memo

KNOWN_SCHEMES = ("bearer", "basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual",
                 "aws4-hmac-sha256", "dpop", "sharedkey", "sswss", "ssws", "apikey")
STRICT_TOKEN68_SCHEMES = frozenset({"bearer", "basic", "negotiate", "ntlm", "dpop"})
"""Schemes whose credential must be a token68 (no auth-params)."""

QUOTES = "\"'\u201c\u201d\u2018\u2019`\u201e\u201a\u00ab\u00bb"
JUNK = (" \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
        "\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff")
"""Whitespace and invisible characters: stripped from a credential's value, always reported."""

MAX_SCAN = 64 * 1024
"""Characters examined for counting/naming; longer values are still stripped and matched."""
MAX_CACHED_VALUE = 16 * 1024
"""Longer header values are parsed and linted each time (the caches must not hold megabytes)."""

_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_CLEAN_AUTH = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31}) ([A-Za-z0-9\-._~+/]+=*)")
"""The fast path: ``Scheme SP token68`` and nothing else."""
_SCHEME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_WORD = re.compile(r"[^ \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f"
                   r"\u2060\u3000\ufeff]*")
_JUNK_RUN = re.compile(r"[ \t\r\n\x0b\x0c\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f"
                       r"\u2060\u3000\ufeff]*")
BAD_CHAR = re.compile(r"[^\x21-\x7e ]")
"""Anything but printable ASCII and SP: tab, CR/LF, controls, non-ASCII, invisible, raw bytes."""
_PARAMS_START = re.compile(rf"[{_TCHAR}]+[ \t]*=[ \t]*[^= \t]")
_JOINED = re.compile(rf",[ \t]*([{_TCHAR}]+)[ \t]+[^= \t,]")
_GLUED = re.compile(r"(bearer|basic|dpop|negotiate|ntlm)(?:([:=])|(?=eyJ))", re.I)

_CHAR_NAMES = {
    "\t": "CHARACTER TABULATION (tab)", "\n": "LINE FEED (LF)", "\r": "CARRIAGE RETURN (CR)",
    "\x0b": "LINE TABULATION", "\x0c": "FORM FEED (FF)", "\x00": "NULL", "\x7f": "DELETE",
}


def char_name(ch: str) -> str:
    """The Unicode name of ``ch`` (or what a raw byte or control character is), for messages."""
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:
        return f"byte 0x{cp - 0xDC00:02X} (not valid UTF-8)"
    if ch in _CHAR_NAMES:
        return _CHAR_NAMES[ch]
    try:
        return unicodedata.name(ch)
    except ValueError:
        return "control character" if cp < 0x20 or 0x7F <= cp < 0xA0 else "unnamed character"


@dataclass(frozen=True)
class AuthorizationValue:
    """One Authorization value as parsed: shared across flows (``parse``), so frozen."""

    raw: str
    lead: str = ""
    """Junk before the value."""
    trail: str = ""
    core_start: int = 0
    quotes: tuple = ()
    """(where, description) of quotes removed."""
    scheme: str | None = None
    scheme_raw: str = ""
    separator: str = ""
    glued: str = ""
    """':' / '=' / '' when the scheme is glued to the token; '' otherwise."""
    duplicates: tuple = ()
    """Scheme words written again after the scheme (``Bearer Bearer ey…``)."""
    joined: str | None = None
    """The scheme/word of a second credential joined with a comma."""
    params: bool = False
    token: str = ""
    """The credential after the scheme, quotes removed, invisible characters still in."""
    value: str = ""
    empty: bool = False
    colon: bool = False
    """The value started with ':' (the header name was written as ``Authorization:``)."""
    fast: bool = False
    """Matched ``Scheme SP token68`` exactly: no quotes, whitespace or bad characters."""


def strip_junk(s: str) -> tuple[str, str, str]:
    """(leading junk, core, trailing junk); linear."""
    left = s.lstrip(JUNK)
    core = left.rstrip(JUNK)
    return s[:len(s) - len(left)], core, left[len(core):]


def unquote(s: str, quotes: list, where: str) -> str:
    """Strip quotes (and JSON-escaped quotes) around ``s``, recording what was removed."""
    if len(s) >= 2 and s.startswith('\\"'):
        s = s[2:]
        if s.endswith('\\"'):
            s = s[:-2]
            quotes.append((where, 'JSON-escaped double quotes (\\") around'))
        else:
            quotes.append((where, 'a JSON-escaped double quote (\\") before'))
        return s
    first = s[:1]
    last = s[-1:]
    opened = first in QUOTES and first != ""
    closed = last in QUOTES and last != "" and (len(s) >= 2 or not opened)
    if opened and closed:
        quotes.append((where, f"{_quote_name(first)} and {_quote_name(last)} around"
                              if first != last else f"{_quote_name(first, True)} around"))
        return s[1:-1]
    if opened:
        quotes.append((where, f"a stray {_quote_name(first)} before"))
        return s[1:]
    if closed:
        quotes.append((where, f"a stray {_quote_name(last)} after"))
        return s[:-1]
    return s


def _quote_name(ch: str, plural: bool = False) -> str:
    s = "s" if plural else ""
    return {'"': f'double quote{s} (")', "'": f"single quote{s} (')",
            "`": f"backtick{s} (`)"}.get(ch, f"{char_name(ch).lower()}{s} ({ch})")


def _read(raw: str) -> SimpleNamespace:
    """Read an Authorization value into a draft with ``AuthorizationValue``'s fields."""
    p = SimpleNamespace(**_DEFAULTS, raw=raw, quotes=[], duplicates=[])
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

    p.lead, core, p.trail = strip_junk(raw)
    p.core_start = len(p.lead)
    if not core:
        p.empty = True
        return p
    if core[:1] in QUOTES or core.startswith('\\"'):
        # Quotes around the whole value: "Bearer ey..." (a closing quote alone is handled on
        # the token: Digest values legitimately end with one).
        before = len(p.quotes)
        inner = unquote(core, p.quotes, "value")
        if len(p.quotes) > before:
            lead2, core, trail2 = strip_junk(inner)
            p.lead += lead2
            p.trail = trail2 + p.trail
            if not core:
                p.empty = True
                return p

    if core.startswith(":"):
        # "Authorization:: Bearer x": the header name was written with its colon.
        p.colon = True
        lead2, core, _ = strip_junk(core[1:])
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
        p.value = clean_token(core)
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
        rest = after.lstrip(JUNK)
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
    token = unquote(rest, p.quotes, "token")
    lead2, token, trail2 = strip_junk(token)
    if lead2 or trail2:
        p.quotes.append(("inside", (lead2, trail2)))
    p.token = token
    p.value = clean_token(token)
    if not p.value:
        p.empty = True
    return p






_DEFAULTS = {f.name: f.default for f in fields(AuthorizationValue)
             if f.name not in ("raw", "quotes", "duplicates")}


def _frozen(raw: str) -> AuthorizationValue:
    draft = _read(raw)
    return AuthorizationValue(**{**vars(draft), "quotes": tuple(draft.quotes),
                                 "duplicates": tuple(draft.duplicates)})


parse = Memo(_frozen, 256, MAX_CACHED_VALUE).__getitem__
"""The parse of an Authorization value, once per distinct value (extraction and lint share it)."""

_INVISIBLE_RUN = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]+")
_JUNK_RUN_PLUS = re.compile("[" + re.escape(JUNK) + "\u00ad]+")


def clean_token(token: str) -> str:
    """The token with every whitespace and invisible character removed."""
    return _JUNK_RUN_PLUS.sub("", token) if BAD_CHAR.search(token) or " " in token else token


def split_scheme(raw: str) -> tuple[str | None, str]:
    """``'Bearer abc'`` -> ``('Bearer', 'abc')``; a bare token -> ``(None, token)``.

    The value has stray quotes, whitespace and invisible characters removed."""
    p = parse(raw)
    return p.scheme, p.value

