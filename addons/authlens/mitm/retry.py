"""``authlens.retry``: send a refused flow again with its findings corrected, through mitmproxy's
own client replay, and say on both flows whether the correction proved the cause.

    authlens.retry @focus            safe methods (GET, HEAD, OPTIONS, TRACE) only
    authlens.retry @focus --unsafe   any method (a POST may have side effects)

Opt-in: authlens never sends a request by itself. The corrections are ``authlens.corrections``;
the replayed flow is a copy marked as authlens's (``:repeat:``, ``metadata["authlens_retry"]``)
that links to the original; once it was sent, the headers authlens wrote are kept in its record
only redacted, like everything else authlens shows (``authlens_reveal`` keeps them whole).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from mitmproxy import command, ctx, exceptions, flow, hooks, http

from .. import corrections
from ..credentials import split_scheme
from ..render import text
from ..secrecy import redact, redact_url
from .adapter import exchange_from_flow
from .hooks import diagnosis_of, never_raises

log = logging.getLogger("authlens")

RETRY_KEY = "authlens_retry"
RETRY_PREFIX = "[authlens retry] "
MARKER = ":repeat:"
WAIT = 60.0
"""Seconds to wait for the replayed flow's answer."""
FLAGS = ("--unsafe",)


def corrected_copy(original: http.HTTPFlow, corrected: corrections.Corrected) -> http.HTTPFlow:
    """A copy of ``original`` whose request carries the corrected URL and headers."""
    retried = original.copy()
    if "url" in corrected.changed:
        retried.request.url = corrected.url
    retried.request.headers = http.Headers(
        [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
         for k, v in corrected.headers])
    return retried


def note(existing: str, line: str) -> str:
    """``line`` in place of an earlier retry line, ahead of what else the comment holds (so
    ``Annotate`` keeps it: it rewrites only what follows ``[authlens] ``)."""
    kept = [part for part in (existing or "").split("\n") if not part.startswith(RETRY_PREFIX)]
    return "\n".join([RETRY_PREFIX + line, *kept]).rstrip("\n")


def shown_value(value: str, reveal: bool) -> str:
    """A credential header's value as authlens shows it: ``Bearer eyJh…k9Qw (812 chars, #…)``."""
    scheme, secret = split_scheme(value)
    return f"{scheme + ' ' if scheme else ''}{redact(secret, reveal)}"


def shown_changes(corrected: corrections.Corrected, reveal: bool) -> list[str]:
    """The corrected header fields and URL as authlens shows them: secrets redacted."""
    out = []
    for name, value in corrected.headers:
        if name.lower() in corrected.changed:
            out.append(f"{name}: {shown_value(value, reveal)}")
    if "url" in corrected.changed:
        out.append(f"URL: {redact_url(corrected.url, reveal)}")
    return out


def redact_sent(retried: http.HTTPFlow, corrected: corrections.Corrected, reveal: bool) -> None:
    """Once the corrected request was sent, keep only the redacted form of the headers authlens
    wrote in the replayed flow's record (the original flow still holds what the client sent)."""
    if reveal:
        return
    headers = retried.request.headers
    for name in corrected.changed - {"url"}:
        if name in headers:
            headers[name] = shown_value(headers[name], reveal)


class Retry:
    """The ``authlens.retry`` command and the wait for each replay's answer."""

    def __init__(self, diagnose):
        self.diagnose = diagnose
        self.tasks: set[asyncio.Task] = set()

    @command.command("authlens.retry")
    def retry(self, flows: Sequence[flow.Flow], *flags: str) -> str:
        """Send each refused flow again with its findings corrected (safe methods only unless
        --unsafe); both flows are annotated with the outcome."""
        unknown = [f for f in flags if f not in FLAGS]
        if unknown:
            raise exceptions.CommandError(f"authlens.retry: unknown flag {unknown[0]!r} "
                                          f"(known: {', '.join(FLAGS)})")
        lines = [self._one(f, "--unsafe" in flags) for f in flows if isinstance(f, http.HTTPFlow)]
        return "\n".join(lines) or "authlens: no HTTP flow given (try @focus)."

    def _one(self, original: http.HTTPFlow, unsafe: bool) -> str:
        request = original.request
        label = f"{request.method} {redact_url(request.pretty_url)}"
        diagnosis = diagnosis_of(original) or self.diagnose.describe(original)
        if not diagnosis.get("verdict"):
            return f"{label}: not refused; nothing to retry"
        if request.method.upper() not in corrections.SAFE_METHODS and not unsafe:
            return (f"{label}: not sent: {request.method} may have side effects; "
                    "pass --unsafe to send it again")
        corrected = corrections.correct(exchange_from_flow(original).request, diagnosis,
                                        self._newer_token)
        if not corrected.fixes:
            why = "; ".join(f"{fid}: {reason}" for fid, reason in corrected.unfixable) or \
                "no finding has a safe mechanical correction"
            original.comment = note(original.comment, f"not retried: {why}")
            ctx.master.addons.trigger(hooks.UpdateHook([original]))
            return f"{label}: not sent: {why}"
        retried = self._send(original, corrected)
        return f"{label}: sent again as flow {retried.id} with {corrected.done}"

    def _send(self, original: http.HTTPFlow, corrected: corrections.Corrected) -> http.HTTPFlow:
        retried = corrected_copy(original, corrected)
        retried.request.timestamp_start = time.time()
        retried.metadata.pop("authlens", None)
        reveal = self.diagnose.analyzer.settings.reveal
        sent = shown_changes(corrected, reveal)
        retried.metadata[RETRY_KEY] = {"of": original.id, "sent": sent, **corrected.to_dict()}
        retried.comment = note("", f"retry of flow {original.id} with {corrected.done} "
                                   f"({'; '.join(sent)}): waiting for the answer")
        retried.marked = MARKER
        original.metadata[RETRY_KEY] = {"retried_as": retried.id, **corrected.to_dict()}
        view = ctx.master.addons.get("view")
        if view is not None:  # mitmweb, console: shown beside the original
            view.add([retried])
        ctx.master.commands.call("replay.client", [retried])
        task = asyncio.get_running_loop().create_task(self._conclude(original, retried, corrected))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return retried

    def _newer_token(self, flow_id: str) -> str | None:
        """The access token issued in flow ``flow_id`` (still in mitmproxy's view), or None."""
        view = ctx.master.addons.get("view")
        issued = view.get_by_id(flow_id) if view is not None else None
        if not isinstance(issued, http.HTTPFlow) or issued.response is None:
            return None
        return corrections.issued_token(issued.response.get_content(strict=False) or b"")

    async def _conclude(self, original: http.HTTPFlow, retried: http.HTTPFlow,
                        corrected: corrections.Corrected) -> None:
        deadline = time.monotonic() + WAIT
        while retried.response is None and retried.error is None:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        self._annotate(original, retried, corrected)

    @never_raises
    def _annotate(self, original: http.HTTPFlow, retried: http.HTTPFlow,
                  corrected: corrections.Corrected) -> None:
        response = retried.response
        fresh = self.diagnose.analyzer.describe(exchange_from_flow(retried)).to_dict()
        if response is None:
            says = retried.error.msg if retried.error is not None else "no answer in time"
            line = corrections.outcome(corrected, None, True, says)
        else:
            says = text.headline(fresh) or f"{response.status_code} {response.reason}"
            line = corrections.outcome(corrected, response.status_code,
                                       bool(fresh.get("verdict")) or response.status_code >= 400,
                                       says)
        proved = response is not None and not fresh.get("verdict") and response.status_code < 400
        result = {"status": response.status_code if response else None, "proved": proved,
                  "outcome": line}
        retried.metadata[RETRY_KEY].update(result)
        original.metadata[RETRY_KEY].update(result)
        redact_sent(retried, corrected, self.diagnose.analyzer.settings.reveal)
        sent = "; ".join(retried.metadata[RETRY_KEY].get("sent", []))
        retried.comment = note(retried.comment, f"retry of flow {original.id} ({sent}): {line}")
        original.comment = note(original.comment, f"retried as flow {retried.id}: {line}")
        log.info("authlens: retry of %s %s: %s", original.request.method,
                 redact_url(original.request.pretty_url), line)
        ctx.master.addons.trigger(hooks.UpdateHook([original, retried]))
