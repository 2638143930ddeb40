"""``authlens.har PATH``: the flows in view as a HAR 1.2 file whose entries carry their diagnosis
(entry ``comment`` and ``_authlens``), redacted unless ``authlens_reveal`` is on. mitmproxy's own
``save.har`` drops flow comments; this keeps what authlens found wherever the file goes."""

from __future__ import annotations

import logging

import mitmproxy.types
from mitmproxy import command, exceptions, http

from ..capture import harexport
from .commands import flows_in_view
from .hooks import diagnosis_of

log = logging.getLogger("authlens")


class HarCommand:
    def __init__(self, diagnose):
        self.diagnose = diagnose

    @command.command("authlens.har")
    def har(self, path: mitmproxy.types.Path) -> None:
        """Write the flows in view as HAR, each entry with its diagnosis (redacted)."""
        shown = flows_in_view("authlens.har", "write flows with -w and run: authlens scan FILE "
                                              "--har-out OUT.har")
        flows = [f for f in shown if isinstance(f, http.HTTPFlow)]
        reveal = self.diagnose.analyzer.settings.reveal
        har_text = harexport.make_har(flows, lambda _, f: diagnosis_of(f), reveal)
        try:
            harexport.write(str(path), har_text)
        except OSError as exc:
            raise exceptions.CommandError(f"authlens.har: {exc}") from exc
        log.info("authlens: %d flows written as HAR to %s", len(flows), path)
