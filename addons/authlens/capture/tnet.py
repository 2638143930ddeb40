"""Just enough tnetstring to read ``.flow`` files fast.

A ``.flow`` file is a run of tnetstrings (``<length>:<payload><tag>``), one per flow. Because every
value states its length, records can be found, and the parts of a flow authlens does not read
(certificates, timings, websocket messages) skipped, without parsing them. ``select`` says what
to keep: ``None`` keeps a value whole, a dict keeps only the named keys of a dict value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_MAX_DIGITS = 12


def _head(buf, pos: int) -> tuple[int, int]:
    """(payload start, payload end) of the value at ``pos``; its tag is ``buf[end]``."""
    colon = buf.find(b":", pos, pos + _MAX_DIGITS)
    if colon < 0:
        raise ValueError(f"not a tnetstring at offset {pos}")
    start = colon + 1
    return start, start + int(buf[pos:colon])


class Truncated(ValueError):
    """The value at ``offset`` claims more bytes than the file has: the file was cut there."""

    def __init__(self, offset: int, size: int):
        super().__init__(f"the record at byte {offset} is cut off (the file ends at byte {size})")
        self.offset = offset


def spans(buf, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of each top-level value in ``buf[start:end]``, payloads unread; raises
    ``Truncated`` at a value that runs past the end, after the whole ones before it."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        _, stop = _head(buf, pos)
        if stop + 1 > end:
            raise Truncated(pos, end)
        yield pos, stop + 1
        pos = stop + 1


def parse(buf, pos: int = 0, select: dict | None = None) -> tuple[Any, int]:
    """The value at ``pos`` (restricted to ``select``) and the offset after it."""
    start, end = _head(buf, pos)
    tag = buf[end]
    if tag == 0x7D:  # } dict
        return (_parse_dict(buf, start, end) if select is None
                else _select_dict(buf, start, end, select)), end + 1
    if tag == 0x2C:  # , bytes
        return bytes(buf[start:end]), end + 1
    if tag == 0x3B:  # ; str
        return bytes(buf[start:end]).decode("utf-8", "surrogateescape"), end + 1
    if tag == 0x23:  # # int
        return int(buf[start:end]), end + 1
    if tag == 0x5E:  # ^ float
        return float(buf[start:end]), end + 1
    if tag == 0x5D:  # ] list
        items = []
        at = start
        while at < end:
            item, at = parse(buf, at, select)
            items.append(item)
        return items, end + 1
    if tag == 0x21:  # ! bool
        return buf[start:end] == b"true", end + 1
    if tag == 0x7E:  # ~ null
        return None, end + 1
    raise ValueError(f"unknown tnetstring tag {chr(tag)!r} at offset {end}")


def _parse_dict(buf, start: int, end: int) -> dict:
    out = {}
    at = start
    while at < end:
        key, at = parse(buf, at)
        out[key], at = parse(buf, at)
    return out


def _select_dict(buf, start: int, end: int, select: dict) -> dict:
    """Only the selected keys; the key strings are compared as raw bytes and the other values
    are stepped over by their length (the hot path of a scan)."""
    wanted = _raw_keys(select)
    out = {}
    at = start
    find = buf.find
    while at < end:
        colon = find(b":", at, at + _MAX_DIGITS)
        key_start = colon + 1
        key_end = key_start + int(buf[at:colon])
        at = key_end + 1
        key = wanted.get(buf[key_start:key_end])
        if key is None:
            colon = find(b":", at, at + _MAX_DIGITS)
            at = colon + 2 + int(buf[at:colon])
        else:
            out[key], at = parse(buf, at, select[key])
    return out


_RAW_KEYS: dict[int, dict] = {}


def _raw_keys(select: dict) -> dict:
    """``{b"name": "name"}`` for a selection (cached: selections are module constants)."""
    raw = _RAW_KEYS.get(id(select))
    if raw is None:
        raw = _RAW_KEYS[id(select)] = {key.encode(): key for key in select}
    return raw
