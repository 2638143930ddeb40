"""``authlens scan PATH…``: diagnose every flow of ``.flow``/HAR captures, fast, CI-friendly.

``--har-out FILE`` also writes the flows as one HAR 1.2 file whose entries carry their diagnosis
(entry ``comment`` and ``_authlens``), redacted unless ``--reveal``; a HAR written so shows its
stored diagnosis beside the fresh one when scanned again.

Exit status: 0 clean, 1 when a flow has a finding at or above ``--fail-on`` (a refused call
counts as ``error``), 2 when a capture cannot be read, or is empty, or is read only in part (each
is named on stderr and skipped; the others are still diagnosed).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .. import capture, catalog
from ..analyze import Settings
from ..capture import harexport, scan
from ..render import markdown, report, terminal
from ..rules import jwks

FAIL_ON = (*catalog.SEVERITIES, "never")
PROGRESS_FROM = 5000  # records; smaller inputs finish before a bar is worth drawing


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan", help="diagnose the flows in .flow and HAR captures (files or folders)",
        description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("paths", nargs="+", metavar="PATH", help=".flow or .har file, or a folder")
    parser.add_argument("--format", choices=("rich", "json", "markdown"), default="rich")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="error", metavar="SEVERITY",
                        help="exit 1 when a finding this severe or worse is present: "
                             f"{', '.join(FAIL_ON)} (default: error)")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="worker processes (default: every core; 1: one process, exact order)")
    parser.add_argument("--leeway", type=float, default=Settings.leeway,
                        help="clock-skew allowance in seconds for token times")
    parser.add_argument("--reveal", action="store_true", help="show secrets in full")
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    parser.add_argument("--har-out", metavar="FILE", help="also write the flows as a HAR 1.2 file "
                        "whose entries carry their diagnosis (redacted unless --reveal)")
    parser.set_defaults(func=run)


def severity(diagnosis: dict) -> str:
    """The worst severity in a diagnosis; a refused call is an error whatever its findings."""
    if diagnosis.get("verdict"):
        return "error"
    found = {f["severity"] for f in diagnosis.get("findings", [])}
    return next((s for s in catalog.SEVERITIES if s in found), "info")


def fails(diagnosis: dict, fail_on: str) -> bool:
    if fail_on == "never":
        return False
    return catalog.SEVERITIES.index(severity(diagnosis)) <= catalog.SEVERITIES.index(fail_on)


def run(args) -> int:
    previous, jwks.BLOCKING = jwks.BLOCKING, True  # offline: a JWKS URL is worth waiting for
    try:
        return _run(args)
    finally:
        jwks.BLOCKING = previous


def _run(args) -> int:
    problems: list[str] = []
    paths = capture.expand(args.paths, problems)
    jobs = args.jobs or scan.default_jobs()
    tasks = []
    readable = set()  # captures read whole: the ones --har-out can write again
    for path in paths:
        survey = scan.survey(path)
        tasks.extend(survey.tasks)
        if survey.tasks and not survey.problem:
            readable.add(path)
        if survey.problem:
            problems.append(f"{path}: {survey.problem}" + ("" if survey.tasks else "; skipped"))
    for problem in problems:
        print(f"authlens scan: {problem}", file=sys.stderr)
    settings = Settings(leeway=args.leeway, reveal=args.reveal)
    out = terminal.make_console(sys.stdout)
    bar_console = out if args.format == "rich" else terminal.make_console(sys.stderr)
    total = sum(t.records for t in tasks)
    tally = report.Tally()
    failing = False

    render = None
    if args.format == "rich":  # blocks are rendered by the workers, on every core
        render = functools.partial(render_block, width=out.width, color_system=out.color_system,
                                   capture=len(paths) > 1 or any(os.path.isdir(p) for p in args.paths))
    kept: dict[tuple[str, str], dict] = {}

    def chunks(progress: Progress) -> Iterator[scan.Chunk]:
        nonlocal failing
        bar = progress.add_task("scanning", total=total)
        for chunk in scan.scan(tasks, settings, jobs, render):
            if chunk.problem:
                problems.append(f"{chunk.path}: {chunk.problem}")
                print(f"authlens scan: {chunk.path}: {chunk.problem}", file=sys.stderr)
            tally.seen += chunk.seen
            progress.advance(bar, chunk.seen)
            failing = failing or any(fails(d, args.fail_on) for d in chunk.diagnoses)
            if args.har_out:
                for d in chunk.diagnoses:
                    kept[d["capture"], d["flow"]] = {k: v for k, v in d.items()
                                                     if k not in ("flow", "capture", "stored")}
            yield chunk

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=bar_console, transient=True,
                        disable=args.no_progress or total < PROGRESS_FROM)
    with progress:
        emit(args.format, out, tally, chunks(progress))
    if args.har_out:
        try:
            write_har(args.har_out, [p for p in paths if p in readable], kept, args.reveal)
        except (capture.CaptureError, OSError) as exc:
            print(f"authlens scan: {exc}", file=sys.stderr)
            return 2
    if problems:
        return 2
    if not tally.seen:
        print("authlens scan: no flows in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    return 1 if failing else 0


def render_block(diagnosis: dict, width: int, color_system: str | None,
                 capture: bool = False) -> str:
    """The flow's block, and under it the diagnosis a HAR had stored (when it had one)."""
    block = terminal.render_block(diagnosis, width, color_system, capture=capture)
    stored = diagnosis.get("stored")
    return f"{block}  {harexport.stored_line(stored)}\n" if stored else block


def _markdown_row(index: int, diagnosis: dict) -> str:
    """The flow's row; a HAR's stored diagnosis at the end of its finding cell."""
    row = markdown.flow_row(index, diagnosis)
    stored = diagnosis.get("stored")
    return f"{row[:-2]} ({harexport.stored_line(stored)}) |" if stored else row


def write_har(path: str, captures: list[str], diagnoses: dict[tuple[str, str], dict],
              reveal: bool) -> None:
    """The flows of ``captures`` as one HAR, each entry with its diagnosis from the scan (keyed by
    capture and flow id: a HAR's flows by their entry index, as the scan counts them)."""
    flows, found = [], []
    for capture_path in captures:
        is_har = capture.kind(capture_path) == "har"
        for index, flow in enumerate(harexport.read_flows(capture_path)):
            flows.append(flow)
            found.append(diagnoses.get((capture_path, str(index) if is_har else flow.id)))
    harexport.write(path, harexport.make_har(flows, lambda i, _: found[i], reveal))
    print(f"authlens: {len(flows)} flows ({sum(map(bool, found))} diagnosed) written to {path}",
          file=sys.stderr)


def emit(fmt: str, out, tally: report.Tally, chunks: Iterator[scan.Chunk]) -> None:
    """Write the flows as they come, then the totals."""
    if fmt == "rich":
        for chunk in chunks:
            for diagnosis, text in zip(chunk.diagnoses, chunk.rendered, strict=False):
                tally.add(diagnosis)
                out.file.write(text)
        if tally.seen:  # nothing read: the problem said on stderr, no empty table
            out.print(terminal.summary_table(tally))
        return
    diagnoses = tally.counting(d for chunk in chunks for d in chunk.diagnoses)
    if fmt == "json":
        report.stream_json(out.file, tally, diagnoses)
        return
    rows = (_markdown_row(i, d) for i, d in enumerate(diagnoses, 1))
    first = next(rows, None)
    if first:
        out.file.write(f"{markdown.FLOWS_HEADER}\n{first}\n")
        for row in rows:
            out.file.write(row + "\n")
        out.file.write("\n")
    out.file.write(markdown.summary(tally) + "\n")
