"""mitmproxy data -> the core's neutral views (and nothing else).

``request_view``/``response_view`` hold the policy (which bodies are read, how far, decoded how)
and are shared by the live adapter (``exchange_from_flow``) and the capture readers
(``authlens.capture``), so a flow gives the same ``Exchange`` whichever way it arrives.
"""

from __future__ import annotations

from typing import Iterable, Optional
from urllib.parse import urlsplit

from mitmproxy import http
from mitmproxy.net import encoding

from ..model import Exchange, HeaderFields, RequestView, ResponseView, header_value, header_values
from ..oauth.grants import is_token_path

# Response bodies are read only where an error can be in them, and only this much.
BODY_LIMIT = 256 * 1024


def str_fields(fields: Iterable[tuple[bytes, bytes]]) -> HeaderFields:
    """mitmproxy's raw header fields as ``str`` pairs (UTF-8, surrogateescape: no byte lost)."""
    return tuple((k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                 for k, v in fields)


def _decoded(raw: Optional[bytes], fields: HeaderFields, decode: bool) -> bytes:
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


def request_view(method: str, url: str, fields: HeaderFields, raw_body: Optional[bytes],
                 timestamp: Optional[float], http_version: str, decode: bool = True) -> RequestView:
    """The request view; its body only for token endpoint calls (grant, client id and credentials
    in a form, in JSON at some well-known endpoints). ``decode=False``: body already decoded (HAR)."""
    content_type = header_value(fields, "content-type") or ""
    matters = method == "POST" and ("form" in content_type or (
        "json" in content_type and is_token_path(urlsplit(url).path)))
    body = _decoded(raw_body, fields, decode) if matters else b""
    return RequestView(method=method, url=url, headers=fields, body=body, timestamp=timestamp,
                       http_version=http_version)


def response_view(status: int, reason: str, fields: HeaderFields, raw_body: Optional[bytes],
                  timestamp: Optional[float], decode: bool = True) -> ResponseView:
    """The response view; its body only where an error or a token can be in it: any status >= 300,
    and small JSON or form 200s (Slack's ``ok:false``, token endpoint answers)."""
    content_type = header_value(fields, "content-type") or ""
    matters = status >= 300 or (("json" in content_type or "form" in content_type)
                                and len(raw_body or b"") <= BODY_LIMIT)
    body = _decoded(raw_body, fields, decode) if matters else b""
    return ResponseView(status=status, headers=fields, body=body, reason=reason,
                        timestamp=timestamp)


def client_key(peername) -> str:
    return f"{peername[0]}" if peername else ""


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    req = flow.request
    request = request_view(req.method, req.url, str_fields(req.headers.fields), req.raw_content,
                           req.timestamp_start, req.http_version)
    response = None
    if flow.response is not None:
        resp = flow.response
        response = response_view(resp.status_code, resp.reason, str_fields(resp.headers.fields),
                                 resp.raw_content, resp.timestamp_start)
    return Exchange(request, response, id=flow.id, client=client_key(flow.client_conn.peername))
