"""mitmproxy data -> the core's neutral views (and nothing else).

``request_view``/``response_view`` hold the policy (which bodies are read, how far, decoded how)
and are shared by the live adapter (``exchange_from_flow``) and the capture readers
(``authlens.capture``), so a flow gives the same ``Exchange`` whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from mitmproxy import http
from mitmproxy.net import encoding
from mitmproxy.net.http import url as mitm_url

from ..model import Exchange, HeaderFields, RequestView, ResponseView, header_value, header_values
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
    """What authlens needs of a flow as plain, picklable data: mitmproxy's raw fields (the
    layout of a .flow file's state), with only the bodies the views keep. Cheap to take on the
    proxy's thread; ``exchange_from_record`` turns it into views, possibly in another process."""
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


def exchange_from_record(record: tuple) -> Exchange:
    flow_id, peer, request, response = record
    method, scheme, host, port, path, version, fields, body, sent = request
    method = text_of(method).upper()
    url = request_url(method, text_of(scheme), text_of(host), port, text_of(path))
    request = request_view(method, url, str_fields(fields), body, sent, text_of(version))
    if response is not None:
        status, reason, fields, body, received = response
        response = response_view(status, reason.decode("ISO-8859-1"), str_fields(fields), body,
                                 received)
    return Exchange(request, response, id=flow_id, client=client_key(peer))


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    return exchange_from_record(record_of(flow))
