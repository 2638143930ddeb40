"""Throwaway addon for the harness tests: annotates every response it sees."""

import logging


def response(flow):
    flow.comment = "seen"
    flow.marked = ":no_entry:"
    logging.info(f"addon_seen: {flow.request.path} -> {flow.response.status_code}")


def done():
    logging.info("addon_seen: done")
