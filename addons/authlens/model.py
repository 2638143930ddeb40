"""Neutral views of one HTTP exchange, and what the core says about it.

Nothing here knows mitmproxy: adapters (``authlens.mitm``, ``authlens.capture``) build these views
from live flows, ``.flow`` files and HAR; the core (``authlens.analyze``) reads them and returns a
:class:`Diagnosis` made of :class:`Finding` objects whose ids come from ``authlens.catalog``.

Header values are ``str`` decoded as UTF-8 with ``surrogateescape`` (as mitmproxy does), so every
byte the client sent, invisible characters included, is still there to be linted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import catalog
from .caching import once

HeaderFields = tuple[tuple[str, str], ...]

# The shape nearly every request URL has: scheme://host[:port][/path][?query][#fragment], with an
# ASCII host, no userinfo, IPv6 literal, backslash, whitespace or control character (the cases
# where urlsplit strips, rewrites or raises). Such URLs are split here in one match, several
# times faster than urlsplit + hostname on a URL never seen before; every other URL goes to
# urlsplit. A test holds the two to the same answers.
_PLAIN_URL = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#@\[\]\\\x00-\x20\x7f-\U0010ffff]*)"
    r"((?:/[^?#\\\x00-\x20\x7f]*)?)(?:\?([^#\\\x00-\x20\x7f]*))?(?:#[^\\\x00-\x20\x7f]*)?")

_DEFAULT_PORTS = {"http": 80, "https": 443}

Verdict = catalog.Verdict
VERDICT_AUTHENTICATION = Verdict.AUTHENTICATION
VERDICT_AUTHORIZATION = Verdict.AUTHORIZATION
VERDICT_UNKNOWN = Verdict.UNKNOWN


def header_values(fields: HeaderFields, name: str) -> list[str]:
    """All values of header ``name`` (case-insensitive), in the order they were sent."""
    wanted = name.lower()
    return [value for key, value in fields if key.lower() == wanted]


def header_value(fields: HeaderFields, name: str) -> str | None:
    """The first value of header ``name``, or None."""
    wanted = name.lower()
    for key, value in fields:
        if key.lower() == wanted:
            return value
    return None


class _HeaderLookup:
    """``header``/``header_all`` through a lower-cased index of first values, built on first use
    (checks look headers up dozens of times per exchange, nearly always for one value)."""

    headers: HeaderFields

    @once
    def _first_values(self) -> dict[str, str]:
        return {key.lower(): value for key, value in reversed(self.headers)}

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return self._first_values.get(name.lower())

    def header_all(self, name: str) -> list[str]:
        """All values of header ``name`` (case-insensitive), in the order they were sent. Reads
        the index when it is built, and does not build it (most views get one such call)."""
        wanted = name.lower()
        index = self.__dict__.get("_first_values")
        if index is not None and wanted not in index:
            return []
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True)
class RequestView(_HeaderLookup):
    """The request as the client sent it."""

    method: str
    url: str
    headers: HeaderFields = ()
    body: bytes = b""
    timestamp: float | None = None
    """When the request was sent (epoch seconds); token times are judged against it."""
    http_version: str = "HTTP/1.1"

    @once
    def _parts(self):
        return urlsplit(self.url)

    def _split(self) -> str:
        """Split the URL once into ``scheme``, ``host`` (lower-cased, as urlsplit and
        ``hostname`` give them), ``path`` (path and query, as sent) and ``query``; returns the
        host. Whichever is read first splits, and the others are then plain attributes."""
        plain = _PLAIN_URL.fullmatch(self.url)
        if plain is not None:
            scheme, authority, path, query = plain.groups()
            host, _, port = authority.partition(":")
            host, query = host.lower(), query or ""
            if not port or (port.isdigit() and port.isascii() and int(port) <= 65535):
                self.__dict__["port"] = int(port or 0) or _DEFAULT_PORTS.get(scheme.lower())
        else:
            parts = self._parts
            scheme, host, path, query = parts.scheme, parts.hostname or "", parts.path, parts.query
            host = host.lower()
        attributes = self.__dict__
        attributes["scheme"], attributes["host"], attributes["query"] = scheme.lower(), host, query
        attributes["path"] = path + "?" + query if query else path
        return host

    @once
    def scheme(self) -> str:
        self._split()
        return self.__dict__["scheme"]

    @once
    def host(self) -> str:
        return self._split()

    @once
    def port(self) -> int | None:
        """The port the request went to (the scheme's default when the URL names none; None
        when it is not a port). A plain URL's is set when it is split."""
        self._split()
        if "port" in self.__dict__:
            return self.__dict__["port"]
        try:
            return self._parts.port or _DEFAULT_PORTS.get(self.scheme)
        except ValueError:
            return None

    @once
    def path(self) -> str:
        """Path and query, as sent."""
        self._split()
        return self.__dict__["path"]

    @once
    def query(self) -> str:
        self._split()
        return self.__dict__["query"]


@dataclass(frozen=True)
class ResponseView(_HeaderLookup):
    """The response as the server sent it."""

    status: int
    headers: HeaderFields = ()
    body: bytes = b""
    reason: str = ""
    timestamp: float | None = None


@dataclass(frozen=True)
class Connection:
    """What the proxy saw of its connection to the server below HTTP: neutral facts from the
    adapter (its words, not a diagnosis); ``authlens.mtls`` decides what they mean."""

    error: str = ""
    """Why the exchange has no response, in the proxy's words (``server closed connection``)."""
    tls: bool = False
    """TLS to the server was established."""
    tls_error: str = ""
    """The TLS handshake failure, or an alert the server sent after the handshake."""
    cert_requested: bool = False
    """The server asked for a client certificate (a CertificateRequest naming the CAs it takes)."""
    cert_authorities: tuple[str, ...] = ()
    """The CAs that CertificateRequest named."""
    cert_sent: bool = False
    """The proxy had a client certificate to send."""


@dataclass(frozen=True)
class Exchange:
    """One request and, when there was one, its response."""

    request: RequestView
    response: ResponseView | None = None
    id: str = ""
    client: str = ""
    """Who sent it (peer address or another stable client key), for cross-flow tracking."""
    connection: Connection | None = None
    """Facts about the connection to the server, when the proxy had any worth passing on."""


def plain(value: Any) -> Any:
    """``value`` with every string made UTF-8-encodable: a raw byte kept by ``surrogateescape``
    (from a header or body the client sent) becomes the text ``\\xNN``. Messages and redacted
    values quote what was sent, and a ``.flow`` file cannot store a lone surrogate."""
    if isinstance(value, str):
        if type(value) is not str:  # a Verdict: stored as its plain string
            value = str(value)
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape" if _only_escaped_bytes(value)
                                else "backslashreplace").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def plain_with_json(value: Any) -> tuple[Any, str]:
    """``plain(value)`` and its (ASCII) JSON text. The JSON encoder checks every string at C
    speed: a text without a ``\\ud`` escape had no surrogate, so nothing needed ``plain``'s
    rewriting (a character beyond the BMP, escaped as a pair, takes the slow path too)."""
    try:
        text: str | None = json.dumps(value)
    except (TypeError, ValueError):  # a value JSON cannot take: plain() makes it one
        text = None
    if text is not None and "\\ud" not in text:
        return value, text
    value = plain(value)
    return value, json.dumps(value)


def _only_escaped_bytes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


STATEMENT = ("from", "server statement")
"""Evidence of a finding drawn from the server's words (``statements``, a rule's error code): the
analyzer drops it when another check found the same id, which the words then only confirm."""


def link_dict(link: tuple[str, str, str]) -> dict:
    relation, flow_id, description = link
    return {"relation": relation, "flow": flow_id, "description": description}


def on_failure(check):
    """Mark a check that can only find something when the call did not plainly succeed (see
    ``analyze.Context.succeeded``): the analyzer skips it on successful calls, most of the
    traffic. A test holds every marked check to that."""
    check.on_failure = True
    return check


def per_credentials(check):
    """Mark a check that reads only the request's credentials, the scheme and host it went to,
    and the settings (``analyze.RequestSide``): on a successful call the analyzer runs it on those
    alone and reuses its findings for the next call that sends the same credentials there."""
    check.per_credentials = True
    return check


def always_quiet(self, flow_id: str, client: str, sent: float, tokens) -> bool:
    """A tracker's ``quiet`` when a quiet success is never anything it must remember: the gate
    then does not call it at all."""
    return True


@dataclass(frozen=True)
class Finding:
    """One thing the core noticed. ``id`` is a catalog id; ``message`` is specific and redacted."""

    id: str
    message: str
    evidence: tuple[tuple[str, Any], ...] = ()
    """Plain-typed facts behind the message, e.g. (("char", "U+200B"), ("position", 12))."""
    verdict: str | None = None
    """Overrides the catalog's verdict where the finding itself decides it (a vendor error code)."""
    links: tuple[tuple[str, str, str], ...] = ()
    """Other flows behind this finding: (relation, flow id, one-line description)."""

    @once
    def entry(self) -> catalog.Entry:
        """Its catalog entry (read a dozen times per refused flow: looked up once)."""
        return catalog.get(self.id)

    @property
    def severity(self) -> str:
        return self.entry.severity

    @property
    def effective_verdict(self) -> str | None:
        return self.verdict or self.entry.verdict

    @property
    def fix(self) -> str:
        """The catalog's fix; for a generic finding followed by what the server said."""
        entry = self.entry
        if not entry.generic:
            return entry.fix
        said = next((v for k, v in self.evidence if k in ("message", "error_description")), None)
        return f"{entry.fix} The server said: {str(said)!r}." if said else entry.fix

    def to_dict(self) -> dict:
        entry = self.entry
        out: dict[str, object] = {
            "id": self.id,
            "severity": entry.severity,
            "title": entry.title,
            "message": self.message,
            "fix": self.fix,
            "cite": entry.cite,
        }
        if self.evidence:
            out["evidence"] = {key: value for key, value in self.evidence}
        verdict = self.effective_verdict
        if verdict:
            out["verdict"] = str(verdict)  # the enum's plain string, as JSON and flow metadata keep it
        if self.links:
            out["links"] = [link_dict(link) for link in self.links]
        return out


@dataclass
class Diagnosis:
    """Everything the core concluded about one exchange, in plain, redacted terms."""

    url: str
    method: str
    status: int | None
    findings: list[Finding] = field(default_factory=list)
    verdict: str | None = None
    """authentication / authorization / unknown for a refused call; None when nothing went wrong."""
    cause: str | None = None
    summary: str = ""
    credentials: list[dict] = field(default_factory=list)
    tokens: list[dict] = field(default_factory=list)
    challenges: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    """Other flows this one is tied to (the token endpoint call that issued its token, the
    redirect that dropped its credential, ...), gathered from the findings."""

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def noteworthy(self) -> bool:
        """True when the exchange deserves an annotation: a verdict, or a warning or worse."""
        return self.verdict is not None or any(f.severity != "info" for f in self.findings)

    @property
    def cause_finding(self) -> Finding | None:
        return next((f for f in self.findings if f.id == self.cause), None)

    def to_dict(self) -> dict:
        """Plain types only (safe for ``flow.metadata``, JSON and ``.flow`` files)."""
        return self.to_dict_and_json()[0]

    def to_dict_and_json(self) -> tuple[dict, str]:
        """``to_dict()`` and its JSON text, made in one pass (C-speed) where no string holds a
        raw byte, as nearly always."""
        return plain_with_json({
            "url": self.url,
            "method": self.method,
            "status": self.status,
            "verdict": str(self.verdict) if self.verdict else self.verdict,
            "cause": self.cause,
            "summary": self.summary,
            "findings": [f.to_dict() for f in self.findings],
            "credentials": self.credentials,
            "tokens": self.tokens,
            "challenges": self.challenges,
            "links": self.links,
        })
