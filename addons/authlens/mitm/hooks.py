"""What every addon class shares: the hook guard and the diagnosis stored on a flow."""

from __future__ import annotations

import functools
import logging

from mitmproxy import flow as mflow

from ..secrecy import redact_url

log = logging.getLogger("authlens")

METADATA_KEY = "authlens"


def never_raises(hook):
    """Log an internal error in one line instead of letting it reach mitmproxy."""
    @functools.wraps(hook)
    def guarded(self, *args):
        try:
            return hook(self, *args)
        except Exception as exc:  # noqa: BLE001 - the proxy must keep running whatever happens
            where = _failed_on(args)
            log.error("authlens: internal error in %s%s: %s: %s", hook.__name__,
                      f" on {where}" if where else "", type(exc).__name__, exc)
            log.debug("authlens traceback", exc_info=True)
    return guarded


def _failed_on(args: tuple) -> str:
    """The URL of the flow a hook failed on, credentials redacted ('' when there is none)."""
    try:
        return redact_url(args[0].request.url) if args else ""
    except Exception:  # noqa: BLE001 - no request, or one too broken to have a URL
        return ""


def diagnosis_of(flow: mflow.Flow) -> dict | None:
    """The stored diagnosis of a flow (from this session or read back from a .flow file)."""
    value = flow.metadata.get(METADATA_KEY)
    return value if isinstance(value, dict) else None
