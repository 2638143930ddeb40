"""What one session saw, bounded and idempotent: replaying a flow replaces its record."""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, Optional


class SessionLog:
    """The latest diagnosis per flow id, for the exit summary and the JSON report.

    Keeps at most ``limit`` flows (oldest dropped first) so a day of traffic cannot grow it
    without bound; ``seen`` counts distinct flows, re-analysis of the same id counts once.
    """

    def __init__(self, limit: int = 50_000):
        self.limit = limit
        self.seen = 0
        self._diagnoses: OrderedDict[str, Optional[dict]] = OrderedDict()

    def record(self, flow_id: str, diagnosis: Optional[dict]) -> None:
        if flow_id in self._diagnoses:
            self._diagnoses.move_to_end(flow_id)
        else:
            self.seen += 1
        self._diagnoses[flow_id] = diagnosis
        while len(self._diagnoses) > self.limit:
            self._diagnoses.popitem(last=False)

    def diagnoses(self) -> Iterator[dict]:
        """The flows with something to say, oldest first."""
        return (d for d in self._diagnoses.values() if d)
