"""Shareable copies of captures: the secrets of every flow (``.flow``) or entry (HAR) replaced by
``secrecy.Redactor``, which says what a secret is and what replaces it (``REDACTED-<fingerprint>``,
a JWT keeps its claims and loses its signature). URLs are read wherever they stand (the request
path, ``Location``, ``Referer``, ``Link`` targets), bodies as their ``Content-Type`` says, and
WebSocket, TCP and UDP messages like JSON bodies; then every secret seen so far is scrubbed
wherever it appears.
"""

from __future__ import annotations

import base64
import json

from mitmproxy import http, tcp, udp
from mitmproxy import io as mitm_io

from ..secrecy import PREFIX, Redactor, is_secret_param, placeholder  # noqa: F401 - re-exported
from . import har

# ---- files --------------------------------------------------------------------------------


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _message(message, redactor: Redactor) -> None:
    """Headers and body of a mitmproxy request/response, in place."""
    message.headers.fields = tuple(
        (k, redactor.header(_text(k), _text(v)).encode("utf-8", "surrogateescape"))
        for k, v in message.headers.fields)
    content = message.get_content(strict=False)
    if content:
        text = _text(content)
        redacted = redactor.body(text, message.headers.get("content-type", ""))
        if redacted != text:
            message.content = redacted.encode("utf-8", "surrogateescape")


def _frames(messages, redactor: Redactor) -> None:
    """WebSocket, TCP or UDP messages, in place: each one read like a body."""
    for message in messages:
        text = _text(message.content)
        redacted = redactor.body(text)
        if redacted != text:
            message.content = redacted.encode("utf-8", "surrogateescape")


def redact_flow(flow, redactor: Redactor) -> None:
    """One flow, in place: HTTP (with its WebSocket messages), TCP and UDP; then its comment and
    error message, once its own secrets are known. authlens's stored diagnosis is dropped (it is
    recomputed from the redacted copy)."""
    if isinstance(flow, http.HTTPFlow):
        _http_flow(flow, redactor)
    elif isinstance(flow, (tcp.TCPFlow, udp.UDPFlow)):
        _frames(flow.messages, redactor)
    if flow.error is not None:
        flow.error.msg = redactor.scrub(flow.error.msg)
    flow.comment = redactor.scrub(flow.comment)
    flow.metadata.pop("authlens", None)


def _http_flow(flow: http.HTTPFlow, redactor: Redactor) -> None:
    request = flow.request
    request.path = redactor.url(request.path)
    messages = [m for m in (request, flow.response) if m is not None]
    for message in messages + messages:  # twice: echoes of the secrets learned late
        _message(message, redactor)
    if flow.websocket is not None:
        _frames(flow.websocket.messages, redactor)
    request.path = redactor.scrub(request.path)


def redact_flow_file(source: str, target: str, redactor: Redactor) -> int:
    count = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        writer = mitm_io.FlowWriter(dst)
        for flow in mitm_io.FlowReader(src).stream():
            redact_flow(flow, redactor)
            writer.add(flow)
            count += 1
    return count


def _har_content(content: dict, redactor: Redactor) -> None:
    if not content or content.get("text") is None:
        return
    media = content.get("mimeType", "")
    if content.get("encoding") == "base64":
        text = _text(base64.b64decode(content["text"]))
        content["text"] = base64.b64encode(redactor.body(text, media).encode(
            "utf-8", "surrogateescape")).decode()
    else:
        content["text"] = redactor.body(content["text"], media)


def _har_message(message: dict, redactor: Redactor, content_key: str) -> None:
    for header in message.get("headers", []):
        header["value"] = redactor.header(header["name"], header["value"])
    for cookie in message.get("cookies", []):
        cookie["value"] = redactor.secret(cookie.get("value", ""))
    for param in message.get("queryString", []) + (message.get("postData") or {}).get("params", []):
        if is_secret_param(param["name"]) and param.get("value"):
            param["value"] = redactor.secret(param["value"])
    content = message.get(content_key) or {}
    _har_content(content, redactor)


def redact_har(har: dict, redactor: Redactor) -> str:
    """The redacted HAR, as JSON text (echoes scrubbed from the whole document)."""
    for entry in har.get("log", {}).get("entries", []):
        request = entry.get("request", {})
        request["url"] = redactor.url(request.get("url", ""))
        _har_message(request, redactor, "postData")
        response = entry.get("response", {})
        _har_message(response, redactor, "content")
        if response.get("redirectURL"):
            response["redirectURL"] = redactor.url(response["redirectURL"])
        for message in entry.get("_webSocketMessages") or ():  # Chromium's HAR extension
            if isinstance(message.get("data"), str):
                message["data"] = redactor.body(message["data"])
    return redactor.scrub(json.dumps(har, indent=2, ensure_ascii=False))


def redact_har_file(source: str, target: str, redactor: Redactor) -> int:
    document = har.load(source)
    with open(target, "w", encoding="utf-8") as out:
        out.write(redact_har(document, redactor) + "\n")
    return len(har.entries(document))
