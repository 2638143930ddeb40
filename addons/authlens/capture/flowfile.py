"""``.flow`` files (mitmproxy's own format) -> ``Exchange``s, without building mitmproxy flows.

Each record is read with ``tnet.parse`` restricted to the fields authlens looks at. Records in an
older flow format are read whole and upgraded by mitmproxy's own ``migrate_flow``. The views are
built by the same functions the live adapter uses, so both give equal ``Exchange``s.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager

from mitmproxy.io import compat
from mitmproxy.version import FLOW_FORMAT_VERSION

from ..mitm.adapter import TLS_KEY, connection_of, exchange_from_record
from ..model import Exchange
from . import tnet

_REQUEST = dict.fromkeys(("method", "scheme", "host", "port", "path", "http_version", "headers",
                          "content", "timestamp_start"))
_RESPONSE = dict.fromkeys(("status_code", "reason", "headers", "content", "timestamp_start"))
SELECT = {"version": None, "type": None, "id": None, "client_conn": {"peername": None},
          "request": _REQUEST, "response": _RESPONSE, "error": {"msg": None},
          "server_conn": {"tls_established": None, "error": None},
          "metadata": {TLS_KEY: None}}


@contextmanager
def mapped(path: str):
    """The file's bytes, memory-mapped (nothing is read until touched; empty files work)."""
    with open(path, "rb") as fo:
        try:
            buf = mmap.mmap(fo.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            yield b""
            return
        try:
            yield buf
        finally:
            buf.close()


def read_state(record: bytes) -> dict:
    """The parts of one flow record authlens reads, in the current flow format."""
    state, _ = tnet.parse(record, 0, SELECT)
    if state.get("version") != FLOW_FORMAT_VERSION:  # older file (or bytes keys): upgrade
        state = compat.migrate_flow(tnet.parse(record)[0])
    return state


def exchange_from_state(state: dict) -> Exchange | None:
    """The exchange of an HTTP flow's state; None for other flows (TCP, UDP, DNS)."""
    if state.get("type") != "http":
        return None
    req, resp = state["request"], state.get("response")
    request = (req["method"], req["scheme"], req["host"], req["port"], req["path"],
               req["http_version"], req["headers"], req["content"], req["timestamp_start"])
    response = None
    if resp:
        response = (resp["status_code"], resp["reason"], resp["headers"], resp["content"],
                    resp["timestamp_start"])
    peer = (state.get("client_conn") or {}).get("peername")
    server = state.get("server_conn") or {}
    connection = connection_of((state.get("error") or {}).get("msg") or "",
                               bool(server.get("tls_established")), server.get("error") or "",
                               (state.get("metadata") or {}).get(TLS_KEY))
    return exchange_from_record((state["id"], peer, request, response), connection)


def exchanges(path: str, start: int = 0, end: int | None = None) -> Iterator[Exchange]:
    """The HTTP exchanges of ``path`` (or of the records in byte range ``start:end``)."""
    with mapped(path) as buf:
        for first, stop in tnet.spans(buf, start, end):
            exchange = exchange_from_state(read_state(buf[first:stop]))
            if exchange is not None:
                yield exchange
