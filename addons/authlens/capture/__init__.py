"""Captured sessions: ``.flow`` and HAR files read into the core's neutral ``Exchange``s.

``flowfile`` and ``har`` read one file each; ``scan`` runs the analyzer over many files, on every
core; ``redaction`` writes shareable copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..model import Exchange
from . import flowfile, har

SUFFIXES = (".flow", ".har", ".mitm", ".dump")


class CaptureError(Exception):
    """A path that is not a readable capture."""


def kind(path: str) -> str:
    """``har`` or ``flow``, by the first byte (as mitmproxy's reader does), not the name."""
    with open(path, "rb") as fo:
        head = fo.read(4)
    return "har" if head.lstrip(b"\xef\xbb\xbf").startswith(b"{") else "flow"


def expand(paths: Iterable[str], problems: list[str] | None = None) -> list[str]:
    """Files as given, folders as the captures under them (sorted). A path that does not exist,
    or a folder with no capture in it, raises; or, given ``problems``, is said there and
    skipped."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        problem = ""
        if p.is_dir():
            found = [str(f) for f in sorted(p.rglob("*")) if f.suffix in SUFFIXES and f.is_file()]
            out.extend(found)
            if not found:
                problem = f"{path}: no capture in this folder ({', '.join(SUFFIXES)})"
        elif p.is_file():
            out.append(str(p))
        else:
            problem = f"{path}: no such file or folder"
        if problem and problems is None:
            raise CaptureError(problem)
        if problem and problems is not None:
            problems.append(problem)
    return out


def exchanges(path: str) -> Iterator[Exchange]:
    """Every HTTP exchange in one capture file, in order."""
    try:
        reader = har.exchanges if kind(path) == "har" else flowfile.exchanges
        yield from reader(path)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CaptureError(f"{path}: not a readable .flow or HAR file ({exc})") from exc
