"""HAR files (browser and mitmproxy exports) -> ``Exchange``s.

HAR bodies are already decoded (``content.text``, base64 when ``encoding`` says so), so they go to
the shared view builders with ``decode=False``. HTTP/2 pseudo-headers (``:authority``) that some
browsers list among the headers are dropped: they were never header fields on the wire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime

from ..mitm.adapter import request_view, response_view
from ..model import Exchange


def load(path: str) -> dict:
    with open(path, "rb") as fo:
        return json.loads(fo.read().decode("utf-8-sig"))


def entries(har: dict) -> list:
    return har.get("log", {}).get("entries", [])


def timestamp(started: str | None) -> float | None:
    """ISO 8601 ``startedDateTime`` -> epoch seconds (``Z`` spelled out for Python 3.10)."""
    if not started:
        return None
    try:
        return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _fields(headers: list) -> tuple:
    return tuple((h["name"], h["value"]) for h in headers if not h["name"].startswith(":"))


def _content(content: dict | None) -> bytes:
    if not content or content.get("text") is None:
        return b""
    text = content["text"]
    if content.get("encoding") == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8", "surrogateescape")


def exchange_from_entry(entry: dict, index: int = 0) -> Exchange:
    req = entry["request"]
    sent = timestamp(entry.get("startedDateTime"))
    request = request_view(req["method"].upper(), req["url"], _fields(req.get("headers", [])),
                           _content(req.get("postData")), sent, req.get("httpVersion", ""),
                           decode=False)
    response = None
    resp = entry.get("response") or {}
    if resp.get("status"):  # browsers write status 0 for requests that got no response
        response = response_view(resp["status"], resp.get("statusText", ""),
                                 _fields(resp.get("headers", [])), _content(resp.get("content")),
                                 None, decode=False)
    return Exchange(request, response, id=str(index))  # HAR has no flow ids: the entry index


def exchanges(path: str) -> Iterator[Exchange]:
    for index, entry in enumerate(entries(load(path))):
        yield exchange_from_entry(entry, index)
