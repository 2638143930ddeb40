"""The report of a session or of the flows in view, as JSON or Markdown.

The JSON layout ``{"flows": [{url, status, verdict, cause, findings: [{id, ...}]}, ...]}`` is a
stable interface; the Markdown report is the same content for people.

``Tally`` keeps the counts the report and the summary table need, one diagnosis at a time, so a
scan of a huge capture can stream its flows out and still end with the totals.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from .. import __version__
from ..humanize import count
from .text import headline

MARKDOWN_SUFFIXES = (".md", ".markdown")

TOOL = f"authlens {__version__}"


@dataclass
class Tally:
    seen: int = 0
    with_findings: int = 0
    counts: Counter = field(default_factory=Counter)
    """Flows per finding id."""
    verdicts: Counter = field(default_factory=Counter)

    def add(self, diagnosis: dict) -> None:
        self.with_findings += 1
        self.counts.update({f["id"] for f in diagnosis.get("findings", [])})  # a flow counts once
        if diagnosis.get("verdict"):
            self.verdicts[diagnosis["verdict"]] += 1

    def counting(self, diagnoses: Iterable[dict]) -> Iterator[dict]:
        """Pass ``diagnoses`` through, adding each one."""
        for diagnosis in diagnoses:
            self.add(diagnosis)
            yield diagnosis

    @classmethod
    def of(cls, seen: int, diagnoses: Iterable[dict]) -> Tally:
        tally = cls(seen)
        for diagnosis in diagnoses:
            tally.add(diagnosis)
        return tally

    def totals(self) -> dict:
        return {"seen": self.seen, "with_findings": self.with_findings, "counts": dict(self.counts)}


def build(seen: int, diagnoses: Iterable[dict]) -> dict:
    flows = list(diagnoses)
    return {"tool": TOOL, **Tally.of(seen, flows).totals(), "flows": flows}


def markdown(seen: int, diagnoses: Iterable[dict]) -> str:
    """A summary table (one row per flow with findings), then each flow's findings and fixes."""
    data = build(seen, diagnoses)
    out = ["# authlens report", "",
           f"{count(data['seen'], 'flow')}, {data['with_findings']} with findings ({data['tool']}).", ""]
    if data["flows"]:
        out += ["| # | status | request | verdict | cause |", "|---|---|---|---|---|"]
        out += [f"| {n} | {d.get('status') or '---'} | {cell(d['method'] + ' ' + d['url'])} "
                f"| {d.get('verdict') or '-'} | {cell(d.get('cause') or '-')} |"
                for n, d in enumerate(data["flows"], 1)]
    for n, diagnosis in enumerate(data["flows"], 1):
        out += ["", f"## {n}. {diagnosis.get('status') or '---'} {diagnosis['method']} "
                    f"`{diagnosis['url']}`", "", f"**{headline(diagnosis)}**", ""]
        for finding in diagnosis.get("findings", []):
            out.append(f"- `{finding['id']}` ({finding['severity']}): {finding['message']}  ")
            out.append(f"  Fix: {finding['fix']} ({finding['cite']})")
    return "\n".join(out) + "\n"


def cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def write(path: str, seen: int, diagnoses: Iterable[dict]) -> None:
    """Write the report to ``path``: Markdown for ``*.md`` / ``*.markdown``, JSON otherwise."""
    if path.lower().endswith(MARKDOWN_SUFFIXES):
        content = markdown(seen, diagnoses)
    else:
        content = json.dumps(build(seen, diagnoses), indent=2, ensure_ascii=False) + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write(content)


def stream_json(out: IO[str], tally: Tally, diagnoses: Iterable[dict]) -> None:
    """The same report, written flow by flow; the totals come last (``tally`` must be filled by
    the time ``diagnoses`` is exhausted, e.g. ``tally.counting(...)``)."""
    out.write(f'{{"tool": {json.dumps(TOOL)},\n "flows": [')
    for index, diagnosis in enumerate(diagnoses):
        out.write(("," if index else "") + "\n  " + json.dumps(diagnosis, ensure_ascii=False))
    out.write("\n ],\n " + json.dumps(tally.totals(), ensure_ascii=False)[1:] + "\n")
