"""What one session saw, bounded and idempotent: replaying a flow replaces its record."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator

from .render.report import Tally


class SessionLog:
    """The latest diagnoses, for the exit summary and the JSON report.

    A day of traffic cannot grow it without bound: ``seen`` counts distinct flows among the last
    ``limit`` flow ids remembered (re-analysis of the same id counts once), and only the newest
    ``reports`` diagnoses are kept, as ASCII JSON text (a diagnosis dict weighs ~9 KB in memory,
    its JSON ~2.5 KB).
    """

    def __init__(self, limit: int = 20_000, reports: int = 5_000):
        self.limit = limit
        self.reports = reports
        self.seen = 0
        self._diagnoses: OrderedDict[str, None] = OrderedDict()
        """The flow ids seen lately (oldest first)."""
        self._reports: OrderedDict[str, str] = OrderedDict()
        """Flow id -> its diagnosis as JSON, for flows with something to say (oldest first)."""
        self._tallied: dict[str, tuple[tuple[str, ...], str | None]] = {}
        """Flow id -> (its finding ids, its verdict), for the same flows: the exit summary's
        counts, without reading every report back."""

    def record(self, flow_id: str, diagnosis: dict | None, as_json: str | None = None) -> None:
        """Count the flow once and keep its diagnosis (``as_json``: its JSON, if already made;
        the diagnosis itself may then be left out)."""
        if flow_id in self._diagnoses:
            self._diagnoses.move_to_end(flow_id)
        else:
            self.seen += 1
            self._diagnoses[flow_id] = None
            if len(self._diagnoses) > self.limit:
                self._diagnoses.popitem(last=False)
        if self._reports.pop(flow_id, None) is not None:
            del self._tallied[flow_id]
        if diagnosis or as_json:
            if diagnosis is None:
                diagnosis = json.loads(as_json)  # type: ignore[arg-type]
            self._reports[flow_id] = as_json or json.dumps(diagnosis)
            self._tallied[flow_id] = (tuple({f["id"]: None for f in diagnosis.get("findings", ())}),
                                      diagnosis.get("verdict"))
            self._keep_newest()

    def diagnoses(self) -> Iterator[dict]:
        """The flows with something to say, oldest first."""
        return (json.loads(text) for text in self._reports.values())

    def tally(self) -> Tally:
        """The counts of ``diagnoses()`` (flows with findings, per finding id, per verdict)."""
        tally = Tally(self.seen, len(self._tallied))
        for ids, verdict in self._tallied.values():
            tally.counts.update(ids)
            if verdict:
                tally.verdicts[verdict] += 1
        return tally

    def _keep_newest(self) -> None:
        while len(self._reports) > self.reports:
            flow_id, _ = self._reports.popitem(last=False)
            del self._tallied[flow_id]
