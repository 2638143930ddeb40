"""What authlens adds to mitmweb and the console UI: the 'authlens' content view and the comment
column. The comment and marker themselves are written by ``Annotate``."""

from __future__ import annotations

import logging
import time

from mitmproxy import ctx, http

from ..render import text
from . import compat
from .hooks import diagnosis_of

log = logging.getLogger("authlens")

VIEW_NAME = "authlens"
OWN_PRIORITY = 3.0
"""Above every built-in view (graphql 2, json 1, raw 0.1): "auto" picks authlens for diagnosed
flows."""


class ContentView:
    """The 'authlens' view, on the request and on the response: credential (redacted), decoded
    token header and claims with human times, countdown and age, the server's challenge, the
    findings with their fixes. "auto" picks it only for flows with a diagnosis, so every other
    body still shows as usual; for those flows it is there to pick by name."""

    def __init__(self, diagnose):
        self.diagnose = diagnose

    def load(self, loader):
        compat.register_contentview(VIEW_NAME, self.render, self.priority)

    def done(self):
        compat.unregister_contentview(VIEW_NAME)

    def render(self, flow, message) -> str:
        if not isinstance(flow, http.HTTPFlow):
            return "authlens: not an HTTP flow."
        _follow_selection(flow)
        return text.explain(self.diagnose.describe(flow), now=time.time(), width=WRAP)

    @staticmethod
    def priority(flow, message) -> float:
        if flow is not None:
            _follow_selection(flow)
        return OWN_PRIORITY if flow is not None and diagnosis_of(flow) else -1


WRAP = 80
"""Columns of the view's text: mitmweb (its detail pane is half the page) and the console show
it without wrapping."""


def _follow_selection(flow) -> None:
    """In mitmweb, make ``@focus`` the flow the page shows. The page keeps its selection to
    itself and asks only for the selected flow's content (this view is consulted for it), while
    ``@focus`` resolves to the server's view focus, which otherwise stays on an older flow."""
    try:
        if "web_columns" not in ctx.options:  # the console's focus is its selection already
            return
        view = ctx.master.addons.get("view")
        if view is not None and view.focus.flow is not flow and flow in view:
            view.focus.flow = flow
    except (AttributeError, ValueError):  # driven without a master (tests)
        pass


class CommentColumn:
    """Under mitmweb, shows the comment column, where each diagnosed flow's verdict is.

    Only while ``web_columns`` is mitmproxy's default: columns the user chose (``--set
    web_columns=...``, config.yaml) are left exactly as they are. Nothing happens in mitmdump
    and the console UI (no such option) or with ``authlens_annotate`` off.
    """

    def running(self):
        options = ctx.options
        if "web_columns" not in options or not options.authlens_annotate:
            return
        if options.has_changed("web_columns"):
            log.debug("authlens: web_columns set by the user; comment column not added")
            return
        compat.ensure_web_column(options, "comment")
