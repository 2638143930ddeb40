"""``authlens.timeline``: the token timeline of the clients behind the selected flows
(``:authlens.timeline @focus`` in the console, or from mitmweb's command bar)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from mitmproxy import command, flow

from ..oauth import timeline

log = logging.getLogger("authlens")


class Timeline:
    def __init__(self, timelines_for: Callable[[list[str]], list[dict]]):
        self.timelines_for = timelines_for
        """Flow ids -> the timelines of their clients (``Diagnose.timelines_for``)."""

    @command.command("authlens.timeline")
    def timeline(self, flows: Sequence[flow.Flow]) -> str:
        """Issued, used, refreshed, expired, rejected: the life of the tokens in these flows."""
        found = self.timelines_for([f.id for f in flows])
        out = "\n\n".join(timeline.text(t) for t in found) or \
            "authlens: the proxy saw no token issued for these flows"
        log.info(out)
        return out
