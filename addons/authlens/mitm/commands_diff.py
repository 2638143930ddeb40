"""``authlens.diff`` in mitmweb and the console UI: compare the auth of two selected flows.

    : authlens.diff @marked        (or two flow specs, e.g. ``@focus`` and ``~c 401``)

The differences are written to the event log, one aspect a line, working flow first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mitmproxy import command, exceptions, flow, http

from .. import compare
from ..secrecy import redact_url
from .adapter import exchange_from_flow

log = logging.getLogger("authlens")


def diff_lines(a: http.HTTPFlow, b: http.HTTPFlow) -> list[str]:
    rows = compare.rows(exchange_from_flow(a), exchange_from_flow(b))
    width = max(len(aspect) for aspect, _, _ in rows)
    return [f"{'≠' if left != right else ' '} {aspect:<{width}}  {left}  |  {right}"
            for aspect, left, right in rows]


class DiffCommand:
    @command.command("authlens.diff")
    def diff(self, flows: Sequence[flow.Flow]) -> None:
        """Compare the auth of two HTTP flows (headers byte by byte, scheme, claims, host)."""
        pair = [f for f in flows if isinstance(f, http.HTTPFlow)]
        if len(pair) != 2:
            raise exceptions.CommandError(f"authlens.diff needs two HTTP flows, got {len(pair)}")
        log.info("authlens.diff %s | %s\n%s", redact_url(pair[0].request.url),
                 redact_url(pair[1].request.url),
                 "\n".join(diff_lines(*pair)))
