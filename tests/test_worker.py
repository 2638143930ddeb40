"""The analysis process (authlens.mitm.worker): same diagnoses as on the proxy's thread, answers
in order, and a lost process hands its flows back. Live through mitmdump: test_addon_live.py."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from harness import read_flows

from authlens.analyze import Analyzer, Settings, default_trackers
from authlens.mitm import worker
from authlens.mitm.adapter import exchange_from_flow, record_of
from authlens.render import terminal
from authlens.rules import RuleStore
from authlens.secrecy import redact_url

CAPTURES = sorted((Path(__file__).resolve().parents[1] / "captures").glob("*.flow"))


def capture_flows() -> list:
    return [f for path in CAPTURES for f in read_flows(path) if hasattr(f, "request")]


def settings() -> Settings:
    store = RuleStore([], presets=True)
    store.reload()
    return Settings(rules=store.ruleset)


class ManualLoop:
    """The part of an event loop ``Worker`` uses, run by hand (answers are read by ``ask``)."""

    def __init__(self):
        self.soon: list = []

    def call_later(self, delay, callback, *args):
        self.soon.append((callback, args))

    def run_soon(self):
        while self.soon:
            callback, args = self.soon.pop(0)
            callback(*args)

    def watch(self, *args):
        pass

    add_reader = add_writer = remove_reader = remove_writer = watch


class Collector:
    """A ``Worker`` and what it hands back."""

    def __init__(self, terminal=None):
        self.results: list[tuple] = []
        self.lost: list[tuple[str, list]] = []
        self.loop = ManualLoop()
        self.worker = worker.Worker(lambda flow, *result: self.results.append((flow, *result)),
                                    lambda reason, owed: self.lost.append((reason, owed)))
        self.worker.start(self.loop, terminal)
        self.worker.send(("settings", settings()))

    def submit_all(self, flows, results_wanted: bool = True) -> None:
        for flow in flows:
            assert self.worker.submit(record_of(flow), flow if results_wanted else None)
        self.loop.run_soon()  # the batch goes out

    def close(self) -> None:
        self.worker.stop()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


def test_the_process_gives_the_diagnoses_the_proxy_thread_gives(collector):
    flows = capture_flows()
    assert len(flows) >= 15
    here = Analyzer(settings(), trackers=default_trackers())
    expected = {}
    for flow in flows:
        diagnosis = here.analyze(exchange_from_flow(flow))
        if diagnosis.noteworthy:
            expected[flow.id] = diagnosis.to_dict()

    collector.submit_all(flows)
    assert collector.worker.ask("recent") is not None  # answered after every flow before it
    got = {flow.id: diagnosis for flow, diagnosis, _, _ in collector.results}
    assert got == expected
    assert [f.id for f, *_ in collector.results] == [f.id for f in flows if f.id in expected]
    assert not collector.lost


def test_rich_blocks_are_drawn_in_the_process_when_asked(collector):
    collector.worker.send(("present", terminal.Output("rich", 100), True))
    collector.submit_all(capture_flows())
    collector.worker.ask("recent")
    blocks = [block for *_, block in collector.results]
    assert blocks and all(block.startswith("╭─ ") for block in blocks)


def test_without_a_flow_view_only_the_json_and_the_terminal_text_come_back(collector):
    flows = capture_flows()
    here = Analyzer(settings(), trackers=default_trackers())
    diagnoses = [here.analyze(exchange_from_flow(flow)) for flow in flows]
    expected = [d.to_dict() for d in diagnoses if d.noteworthy]
    collector.worker.send(("present", terminal.Output("json"), False))
    collector.submit_all(flows)
    collector.worker.ask("recent")
    assert [diagnosis for _, diagnosis, _, _ in collector.results] == [None] * len(expected)
    assert [json.loads(as_json) for _, _, as_json, _ in collector.results] == expected
    assert [json.loads(shown) for *_, shown in collector.results] == expected


def test_without_a_flow_view_the_process_writes_stdout_and_keeps_the_session(tmp_path):
    flows = capture_flows()
    here = Analyzer(settings(), trackers=default_trackers())
    diagnosed = [(f.id, d) for f in flows if (d := here.analyze(exchange_from_flow(f))).noteworthy]
    expected = [d.to_dict() for _, d in diagnosed]
    with open(tmp_path / "stdout", "w", encoding="utf-8") as stdout:
        collector = Collector(terminal=stdout)
        try:
            collector.worker.send(("present", terminal.Output("json"), False, "utf-8"))
            stdout.write("the proxy's line\n")  # still in its buffer: goes out before the batch
            collector.submit_all(flows, results_wanted=False)
            collector.worker.ask("recent")
            seen, reports = collector.worker.ask("session")
            assert collector.worker.ask("session") == (0, [])  # handed over once
        finally:
            collector.close()
    assert collector.results == [] and not collector.lost
    first, *lines = (tmp_path / "stdout").read_text(encoding="utf-8").splitlines()
    assert first == "the proxy's line"
    assert [json.loads(line) for line in lines] == expected
    assert seen == len(flows)
    assert [flow_id for flow_id, _ in reports] == [flow_id for flow_id, _ in diagnosed]
    assert [json.loads(as_json) for _, as_json in reports] == expected


def test_a_stream_without_a_descriptor_is_not_handed_over(capsys):
    collector = Collector(terminal=__import__("io").StringIO())
    try:
        assert collector.worker.terminal is None
        collector.worker.send(("present", terminal.Output("json"), False, "utf-8"))
        collector.submit_all(capture_flows())
        collector.worker.ask("recent")
        assert collector.results  # the process cannot write: the results come back
    finally:
        collector.close()


def test_a_lost_process_hands_back_the_flows_it_owed(collector):
    flows = capture_flows()
    os.kill(collector.worker.process.pid, signal.SIGKILL)
    collector.worker.process.wait()
    wanted, unwanted = flows[:-3], flows[-3:]
    for flow in wanted:
        assert collector.worker.submit(record_of(flow), flow)  # not known to be dead yet
    for flow in unwanted:  # no result wanted back (mitmdump): not held, not handed back
        assert collector.worker.submit(record_of(flow))
    collector.loop.run_soon()
    assert collector.worker.ask("recent") is None
    (reason, owed), = collector.lost
    assert "analysis process" in reason and "(3 flows sent to it go unanalysed)" in reason
    assert [f.id for f in owed] == [f.id for f in wanted]
    assert collector.worker.process is None
    assert not collector.worker.submit(record_of(flows[0]), flows[0])


def test_frames_carry_plain_data_and_settings():
    buffer = bytearray()
    for message in [("flows", [(1, ("id", None, (b"GET",), None))]), ("settings", settings())]:
        buffer += worker.frame(message)
    half = bytearray(buffer[:-3])
    first = worker.unframe(half)
    assert [m[0] for m in first] == ["flows"] and len(half) > 0  # the rest waits for its bytes
    flows, settings_message = worker.unframe(buffer)
    assert flows == ("flows", [(1, ("id", None, (b"GET",), None))])
    assert settings_message[1].rules.match("graph.microsoft.com", "/v1.0/me").name == "Microsoft Graph"


def test_a_flow_that_fails_in_the_process_is_named_and_the_others_go_on(monkeypatch):
    said = []
    monkeypatch.setattr(worker, "_say", lambda level, text: said.append(text))
    analysis = worker._Analysis()
    flows = capture_flows()
    broken = analysis.analyzer.analyze
    monkeypatch.setattr(analysis.analyzer, "analyze", lambda ex: (
        1 / 0 if ex.request.url == flows[0].request.url else broken(ex)))
    _, last, results = analysis.flows([(i, record_of(f)) for i, f in enumerate(flows, 1)])
    request = flows[0].request  # its query carries an API key: named, redacted
    assert "api_key=test-api-key" in request.path
    assert said == [f"authlens: internal error in the analysis process on "
                    f"{request.host}{redact_url(request.path)}: ZeroDivisionError: division by zero"]
    assert "test-api-key" not in said[0]
    assert last == len(flows) and results


def test_messages_longer_than_one_read_arrive_whole(collector):
    flows = [f.copy() for f in capture_flows() for _ in range(32)]  # fresh ids
    batch = worker.frame(("flows", [(i, record_of(f)) for i, f in enumerate(flows, 1)]))
    here = Analyzer(settings(), trackers=default_trackers())
    expected = [f.id for f in flows if here.analyze(exchange_from_flow(f)).noteworthy]
    collector.worker.send(("present", terminal.Output("rich", 100), True))

    collector.submit_all(flows)
    assert collector.worker.ask("recent") is not None

    blocks = [block for *_, block in collector.results]
    assert len(batch) > worker.READ_SIZE and sum(map(len, blocks)) > 2 * worker.READ_SIZE
    assert [f.id for f, *_ in collector.results] == expected
    assert all(block.startswith("╭─ ") and block.endswith("\n") for block in blocks)
    assert not collector.lost
