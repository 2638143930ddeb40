"""The report of a session or of the flows in view, as JSON or Markdown.

The JSON layout ``{"flows": [{url, status, verdict, cause, findings: [{id, ...}]}, ...]}`` is a
stable interface; the Markdown report is the same content for people.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from .. import __version__
from .text import headline

MARKDOWN_SUFFIXES = (".md", ".markdown")


def build(seen: int, diagnoses: Iterable[dict]) -> dict:
    flows = list(diagnoses)
    return {
        "tool": f"authlens {__version__}",
        "seen": seen,
        "with_findings": len(flows),
        "counts": dict(Counter(f["id"] for d in flows for f in d.get("findings", []))),
        "flows": flows,
    }


def markdown(seen: int, diagnoses: Iterable[dict]) -> str:
    """A summary table (one row per flow with findings), then each flow's findings and fixes."""
    data = build(seen, diagnoses)
    out = ["# authlens report", "",
           f"{data['seen']} flows, {data['with_findings']} with findings ({data['tool']}).", ""]
    if data["flows"]:
        out += ["| # | status | request | verdict | cause |", "|---|---|---|---|---|"]
        out += [f"| {n} | {d.get('status') or '---'} | {_cell(d['method'] + ' ' + d['url'])} "
                f"| {d.get('verdict') or '-'} | {_cell(d.get('cause') or '-')} |"
                for n, d in enumerate(data["flows"], 1)]
    for n, diagnosis in enumerate(data["flows"], 1):
        out += ["", f"## {n}. {diagnosis.get('status') or '---'} {diagnosis['method']} "
                    f"`{diagnosis['url']}`", "", f"**{headline(diagnosis)}**", ""]
        for finding in diagnosis.get("findings", []):
            out.append(f"- `{finding['id']}` ({finding['severity']}): {finding['message']}  ")
            out.append(f"  Fix: {finding['fix']} ({finding['cite']})")
    return "\n".join(out) + "\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def write(path: str, seen: int, diagnoses: Iterable[dict]) -> None:
    """Write the report to ``path``: Markdown for ``*.md`` / ``*.markdown``, JSON otherwise."""
    if path.lower().endswith(MARKDOWN_SUFFIXES):
        content = markdown(seen, diagnoses)
    else:
        content = json.dumps(build(seen, diagnoses), indent=2, ensure_ascii=False) + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write(content)
