"""mitmproxy data -> the core's neutral views (and nothing else).

``request_view``/``response_view`` hold the policy (which bodies are read, how far, decoded how)
and are shared by the live adapter (``exchange_from_flow``) and the capture readers
(``authlens.capture``), so a flow gives the same ``Exchange`` whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from urllib.parse import urlsplit

from mitmproxy import http
from mitmproxy.net import encoding
from mitmproxy.net.http import url as mitm_url

from .. import credentials
from ..bodies import PRESET_ERRORS, may_be_error
from ..caching import Memo
from ..credentials import HEADER_KINDS
from ..model import (
    Connection,
    Exchange,
    HeaderFields,
    RequestView,
    ResponseView,
    header_value,
    header_values,
)
from ..oauth.grants import is_token_path

# Response bodies are read only where an error can be in them, and only this much.
BODY_LIMIT = 256 * 1024


def str_fields(fields: Iterable[tuple[bytes, bytes]]) -> HeaderFields:
    """mitmproxy's raw header fields as ``str`` pairs (UTF-8, surrogateescape: no byte lost)."""
    return tuple((k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                 for k, v in fields)


def _decoded(raw: bytes | None, fields: HeaderFields, decode: bool) -> bytes:
    """The body as ``Message.get_content(strict=False)`` gives it, cut at BODY_LIMIT."""
    if not raw:
        return b""
    content_encoding = ", ".join(header_values(fields, "content-encoding"))
    content = raw
    if decode and content_encoding:
        try:
            decoded = encoding.decode(raw, content_encoding)
            if isinstance(decoded, bytes):  # a str means an illegal byte->str encoding
                content = decoded
        except ValueError:  # undecodable content-encoding: keep the raw bytes
            pass
    return content[:BODY_LIMIT]


def request_view(method: str, url: str, fields: HeaderFields, raw_body: bytes | None,
                 timestamp: float | None, http_version: str, decode: bool = True) -> RequestView:
    """The request view; its body only for token endpoint calls (grant, client id and credentials
    in a form, in JSON at some well-known endpoints). ``decode=False``: body already decoded (HAR)."""
    content_type = header_value(fields, "content-type") or ""
    matters = method == "POST" and ("form" in content_type or (
        "json" in content_type and is_token_path(urlsplit(url).path)))
    body = _decoded(raw_body, fields, decode) if matters else b""
    return RequestView(method=method, url=url, headers=fields, body=body, timestamp=timestamp,
                       http_version=http_version)


def response_body_matters(status: int, content_type: str, size: int) -> bool:
    """Whether authlens reads a response body: any status >= 300, and small JSON or form 200s
    (Slack's ``ok:false``, token endpoint answers)."""
    return status >= 300 or (("json" in content_type or "form" in content_type)
                             and size <= BODY_LIMIT)


def response_view(status: int, reason: str, fields: HeaderFields, raw_body: bytes | None,
                  timestamp: float | None, decode: bool = True) -> ResponseView:
    """The response view; its body only where an error or a token can be in it
    (``response_body_matters``)."""
    content_type = header_value(fields, "content-type") or ""
    matters = response_body_matters(status, content_type, len(raw_body or b""))
    body = _decoded(raw_body, fields, decode) if matters else b""
    return ResponseView(status=status, headers=fields, body=body, reason=reason,
                        timestamp=timestamp)


def client_key(peername) -> str:
    return f"{peername[0]}" if peername else ""


def text_of(value) -> str:
    """A field of mitmproxy's data (bytes) as text, the way ``Request`` properties decode it."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def request_url(method: str, scheme: str, host: str, port: int, path: str) -> str:
    """``Request.url``: authority form for CONNECT, else scheme://host[:port]/path."""
    if method == "CONNECT":
        return f"{host}:{port}"
    return mitm_url.unparse(scheme, host, port, path)


def _first(fields: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in fields:
        if key.lower() == name:
            return value
    return b""


def record_of(flow: http.HTTPFlow) -> tuple:
    """What authlens needs of a flow as plain data: mitmproxy's raw fields (the layout of a
    .flow file's state, which ``capture.flowfile`` reads), with only the bodies the views keep."""
    req = flow.request.data
    request = (req.method, req.scheme, req.host, req.port, req.path, req.http_version,
               req.headers.fields, req.content if req.method == b"POST" else None,
               req.timestamp_start)
    response = None
    if flow.response is not None:
        resp = flow.response.data
        raw = resp.content
        keep = raw and response_body_matters(
            resp.status_code, _first(resp.headers.fields, b"content-type").decode("latin-1"),
            len(raw))
        response = (resp.status_code, resp.reason, resp.headers.fields, raw if keep else None,
                    resp.timestamp_start)
    return flow.id, flow.client_conn.peername, request, response


def exchange_from_record(record: tuple, connection: Connection | None = None) -> Exchange:
    flow_id, peer, request, response = record
    method, scheme, host, port, path, version, fields, body, sent = request
    method = text_of(method).upper()
    url = request_url(method, text_of(scheme), text_of(host), port, text_of(path))
    request = request_view(method, url, str_fields(fields), body, sent, text_of(version))
    if response is not None:
        status, reason, fields, body, received = response
        response = response_view(status, reason.decode("ISO-8859-1"), str_fields(fields), body,
                                 received)
    return Exchange(request, response, id=flow_id, client=client_key(peer), connection=connection)


TLS_KEY = "authlens_tls"
"""``flow.metadata`` key where ``mitm/tls.py`` keeps what the TLS hooks saw of the flow's server
connection (a CertificateRequest, an alert after the handshake): ``-nr`` and ``authlens scan``
read it back from the .flow file."""


def connection_of(error: str, tls: bool, tls_error: str, seen) -> Connection | None:
    """The connection facts of a flow: mitmproxy's error (``flow.error.msg``), the server
    connection's TLS state and error, and what ``TLS_KEY`` holds; None when there are none."""
    if not isinstance(seen, dict):
        seen = {}
    if not (error or tls_error or seen):
        return None
    authorities = seen.get("authorities")
    return Connection(
        error=error or "", tls=bool(tls), tls_error=tls_error or str(seen.get("alert") or ""),
        cert_requested=bool(seen.get("requested")), cert_sent=bool(seen.get("sent")),
        cert_authorities=tuple(str(a) for a in authorities)
        if isinstance(authorities, list) else ())


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    server = flow.server_conn
    connection = connection_of(flow.error.msg if flow.error else "", server.tls_established,
                               server.error or "", flow.metadata.get(TLS_KEY))
    return exchange_from_record(record_of(flow), connection)


QUIET_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"PATCH", b"DELETE"})
"""Methods whose body authlens never reads (no token endpoint, no form credentials, no CORS
preflight)."""
_LOUD_HEADERS = frozenset({b"www-authenticate", b"proxy-authenticate", b"set-cookie",
                           b"content-encoding"}
                          | {name.encode() for name in PRESET_ERRORS.headers})
"""A response with one of these is analysed in full (a challenge, a cookie the jar keeps, a body
that must be decoded to be read, an error code the presets read in a header on any host, such as
GitHub's ``X-GitHub-SSO: required`` on a 200). Reading the presets here, once at import, also
spares the first flow their loading."""
QUIET_KEY_CHARS = 8 * 1024
_RAW_HEADER_KINDS = Memo(lambda name: HEADER_KINDS[name.decode("utf-8", "surrogateescape")],
                         2048, 256)
"""``credentials.header_kind`` of a raw header name."""
_QUERY_HAS_CREDENTIALS = Memo(
    lambda query: bool(credentials.query_credentials(query.decode("utf-8", "surrogateescape"))),
    4096, 1024)
"""Whether a raw query string carries a credential."""


def _response_layout(*names: bytes) -> int | None:
    """For a response's header names: None when one makes it loud (``_LOUD_HEADERS``), else the
    index of its (last) Content-Type, -1 without one."""
    content_type = -1
    for i, name in enumerate(names):
        lower = name.lower()
        if lower in _LOUD_HEADERS:
            return None
        if lower == b"content-type":
            content_type = i
    return content_type


def _request_layout(*names: bytes) -> tuple[int, ...] | None:
    """For a request's header names: the indexes of its credential headers; None when it
    carries a DPoP proof (which the DPoP checks read)."""
    found = []
    for i, name in enumerate(names):
        if name.lower() == b"dpop":
            return None
        if _RAW_HEADER_KINDS[name] is not None:
            found.append(i)
    return tuple(found)


_RESPONSE_LAYOUTS = Memo(_response_layout, 1024, 2048)
_REQUEST_LAYOUTS = Memo(_request_layout, 1024, 2048)
"""Clients and servers send the same header names call after call: each list of names is read
once, and a call only looks its list up."""
_name_of = itemgetter(0)


def quiet_key(flow: http.HTTPFlow) -> tuple | None:
    """The key of a flow's request side for the cheap gate (``Analyzer.quiet``): its scheme,
    host and credential headers, when the flow is a success with nothing in the response to
    read (a 2xx without challenge, cookie, possible error body or key set), no credential in its
    query and no part in a sign-in (metadata, authorization request, DPoP proof). None: analyse
    it in full. Reads mitmproxy's raw fields, builds no view."""
    response = flow.response
    if response is None or flow.metadata or flow.comment or flow.marked:
        return None  # also a re-run of a flow authlens annotated
    resp = response.data
    if not 200 <= resp.status_code < 300:
        return None
    req = flow.request.data
    if req.method not in QUIET_METHODS and req.method.upper() not in QUIET_METHODS:
        return None
    fields = resp.headers.fields
    content_type = _RESPONSE_LAYOUTS[tuple(map(_name_of, fields))]
    if content_type is None:
        return None
    body = resp.content
    if body and content_type >= 0:
        value = fields[content_type][1]
        if (b"json" in value or b"form" in value) and (
                may_be_error(body) or body.find(b'"keys"') >= 0):  # or a JWKS (discovery)
            return None
    path = req.path
    if b"/.well-known/" in path:  # metadata documents the discovery tracker reads
        return None
    if b"?" in path:
        query = path.partition(b"?")[2]
        if b"response_type=" in query or _QUERY_HAS_CREDENTIALS[query]:
            return None
    fields = req.headers.fields
    credentials = _REQUEST_LAYOUTS[tuple(map(_name_of, fields))]
    if credentials is None:
        return None
    key: list = [req.scheme, req.host]
    size = 0
    for i in credentials:
        name, value = fields[i]
        key.append(value)
        key.append(name)
        size += len(value)
    return tuple(key) if size <= QUIET_KEY_CHARS else None
