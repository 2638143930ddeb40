"""Small shims over the mitmproxy 11 / 12 API differences (see docs/mitmproxy-11-vs-12.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mitmproxy import contentviews, http
from mitmproxy import flow as mflow
from mitmproxy.version import VERSION

logger = logging.getLogger(__name__)

MITMPROXY_MAJOR = int(VERSION.split(".")[0])

Render = Callable[[mflow.Flow | None, http.Message | None], str]
Priority = Callable[[mflow.Flow | None, http.Message | None], float]

_registered: dict[str, object] = {}
"""Contentviews registered through this module, by lower-cased name."""


def _make_view_12(name: str, render: Render, priority: Priority | None):
    class _View(contentviews.Contentview):  # type: ignore[name-defined]
        @property
        def name(self) -> str:
            return name

        def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:  # type: ignore[name-defined]
            return render(metadata.flow, metadata.http_message)

        def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:  # type: ignore[name-defined]
            return priority(metadata.flow, metadata.http_message) if priority else 0

    return _View()


def _make_view_11(name: str, render: Render, priority: Priority | None):
    from mitmproxy.contentviews.base import View

    class _View(View):
        def __call__(self, data: bytes, *, flow=None, http_message=None, **unknown_metadata):
            text = render(flow, http_message)
            return name, iter([[("text", line)] for line in text.splitlines()])

        def render_priority(self, data: bytes, *, flow=None, http_message=None, **unknown_metadata):
            return priority(flow, http_message) if priority else 0

    _View.name = name
    return _View()


def register_contentview(name: str, render: Render, priority: Priority | None = None) -> None:
    """Register (or replace) contentview ``name`` whose text is ``render(flow, http_message)``.

    ``http_message`` is the request *or* the response being shown (None for non-HTTP data).

    ``priority(flow, http_message) -> float`` makes it eligible for "auto" (raw is 0.1);
    without it the view is only used when picked by name. Safe to call again (script reloads).
    """
    unregister_contentview(name)
    if MITMPROXY_MAJOR >= 12:
        view = _make_view_12(name, render, priority)
    else:
        view = _make_view_11(name, render, priority)
        if existing := contentviews.get(name):  # 11 raises on duplicate names
            contentviews.remove(existing)  # type: ignore[arg-type]
    contentviews.add(view)
    _registered[name.lower()] = view


def unregister_contentview(name: str) -> None:
    """Remove contentview ``name`` if this module registered it (no-op otherwise)."""
    view = _registered.pop(name.lower(), None)
    if view is None:
        return
    if MITMPROXY_MAJOR >= 12:
        # 12 has no public removal API (contentviews.remove is a deprecated no-op).
        if contentviews.registry._by_name.get(name.lower()) is view:  # type: ignore[attr-defined]
            del contentviews.registry._by_name[name.lower()]  # type: ignore[attr-defined]
    elif view in contentviews.views:  # type: ignore[attr-defined]
        contentviews.remove(view)  # type: ignore[arg-type]


def ensure_web_column(options, column: str = "comment") -> bool:
    """Append ``column`` to mitmweb's ``web_columns`` unless absent (mitmdump) or already shown.

    Keeps the user's columns and their order. Returns True if the option was changed.
    """
    if "web_columns" not in options or column in options.web_columns:
        return False
    options.update(web_columns=[*options.web_columns, column])
    logger.debug(f"web_columns: added {column!r}")
    return True
