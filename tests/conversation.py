"""Builders for conversations: exchanges with flow ids and a client, analysed by one Analyzer."""

from __future__ import annotations

from dataclasses import replace

from factories import NOW, exchange

from authlens.analyze import Analyzer, Settings, default_trackers

CLIENT = "10.0.0.7"


def step(flow_id: str, url: str, status: int = 200, at: float = 0.0, client: str = CLIENT,
         **kwargs):
    """An exchange of the conversation, sent ``at`` seconds after NOW."""
    return replace(exchange(url=url, status=status, sent=NOW + at, **kwargs),
                   id=flow_id, client=client)


class Conversation:
    """One analyzer with fresh default trackers; ``see`` returns each diagnosis."""

    def __init__(self, **settings):
        self.analyzer = Analyzer(Settings(**settings), trackers=default_trackers())

    def see(self, *exchanges):
        return [self.analyzer.analyze(ex) for ex in exchanges][-1]


def only(diagnosis, finding_id: str):
    [finding] = [f for f in diagnosis.findings if f.id == finding_id]
    return finding
