"""Throwaway addon for the harness tests: annotates every response it sees."""

import logging

log = logging.getLogger(__name__)


def response(flow):
    flow.comment = "seen"
    flow.marked = ":no_entry:"
    log.info(f"addon_seen: {flow.request.path} -> {flow.response.status_code}")


def done():
    log.info("addon_seen: done")
