"""Run the core over captures, on every core, streaming the results in order.

A ``.flow`` file is cut into chunks of records (found by their length prefixes, nothing parsed);
each worker reads its chunk straight from the file and returns plain diagnosis dicts of the flows
worth showing. Stateful trackers (token lifecycle, redirects) need history, so each chunk is
preceded by a warm-up of ``WARMUP`` records that the worker analyses and throws away: a tracker
sees the same recent past as in a one-process run. That is exact for every tracker whose memory
reaches back fewer than ``WARMUP`` flows; ``jobs=1`` carries one analyzer through each file's
chunks and is always exact. Either way only one chunk's diagnoses are held at a time.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..analyze import Analyzer, Settings, default_trackers
from ..humanize import count
from . import CaptureError, exchanges, flowfile, har, harexport, kind, tnet

CHUNK = 2048
WARMUP = 256


@dataclass(frozen=True)
class Task:
    """Records ``[start, end)`` of one file (byte offsets), after warming up from ``warm``."""

    path: str
    records: int
    start: int = 0
    end: int | None = None
    warm: int | None = None


@dataclass
class Chunk:
    """What one task found: how many flows, and the diagnoses worth showing (in order)."""

    path: str
    seen: int
    diagnoses: list
    rendered: list = field(default_factory=list)
    """``render(diagnosis)`` of each diagnosis, when a renderer was given."""
    problem: str = ""
    """Why reading stopped before the task's end (a record that cannot be read)."""


@dataclass(frozen=True)
class Survey:
    """What a first look at one capture found: its tasks, and why it was read only in part
    (``problem``: truncated, unreadable) or not at all (no tasks)."""

    path: str
    tasks: list[Task]
    problem: str = ""


def survey(path: str, chunk: int | None = CHUNK) -> Survey:
    """``plan(path)``, with what went wrong said rather than raised: an unreadable or empty file
    has no tasks; a truncated ``.flow`` has the tasks of the records before the cut."""
    try:
        if os.path.getsize(path) == 0:
            return Survey(path, [], "empty file (0 bytes)")
        if kind(path) == "har":
            return Survey(path, [Task(path, len(har.entries(har.load(path))))])
        with flowfile.mapped(path) as buf:
            size = len(buf)
            starts, problem, cut = [], "", None
            try:
                for start, _ in tnet.spans(buf):
                    starts.append(start)
            except tnet.Truncated as exc:
                problem, cut = f"{exc}: read the {count(len(starts), 'flow')} before it", exc.offset
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        return Survey(path, [], f"not a readable .flow or HAR file ({exc})")
    if not starts:
        return Survey(path, [], problem or "no flows in it")
    return Survey(path, _cut(path, starts, cut if cut is not None else size, chunk,
                             whole=cut is None), problem)


def plan(path: str, chunk: int | None = CHUNK) -> list[Task]:
    """One task per file, or per ``chunk`` records of a big ``.flow`` file (None: never cut)."""
    if kind(path) == "har":
        return [Task(path, len(har.entries(har.load(path))))]
    with flowfile.mapped(path) as buf:
        starts = [start for start, _ in tnet.spans(buf)]
        size = len(buf)
    return _cut(path, starts, size, chunk)


def _cut(path: str, starts: list[int], size: int, chunk: int | None,
         whole: bool = True) -> list[Task]:
    """The tasks for records starting at ``starts`` in the first ``size`` bytes of ``path``."""
    if chunk is None or len(starts) <= chunk:
        return [Task(path, len(starts), 0, None if whole else size)]
    tasks = []
    for first in range(0, len(starts), chunk):
        last = first + chunk
        tasks.append(Task(path, len(starts[first:last]), starts[first],
                          starts[last] if last < len(starts) else size,
                          starts[max(0, first - WARMUP)] if first else None))
    return tasks


def _warmup(task: Task):
    return flowfile.exchanges(task.path, task.warm, task.start) if task.warm is not None else ()


_DEFAULT_SETTINGS = Settings()
Render = Callable[[dict], str] | None


def run(task: Task, settings: Settings = _DEFAULT_SETTINGS, render: Render = None,
        analyzer: Analyzer | None = None) -> Chunk:
    """Analyse one task (the worker side: plain data in and out), with a fresh analyzer warmed
    up on the records before it, or with ``analyzer`` that has seen them. ``render``
    (picklable) turns each diagnosis into text here, on the worker's core."""
    seen, found = 0, []
    if analyzer is None:
        analyzer = Analyzer(settings, trackers=default_trackers())
        for exchange in _warmup(task):
            analyzer.analyze(exchange)
    source = (exchanges(task.path) if task.end is None
              else flowfile.exchanges(task.path, task.start, task.end))
    problem = ""
    try:
        kept = harexport.stored(har.load(task.path)) if kind(task.path) == "har" else []
        for exchange in source:
            seen += 1
            diagnosis = analyzer.analyze(exchange)
            stored = kept[seen - 1] if seen <= len(kept) else None  # HAR: one exchange per entry
            if diagnosis.noteworthy or stored:
                fresh = diagnosis.to_dict()
                found.append({"flow": exchange.id, "capture": task.path, **fresh})
                if stored:  # a HAR written by authlens: its diagnosis beside the fresh one
                    found[-1]["stored"] = harexport.compare(fresh, stored)
    except (CaptureError, ValueError, KeyError, TypeError, IndexError) as exc:
        problem = f"stopped after {count(seen, 'flow')}: {str(exc).removeprefix(task.path + ': ')}"
    return Chunk(task.path, seen, found, [render(d) for d in found] if render else [], problem)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def scan(tasks: list[Task], settings: Settings = _DEFAULT_SETTINGS, jobs: int | None = None,
         render: Render = None) -> Iterator[Chunk]:
    """The chunks' results, in file and record order; in parallel when it pays. At most two
    chunks per worker are in flight, so a slow consumer never piles results up in memory."""
    jobs = min(jobs or default_jobs(), len(tasks))
    if jobs <= 1:
        analyzer, path = None, None
        for task in tasks:
            if task.path != path:  # one analyzer through all the chunks of a file
                analyzer, path = Analyzer(settings, trackers=default_trackers()), task.path
            yield run(task, settings, render, analyzer)
        return
    with multiprocessing.get_context().Pool(jobs) as pool:
        pending: deque = deque()
        for task in tasks:
            pending.append(pool.apply_async(run, (task, settings, render)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
