"""``authlens scan PATH…``: diagnose every flow of ``.flow``/HAR captures, fast, CI-friendly.

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
from ..capture import scan
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
    for path in paths:
        survey = scan.survey(path)
        tasks.extend(survey.tasks)
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
        render = functools.partial(terminal.render_block, width=out.width,
                                   color_system=out.color_system,
                                   capture=len(paths) > 1 or any(os.path.isdir(p) for p in args.paths))

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
            yield chunk

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=bar_console, transient=True,
                        disable=args.no_progress or total < PROGRESS_FROM)
    with progress:
        emit(args.format, out, tally, chunks(progress))
    if problems:
        return 2
    if not tally.seen:
        print("authlens scan: no flows in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    return 1 if failing else 0


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
    rows = (markdown.flow_row(i, d) for i, d in enumerate(diagnoses, 1))
    first = next(rows, None)
    if first:
        out.file.write(f"{markdown.FLOWS_HEADER}\n{first}\n")
        for row in rows:
            out.file.write(row + "\n")
        out.file.write("\n")
    out.file.write(markdown.summary(tally) + "\n")
