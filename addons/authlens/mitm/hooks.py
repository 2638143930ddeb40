"""What every part of the addon shares: the one guard at mitmproxy's boundary and the diagnosis
stored on a flow."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from mitmproxy import flow as mflow

from ..secrecy import redact_url

log = logging.getLogger("authlens")

METADATA_KEY = "authlens"


RAISE_ENV = "AUTHLENS_RAISE"
RAISE = os.environ.get(RAISE_ENV) == "1"
"""Let internal errors through (the test suite sets AUTHLENS_RAISE=1, so a bug fails a test)."""


def guarded(hook: Callable, *args) -> Any:
    """Call one of authlens' hooks for mitmproxy; an internal error becomes one warning with its
    traceback (never an error: on ``-nr`` mitmdump exits on one) and the proxy goes on."""
    try:
        return hook(*args)
    except Exception:  # noqa: BLE001 - the proxy must keep running whatever happens
        if RAISE:
            raise
        where = _failed_on(args)
        log.warning("authlens: internal error in %s%s; please report it with this traceback",
                    getattr(hook, "__qualname__", hook), f" on {where}" if where else "",
                    exc_info=True)
        return None


def never_raises(hook):
    """``hook`` (a method) called through ``guarded``: for the few entry points mitmproxy calls
    outside ``AuthLens``' hooks (an event loop callback, a content view)."""
    @functools.wraps(hook)
    def call(self, *args):
        return guarded(hook, self, *args)
    return call


def _failed_on(args: tuple) -> str:
    """The URL of the flow a hook failed on, credentials redacted ('' when there is none)."""
    try:
        flows = [a for a in args if hasattr(a, "request")]
        return redact_url(flows[0].request.url) if flows else ""
    except Exception:  # noqa: BLE001 - no request, or one too broken to have a URL
        return ""


def diagnosis_of(flow: mflow.Flow) -> dict | None:
    """The stored diagnosis of a flow (from this session or read back from a .flow file)."""
    value = flow.metadata.get(METADATA_KEY)
    return value if isinstance(value, dict) else None
