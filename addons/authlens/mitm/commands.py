"""The authlens commands, for mitmweb's command bar and the console UI (``:`` key).

    authlens.explain @focus      the full diagnosis of the flows
    authlens.decode @focus       the tokens they carry, decoded
    authlens.timeline @focus     the life of the tokens of the clients behind the flows
    authlens.diff @marked        the auth of two flows side by side, one aspect a line
    authlens.report out.md       the report of the flows in view (Markdown for *.md, else JSON)
    authlens.clear @all          drop authlens' comments, markers and stored diagnoses

They read flows and never change their traffic. ``AuthLens`` inherits them: mitmproxy collects
commands from the attributes of the addon objects it loads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mitmproxy.types
from mitmproxy import command, ctx, exceptions, flow, hooks, http

from .. import compare
from ..oauth import timeline as timelines
from ..render import report, text
from ..secrecy import redact_url
from .adapter import exchange_from_flow
from .hooks import METADATA_KEY, diagnosis_of
from .ui import WRAP

if TYPE_CHECKING:
    from .addon import Diagnose

log = logging.getLogger("authlens")


class Commands:
    """The authlens.* commands, on the session ``diagnose`` keeps."""

    def __init__(self, diagnose: Diagnose):
        self.diagnose = diagnose

    @command.command("authlens.explain")
    def explain(self, flows: Sequence[flow.Flow]) -> str:
        """The full diagnosis of each flow: credential, token claims, challenge, findings, fixes."""
        now = time.time()
        return self._each(flows, lambda d: text.explain(d, now, width=WRAP))

    @command.command("authlens.decode")
    def decode(self, flows: Sequence[flow.Flow]) -> str:
        """The tokens each flow's request carries: JOSE header, claims, times, countdown."""
        now = time.time()
        return self._each(flows, lambda d: "\n".join(
            [f"{d['method']} {d['url']}", *(text.token_lines(d, now) or ["  no token sent"])]))

    @command.command("authlens.timeline")
    def timeline(self, flows: Sequence[flow.Flow]) -> str:
        """Issued, used, refreshed, expired, rejected: the life of the tokens in these flows."""
        found = timelines.for_flows(self.diagnose.lifecycle, [f.id for f in flows])
        out = "\n\n".join(timelines.text(t) for t in found) or \
            "authlens: the proxy saw no token issued for these flows"
        log.info(out)
        return out

    @command.command("authlens.diff")
    def diff(self, flows: Sequence[flow.Flow]) -> None:
        """Compare the auth of two HTTP flows (headers byte by byte, scheme, claims, host)."""
        pair = [f for f in flows if isinstance(f, http.HTTPFlow)]
        if len(pair) != 2:
            raise exceptions.CommandError(f"authlens.diff needs two HTTP flows, got {len(pair)}")
        log.info("authlens.diff %s | %s\n%s", redact_url(pair[0].request.url),
                 redact_url(pair[1].request.url), "\n".join(diff_lines(*pair)))

    @command.command("authlens.report")
    def report(self, path: mitmproxy.types.Path) -> None:
        """Write the report of the flows in view: Markdown if ``path`` ends in .md, else JSON."""
        shown = flows_in_view("authlens.report", "use --set authlens_report=PATH")
        diagnoses = [d for d in map(diagnosis_of, shown) if d]
        try:
            report.write(str(path), len(shown), diagnoses)
        except OSError as exc:
            raise exceptions.CommandError(f"authlens.report: {exc}") from exc
        log.info("authlens: report of %d flows (%d with findings) written to %s",
                 len(shown), len(diagnoses), path)

    @command.command("authlens.clear")
    def clear(self, flows: Sequence[flow.Flow]) -> None:
        """Drop what authlens wrote on the flows: its part of the comment, its marker (not one the
        user set) and the stored diagnosis."""
        changed = [f for f in flows if _clear(f)]
        if changed:
            ctx.master.addons.trigger(hooks.UpdateHook(changed))
        log.info("authlens: annotations cleared on %d flows", len(changed))

    def _each(self, flows: Sequence[flow.Flow], render) -> str:
        parts = [render(self.diagnose.describe(f)) for f in flows if isinstance(f, http.HTTPFlow)]
        if not parts:
            return "authlens: no HTTP flow given (try @focus or @all)."
        if "web_columns" in ctx.options:  # mitmweb shows a result as JSON: text goes to the log
            for part in parts:
                log.info("%s", part)
            return f"authlens: see the event log ({len(parts)} of {len(flows)} flows explained)"
        return "\n\n".join(parts)


def flows_in_view(name: str, in_mitmdump: str) -> Sequence[flow.Flow]:
    """The flows the UI shows (its current filter); mitmdump has no view: say what to do there."""
    try:
        return ctx.master.commands.call("view.flows.resolve", "@shown")
    except exceptions.CommandError as exc:
        raise exceptions.CommandError(f"{name} needs the flows in view (mitmweb, console UI); "
                                      f"in mitmdump {in_mitmdump}") from exc


def diff_lines(a: http.HTTPFlow, b: http.HTTPFlow) -> list[str]:
    """One line per aspect of the two flows' auth, marked ``≠`` where they differ."""
    rows = compare.rows(exchange_from_flow(a), exchange_from_flow(b))
    width = max(len(aspect) for aspect, _, _ in rows)
    return [f"{'≠' if left != right else ' '} {aspect:<{width}}  {left}  |  {right}"
            for aspect, left, right in rows]


def _clear(f: flow.Flow) -> bool:
    comment = text.merge_comment(f.comment, "")
    marked = "" if f.marked in text.OWN_MARKERS else f.marked
    had_diagnosis = f.metadata.pop(METADATA_KEY, None) is not None
    if (comment, marked) == (f.comment, f.marked) and not had_diagnosis:
        return False
    f.comment, f.marked = comment, marked
    return True
