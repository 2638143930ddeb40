"""``authlens retry FILE#N``: send a refused flow of a capture again with its findings corrected,
through mitmproxy's own client replay (``mitmdump -n -C``), and say whether that proved the cause.

``FILE#N`` names the flow as ``authlens diff`` does (0-based index or flow id). ``--to URL``
sends it to another origin (a test server) instead of the captured host. Safe methods only unless
``--unsafe``. ``-w OUT.flow`` writes both flows, annotated with the outcome. Exit status: 0 the
server accepted the corrected request, 1 still refused, 2 nothing sent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

from mitmproxy import http
from mitmproxy import io as mitm_io

from .. import capture, corrections
from ..analyze import Analyzer, Settings, default_trackers
from ..capture import harexport
from ..mitm.adapter import exchange_from_flow
from ..mitm.retry import MARKER, RETRY_KEY, corrected_copy, note, redact_sent, shown_changes
from ..render import text
from ..secrecy import redact_url


def register(subparsers) -> None:
    parser = subparsers.add_parser("retry", help="send a refused flow again with its findings "
                                   "corrected, and tell whether that was the cause",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("flow", metavar="FILE#N", help="FILE, FILE#INDEX or FILE#ID")
    parser.add_argument("--to", metavar="URL", help="send to this origin instead of the captured one")
    parser.add_argument("--unsafe", action="store_true", help="also methods other than GET, HEAD, "
                        "OPTIONS, TRACE (a POST may have side effects)")
    parser.add_argument("-w", "--write", metavar="OUT", help="write both flows, annotated, here")
    parser.add_argument("--reveal", action="store_true", help="show secrets in full")
    parser.set_defaults(func=run)


def _select(path: str, which: str):
    """(flows, index) of the flow ``which`` names among the capture's HTTP flows."""
    flows = harexport.read_flows(path)
    is_har = capture.kind(path) == "har"
    for index, f in enumerate(flows):
        if which.isdigit() and index == int(which) or not which.isdigit() and not is_har \
                and f.id.startswith(which):
            return flows, index
    raise capture.CaptureError(f"{path}: no flow {which!r}")


def _mitmdump() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "mitmdump")
    found = here if os.path.exists(here) else shutil.which("mitmdump")
    if not found:
        raise capture.CaptureError("mitmdump not found (it replays the corrected request)")
    return found


def replay(flow: http.HTTPFlow, timeout: float = 60) -> http.HTTPFlow:
    """``flow`` sent by mitmproxy's client replay (``mitmdump -n -C``); the flow it wrote back."""
    with tempfile.TemporaryDirectory(prefix="authlens-retry-") as tmp:
        source, target = os.path.join(tmp, "in.flow"), os.path.join(tmp, "out.flow")
        with open(source, "wb") as fo:
            mitm_io.FlowWriter(fo).add(flow)
        subprocess.run([_mitmdump(), "-n", "-q", "--set", f"confdir={tmp}", "-C", source,
                        "-w", target], check=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       capture_output=True)
        (answered,) = harexport.read_flows(target)
    return answered


def run(args) -> int:
    path, _, which = args.flow.partition("#")
    settings = Settings(reveal=args.reveal)
    try:
        flows, index = _select(path, which or "0")
        analyzer = Analyzer(settings, trackers=default_trackers())
        exchanges = list(capture.exchanges(path))
        for exchange in exchanges[:index]:  # the history the trackers explain it by
            analyzer.analyze(exchange)
        diagnosis = analyzer.analyze(exchanges[index]).to_dict()
    except (capture.CaptureError, OSError, ValueError) as exc:
        print(f"authlens retry: {exc}", file=sys.stderr)
        return 2
    original = flows[index]
    label = f"{original.request.method} {redact_url(original.request.pretty_url, args.reveal)}"
    if not diagnosis.get("verdict"):
        print(f"{label}: not refused; nothing to retry")
        return 2
    if original.request.method.upper() not in corrections.SAFE_METHODS and not args.unsafe:
        print(f"{label}: not sent: {original.request.method} may have side effects; pass --unsafe "
              "to send it again")
        return 2
    by_id = {e.id: f for e, f in zip(exchanges, flows, strict=False)}

    def newer_token(flow_id: str) -> str | None:
        issued = by_id.get(flow_id)
        if issued is None or issued.response is None:
            return None
        return corrections.issued_token(issued.response.get_content(strict=False) or b"")

    corrected = corrections.correct(exchanges[index].request, diagnosis, newer_token)
    if not corrected.fixes:
        why = "; ".join(f"{fid}: {reason}" for fid, reason in corrected.unfixable)
        print(f"{label}: not sent: {why or 'no finding has a safe mechanical correction'}")
        return 2
    retried = corrected_copy(original, corrected)
    if args.to:
        to = urlsplit(args.to)
        retried.request.scheme, retried.request.host = to.scheme, to.hostname or ""
        retried.request.port = to.port or (443 if to.scheme == "https" else 80)
    sent = shown_changes(corrected, args.reveal)
    print(f"{label}: sending again with {corrected.done} ({'; '.join(sent)})")
    try:
        answered = replay(retried)
    except (subprocess.SubprocessError, OSError, ValueError, capture.CaptureError) as exc:
        print(f"authlens retry: the replay failed: {exc}", file=sys.stderr)
        return 2
    response = answered.response
    fresh = Analyzer(settings).describe(exchange_from_flow(answered)).to_dict()
    refused = response is None or bool(fresh.get("verdict")) or response.status_code >= 400
    says = (text.headline(fresh) or f"{response.status_code} {response.reason}" if response
            else (answered.error.msg if answered.error else "no answer"))
    line = corrections.outcome(corrected, response.status_code if response else None, refused,
                               says)
    print(line)
    if args.write:
        redact_sent(answered, corrected, args.reveal)
        answered.marked = MARKER
        answered.metadata[RETRY_KEY] = {"of": original.id, "sent": sent, "outcome": line,
                                        **corrected.to_dict()}
        answered.comment = note("", f"retry of flow {original.id} ({'; '.join(sent)}): {line}")
        original.metadata[RETRY_KEY] = {"retried_as": answered.id, "outcome": line,
                                        **corrected.to_dict()}
        original.comment = note(original.comment, f"retried as flow {answered.id}: {line}")
        with open(args.write, "wb") as fo:
            writer = mitm_io.FlowWriter(fo)
            writer.add(original)
            writer.add(answered)
    return 1 if refused else 0
