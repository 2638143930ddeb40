"""The JSON report: ``{"flows": [{url, status, verdict, cause, findings: [{id, ...}]}, ...]}``."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from .. import __version__


def build(seen: int, diagnoses: Iterable[dict]) -> dict:
    flows = list(diagnoses)
    return {
        "tool": f"authlens {__version__}",
        "seen": seen,
        "with_findings": len(flows),
        "counts": dict(Counter(f["id"] for d in flows for f in d.get("findings", []))),
        "flows": flows,
    }


def write_json(path: str, seen: int, diagnoses: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(build(seen, diagnoses), out, indent=2, ensure_ascii=False)
        out.write("\n")
