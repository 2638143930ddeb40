"""mitmproxy flows -> the core's neutral views (and nothing else)."""

from __future__ import annotations

from mitmproxy import http

from ..model import Exchange, RequestView, ResponseView
from ..oauth.grants import is_token_path

# Response bodies are read only where an error can be in them, and only this much.
BODY_LIMIT = 256 * 1024


def _fields(headers) -> tuple:
    return tuple((k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                 for k, v in headers.fields)


def _body(message: http.Message) -> bytes:
    raw = message.raw_content
    if not raw:
        return b""
    try:
        content = message.get_content(strict=False) or b""
    except ValueError:  # undecodable content-encoding: keep the raw bytes
        content = raw
    return content[:BODY_LIMIT]


def _response_body_matters(response: http.Response) -> bool:
    if response.status_code >= 300:
        return True
    # 200s that are really errors (Slack ok:false) and token endpoint answers (access_token,
    # expires_in; GitHub's form-encoded one) are JSON or form, and small
    ctype = response.headers.get("content-type", "")
    return ("json" in ctype or "form" in ctype) and len(response.raw_content or b"") <= BODY_LIMIT


def _request_body_matters(request: http.Request) -> bool:
    # token endpoint calls (grant_type=...) carry the grant and the client id in the form (in
    # JSON at some well-known token endpoints)
    if request.method != "POST":
        return False
    ctype = request.headers.get("content-type", "")
    return "form" in ctype or ("json" in ctype and is_token_path(request.path))


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    request = flow.request
    request_view = RequestView(
        method=request.method,
        url=request.url,
        headers=_fields(request.headers),
        body=_body(request) if _request_body_matters(request) else b"",
        timestamp=request.timestamp_start,
        http_version=request.http_version,
    )
    response_view = None
    if flow.response is not None:
        response = flow.response
        response_view = ResponseView(
            status=response.status_code,
            headers=_fields(response.headers),
            body=_body(response) if _response_body_matters(response) else b"",
            reason=response.reason,
            timestamp=response.timestamp_start,
        )
    peer = flow.client_conn.peername
    return Exchange(request_view, response_view, id=flow.id,
                    client=f"{peer[0]}" if peer else "")
