"""Times as a person reads them at 2 a.m.: ``expired 14 min ago (10:02:11Z)``."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from .caching import Memo

MAX_EPOCH = 253402300799.0
"""9999-12-31 23:59:59Z, the last second a ``datetime`` can show."""


def epoch(value) -> float | None:
    """A claim or field read as a time: a finite number a calendar can show, else None (a JWT's
    ``exp`` may be ``NaN``, ``1e400`` or ``true`` after JSON decoding)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        moment = float(value)
    except OverflowError:  # an int with hundreds of digits
        return None
    return moment if math.isfinite(moment) and -MAX_EPOCH <= moment <= MAX_EPOCH else None


def _utc(epoch: float) -> str:
    """``2026-11-23 10:02:11Z``."""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{epoch!r} (out of range)"


utc = Memo(_utc, 4096, 0).__getitem__
"""A moment as ``2026-11-23 10:02:11Z`` (a refused call shows the same ones several times)."""


def clock(epoch: float) -> str:
    """``09:02:11Z``: the time of day, for events of one session."""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{epoch!r} (out of range)"


def count(n: int, noun: str) -> str:
    """``1 flow``, ``2 flows``, ``0 flows``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(seconds: float) -> str:
    """``45 s``, ``14 min``, ``3 h 5 min``, ``2 days``."""
    if not math.isfinite(seconds):
        return f"{seconds!r} s"
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = int(minutes // 60)
    if hours < 48:
        rest = int(minutes - hours * 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{seconds / 86400:.0f} days"


def relative(moment: float, now: float) -> str:
    """``14 min ago`` or ``in 3 h 5 min``."""
    delta = moment - now
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"
