"""WWW-Authenticate / Proxy-Authenticate parsing (the checks that judge them: ``challenge_checks``).

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

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .caching import Memo
from .model import ResponseView

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
