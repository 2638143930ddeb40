"""Markdown: a table of the flows with findings and the counts (for CI job summaries, issues)."""

from __future__ import annotations

from .. import catalog
from ..humanize import count
from .report import Tally, cell
from .text import headline

FLOWS_HEADER = "| # | status | request | verdict | finding |\n|---|---|---|---|---|"


def flow_row(index: int, diagnosis: dict) -> str:
    request = f"{diagnosis['method']} {diagnosis['url']}"
    return (f"| {index} | {diagnosis.get('status') or '---'} | `{cell(request)}` "
            f"| {diagnosis.get('verdict') or ''} | {cell(headline(diagnosis))} |")


def summary(tally: Tally) -> str:
    refusals = ", ".join(f"{n} {v}" for v, n in tally.verdicts.most_common()) or "no refusals"
    lines = [f"**{count(tally.seen, 'flow')} seen, {tally.with_findings} with findings** ({refusals})", ""]
    if tally.counts:
        lines += ["| finding | flows | severity | title |", "|---|---|---|---|"]
        for finding_id, n in tally.counts.most_common():
            entry = catalog.get(finding_id)
            lines.append(f"| `{finding_id}` | {n} | {entry.severity} | {cell(entry.title)} |")
    return "\n".join(lines)
