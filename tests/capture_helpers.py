"""Shared bits of the capture tests: the sample captures and their verdicts."""

from __future__ import annotations

from pathlib import Path

from authlens import capture
from authlens.analyze import Analyzer

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
FLOW_FILES = sorted(CAPTURES.glob("*.flow"))
BROWSER_HAR = ROOT / "tests" / "data" / "browser_export.har"


def verdicts(path) -> list[tuple]:
    """(method, url, status, verdict, cause) of every flow of a capture, analysed in order."""
    analyzer = Analyzer()
    out = []
    for exchange in capture.exchanges(str(path)):
        d = analyzer.analyze(exchange).to_dict()
        out.append((d["method"], d["url"], d["status"], d["verdict"], d["cause"]))
    return out
