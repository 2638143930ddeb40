"""What authlens does inside mitmproxy: one small class per concern, in hook order, called by
``AuthLens``, the one addon object mitmproxy loads.

``Diagnose`` analyses each finished flow in mitmproxy's own thread, stores the plain result in
``flow.metadata["authlens"]`` and hands the flow to ``Annotate`` and ``TerminalOutput``.
``Report`` and the interactive parts read the stored results: ``ContentView`` and
``CommentColumn`` (ui.py), the commands (commands.py, inherited by ``AuthLens``).
``AuthLens`` calls every part's hook through ``hooks.guarded``, so nothing authlens does can raise
into mitmproxy; nothing here writes to the request or response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from rich.console import Console

from mitmproxy import ctx, exceptions, hooks, http

from .. import secrecy
from ..analyze import Analyzer, Settings, default_trackers
from ..humanize import count
from ..oauth import timeline
from ..oauth.lifecycle import lifecycle_of
from ..render import report, terminal, text
from ..rules import RuleSet, RuleStore
from ..rules.store import DEFAULT_RULES
from ..session import SessionLog
from .adapter import client_key, exchange_from_flow, quiet_key
from .commands import Commands
from .har_command import HarCommand
from .hooks import METADATA_KEY, diagnosis_of, guarded, never_raises
from .retry import Retry
from .tls import UpstreamTls
from .ui import CommentColumn, ContentView

log = logging.getLogger("authlens")

OUTPUT_STYLES = ("auto", "rich", "log", "json", "off")


def _ignore(*_) -> None:
    pass


class Diagnose:
    """Runs the core on every finished flow, in mitmproxy's own thread, before the next addon
    sees it; keeps the session's results. Each flow then goes to ``annotate`` (comment and
    marker) and ``show`` (the terminal)."""

    def __init__(self):
        self.trackers = default_trackers()  # kept across option changes: they hold history
        self.lifecycle = lifecycle_of(self.trackers)
        self.analyzer = Analyzer(trackers=self.trackers)
        self.session = SessionLog()
        self.annotate = _ignore
        """Called as ``annotate(flow)`` once a flow's diagnosis is stored (or cleared)."""
        self.show = _ignore
        """Called as ``show(flow)`` then."""

    def load(self, loader):
        loader.add_option("authlens_leeway", int, 60,
                          "Clock-skew allowance in seconds when judging token exp/nbf/iat.")
        loader.add_option("authlens_reveal", bool, False,
                          "Show tokens, keys and passwords in full (redacted by default).")
        loader.add_option("authlens_session_cookie", Sequence[str], [],
                          "Name of a cookie that carries the session (repeatable): a refused "
                          "request without it is explained as cookie-session-missing.")

    def configure(self, updated):
        if "confdir" in updated:  # the fingerprint key lives beside mitmproxy's CA
            secrecy.use_confdir(ctx.options.confdir)
        if {"authlens_leeway", "authlens_reveal", "authlens_session_cookie"} & set(updated):
            if ctx.options.authlens_leeway < 0:
                raise exceptions.OptionsError("authlens_leeway must be >= 0 seconds")
            settings = Settings(leeway=float(ctx.options.authlens_leeway),
                                reveal=ctx.options.authlens_reveal,
                                session_cookies=tuple(ctx.options.authlens_session_cookie),
                                rules=self.analyzer.settings.rules)
            self.analyzer = Analyzer(settings, trackers=self.trackers)

    def use_rules(self, rules: RuleSet) -> None:
        self.analyzer = Analyzer(dataclasses.replace(self.analyzer.settings, rules=rules),
                                 trackers=self.trackers)

    def response(self, flow: http.HTTPFlow):
        self._diagnose(flow)

    def error(self, flow: http.HTTPFlow):
        if flow.response is None:
            self._diagnose(flow)

    def describe(self, flow: http.HTTPFlow) -> dict:
        """Everything authlens can say about ``flow``: its stored diagnosis, or (for a flow it
        found nothing wrong with, or has not seen) one made now, with the credentials and
        decoded tokens filled in."""
        return diagnosis_of(flow) or self.analyzer.describe(exchange_from_flow(flow)).to_dict()

    def _diagnose(self, flow: http.HTTPFlow) -> None:
        key = quiet_key(flow)
        if key is not None and self.analyzer.quiet(
                key, flow.id, client_key(flow.client_conn.peername),
                flow.request.timestamp_start, flow.response.data.content or b"",  # type: ignore[union-attr]
                flow.response.data.headers.fields):  # type: ignore[union-attr]
            self.session.record(flow.id, None)  # most calls: counted, and that is all
            return
        exchange = exchange_from_flow(flow)
        diagnosis = self.analyzer.analyze(exchange)
        if key is not None:
            self.analyzer.learn_quiet(key, exchange, diagnosis)
        result, as_json = diagnosis.to_dict_and_json() if diagnosis.noteworthy else (None, None)
        if result:
            flow.metadata[METADATA_KEY] = result
        else:
            flow.metadata.pop(METADATA_KEY, None)
        self.session.record(flow.id, result, as_json)
        self.annotate(flow)
        self.show(flow)


class Rules:
    """Feeds Diagnose the rules in force: the user's files and folders plus the presets. Changed
    files are picked up (checked at most once a second, as flows finish); a file with an error is
    reported with file:line and its last good version stays in force."""

    CHECK_EVERY = 1.0

    def __init__(self, diagnose: Diagnose):
        self.diagnose = diagnose
        self.store = RuleStore()
        self.checked = 0.0

    def load(self, loader):
        loader.add_option("authlens_rules", Sequence[str], [DEFAULT_RULES],
                          "Rule files and folders of *.toml rules (what each API expects); "
                          "default: the rules/ folder of the authlens checkout.")
        loader.add_option("authlens_presets", bool, True,
                          "Use the shipped rules for well-known APIs (a user rule of the same "
                          "name replaces a preset).")

    def configure(self, updated):
        if {"authlens_rules", "authlens_presets"} & set(updated):
            paths = [p for p in ctx.options.authlens_rules
                     if p != DEFAULT_RULES or os.path.isdir(p)]
            self.store = RuleStore(paths, ctx.options.authlens_presets)
            self.refresh()

    def refresh(self) -> None:
        self.checked = time.monotonic()
        if self.store.reload():
            for error in self.store.errors:
                log.warning("authlens: rule file error: %s (keeping the last good rules of "
                            "this file)", error)  # a warning: on -nr an error stops mitmdump
            self.diagnose.use_rules(self.store.ruleset)
            log.info("authlens: %d rules in force", len(self.store.ruleset))

    def response(self, flow: http.HTTPFlow):
        if time.monotonic() - self.checked >= self.CHECK_EVERY:
            self.refresh()

    error = response


class Annotate:
    """Writes the verdict as the flow's comment and marker (seen in mitmdump, console, mitmweb)."""

    def __init__(self):
        self.enabled = True

    def load(self, loader):
        loader.add_option("authlens_annotate", bool, True,
                          "Write the diagnosis into flow comments and markers.")

    def configure(self, updated):
        if "authlens_annotate" in updated:
            self.enabled = ctx.options.authlens_annotate

    def present(self, flow: http.HTTPFlow) -> None:
        if not self.enabled:
            return
        diagnosis = diagnosis_of(flow)
        flow.comment = text.merge_comment(flow.comment, text.comment(diagnosis) if diagnosis else "")
        mark = text.marker(diagnosis) if diagnosis else ""
        if not flow.marked or flow.marked in text.OWN_MARKERS:  # never clobber the user's marker
            flow.marked = mark


class TerminalOutput:
    """Tells the person at the terminal: rich blocks in mitmdump, log lines in the UIs."""

    def __init__(self, diagnose: Diagnose):
        self.diagnose = diagnose
        self.session = diagnose.session
        self.console: Console | None = None
        self.output = terminal.Output()
        self.pending: list[dict] = []
        """Blocks not written yet (``present``)."""
        self.scheduled = False

    def load(self, loader):
        loader.add_option("authlens_output", str, "auto",
                          "How diagnoses are shown: auto (rich in mitmdump, log lines in mitmweb "
                          "and the console UI), rich, log, json (one JSON line per flow), off.",
                          choices=OUTPUT_STYLES)

    def configure(self, updated):
        if "authlens_output" in updated:
            style = ctx.options.authlens_output
            console_ui = "console_layout" in ctx.options
            if style == "auto":
                style = "log" if console_ui or "web_port" in ctx.options else "rich"
            elif console_ui and style in ("rich", "json"):
                log.warning("authlens: authlens_output=%s would write over the console UI; "
                            "showing log lines instead", style)
                style = "log"
            self.console = terminal.make_console(sys.stdout) if style == "rich" else None
            self.output = (terminal.Output(style, self.console.width, self.console.color_system)
                           if self.console else terminal.Output(style))

    @property
    def style(self) -> str:
        """The output style in force (``auto`` resolved)."""
        return self.output.style

    def present(self, flow: http.HTTPFlow) -> None:
        """Show a flow's diagnosis: a log line now; a block (or JSON line) after mitmdump's own
        line for the flow, which a later addon prints: when the event loop next runs, or before
        the next flow's block, whichever comes first."""
        diagnosis = diagnosis_of(flow)
        if diagnosis is None or self.style == "off":
            return
        if self.style == "log":
            level = logging.WARNING if diagnosis.get("verdict") else logging.INFO
            log.log(level, "%s %s %s", diagnosis.get("status") or "---", diagnosis["url"],
                    text.headline(diagnosis))
            return
        self.pending.append(diagnosis)
        if self.scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self.flush_soon)
            self.scheduled = True
        except RuntimeError:  # no event loop (driven by a test): now
            self.flush()

    @never_raises
    def flush_soon(self) -> None:
        """``flush`` as an event loop callback (outside any hook)."""
        self.flush()

    def flush(self, *_) -> None:
        """Write the blocks waiting to be shown (also the ``response`` and ``error`` hooks, which
        run before ``Diagnose``'s)."""
        self.scheduled = False
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        out = self.console.file if self.console else sys.stdout
        out.write("".join(self.output.text(diagnosis) or "" for diagnosis in pending))
        out.flush()

    response = error = flush

    def done(self):
        self.flush()
        if self.style == "rich" and self.session.seen:  # nothing seen (a bad -r file): no empty table
            timelines = timeline.recent(self.diagnose.lifecycle)
            assert self.console is not None  # made with the rich style
            self.console.print(terminal.summary(self.session.tally(), timelines))
        elif self.style == "log" and self.session.seen:
            log.info("authlens: %s seen, %d with findings", count(self.session.seen, "flow"),
                     self.session.tally().with_findings)


class Report:
    """Writes the report of the session at exit (JSON, or Markdown for ``*.md``)."""

    def __init__(self, session: SessionLog):
        self.session = session

    def load(self, loader):
        loader.add_option("authlens_report", Optional[str], None,  # noqa: UP045 (mitmproxy 11 typecheck)
                          "Write a report of all diagnoses to this path at exit: Markdown if "
                          "it ends in .md, JSON otherwise.")

    def done(self):
        path = ctx.options.authlens_report
        if path:
            report.write(path, self.session.seen, self.session.diagnoses())
            log.info("authlens: report written to %s", path)


def _each_part(hook: str):
    """An ``AuthLens`` hook that calls the parts' hooks of that name, in order."""
    def call(self, *args):
        for part_hook in self._hooks[hook]:
            guarded(part_hook, *args)
    call.__name__ = call.__qualname__ = hook
    return call


class AuthLens(Commands, Retry, HarCommand):
    """The one addon object mitmproxy sees. It calls the concerns above in hook order; its
    commands (authlens.*) are those of ``Commands`` (commands.py), ``Retry`` (retry.py) and
    ``HarCommand`` (har_command.py), inherited: mitmproxy finds commands on the addon object.

    mitmproxy visits every registered addon object on every event (requestheaders, request,
    responseheaders, response, ...) whether it has the hook or not; ten objects cost about 4 %
    of the proxy's throughput, one costs a tenth of that. So the concerns stay small classes,
    but plain ones that this object calls.
    """

    HOOKS = ("load", "configure", "running", "response", "error", "done",
             "tls_established_server", "tls_failed_server")

    def __init__(self):
        diagnose = Diagnose()
        Commands.__init__(self, diagnose)
        Retry.__init__(self, diagnose)
        HarCommand.__init__(self, diagnose)
        annotate, output = Annotate(), TerminalOutput(self.diagnose)
        self.diagnose.annotate, self.diagnose.show = annotate.present, output.present
        self.parts = (UpstreamTls(), Rules(self.diagnose), output, self.diagnose, annotate,
                      Report(self.diagnose.session), ContentView(self.diagnose), CommentColumn())
        self._hooks = {name: tuple(getattr(p, name) for p in self.parts if hasattr(p, name))
                       for name in self.HOOKS}

    (load, configure, running, response, error, done, tls_established_server,
     tls_failed_server) = map(_each_part, HOOKS)


def make_addons() -> list:
    return [AuthLens()]


def hook_stubs(namespace: dict) -> dict:
    """``None`` for each mitmproxy event that a script module's ``namespace`` has no hook for.

    mitmproxy looks every event's hook up on the script module as well as on its addons, on
    every flow (``AddonManager._iter_hooks``: requestheaders, request, ... each with an update,
    about ten per request). A name the module lacks costs an AttributeError with a formatted
    message (0.8 µs here); a ``None`` is a dict lookup, skipped the same way (falsy).
    ``add_log`` is left out: mitmproxy warns about an addon that has it.
    """
    return {name: None for name in hooks.all_hooks if name not in namespace and name != "add_log"}


addons = make_addons()
