"""Capture readers: .flow (fast path and mitmproxy's reader agree), HAR (browser export), tnet."""

from __future__ import annotations

import json

import pytest
from capture_helpers import BROWSER_HAR, CAPTURES, FLOW_FILES, verdicts
from mitmproxy import io as mitm_io
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow

from authlens import capture
from authlens.capture import flowfile, har, tnet
from authlens.mitm.adapter import exchange_from_flow


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_reader_and_live_adapter_give_equal_exchanges(path):
    with open(path, "rb") as fo:
        expected = [exchange_from_flow(f) for f in mitm_io.FlowReader(fo).stream()]
    assert list(flowfile.exchanges(str(path))) == expected


def test_odd_flows_read_the_same(tmp_path):
    """gzip bodies, CONNECT, a flow without response, non-UTF-8 header bytes."""
    flows = [tflow.tflow(resp=True), tflow.tflow(), tflow.tflow(resp=True)]
    flows[0].request.method = "POST"
    flows[0].request.headers["content-type"] = "application/x-www-form-urlencoded"
    flows[0].request.headers["content-encoding"] = "gzip"
    flows[0].request.content = b"grant_type=password&password=pw"
    flows[2].request.method = "CONNECT"
    flows[2].request.headers["authorization"] = "Bearer \u200babc"
    flows[2].request.headers.fields += ((b"x-raw", b"\xff\xfe"),)
    path = tmp_path / "odd.flow"
    with open(path, "wb") as fo:
        writer = mitm_io.FlowWriter(fo)
        for f in flows:
            writer.add(f)
    assert list(flowfile.exchanges(str(path))) == [exchange_from_flow(f) for f in flows]
    assert list(flowfile.exchanges(str(path)))[0].request.body == b"grant_type=password&password=pw"


def test_older_flow_format_is_migrated(tmp_path):
    state = tflow.tflow(resp=True).get_state()
    state["version"] = 20  # mitmproxy 10: upgraded by mitmproxy's own compat code
    path = tmp_path / "old.flow"
    path.write_bytes(tnetstring.dumps(state))
    (exchange,) = flowfile.exchanges(str(path))
    assert exchange.request.url == "http://address:22/path"


def test_tnet_selection_matches_full_parse():
    data = FLOW_FILES[0].read_bytes()
    for start, end in tnet.spans(data):
        full = tnetstring.loads(data[start:end])
        assert tnet.parse(data, start)[0] == full
        selected, _ = tnet.parse(data, start, flowfile.SELECT)
        assert selected["request"]["headers"] == full["request"]["headers"]
        assert set(selected) <= set(flowfile.SELECT)


def test_browser_har_diagnoses_like_the_flows():
    """browser_export.har is healthy + expired_token + api_key_in_query converted (see
    tests/data/make_browser_har.py): pseudo-headers dropped, send times kept."""
    from_flows = sum((verdicts(CAPTURES / f"{n}.flow")
                      for n in ("healthy", "expired_token", "api_key_in_query")), [])
    assert verdicts(BROWSER_HAR) == from_flows
    first = next(har.exchanges(str(BROWSER_HAR)))
    assert not any(name.startswith(":") for name, _ in first.request.headers)
    assert first.request.timestamp == pytest.approx(
        next(flowfile.exchanges(str(CAPTURES / "healthy.flow"))).request.timestamp, abs=0.001)


def test_expand_and_errors(tmp_path):
    assert capture.expand([str(CAPTURES)]) == [str(p) for p in FLOW_FILES]
    with pytest.raises(capture.CaptureError):
        capture.expand([str(tmp_path / "nope.flow")])
    bad = tmp_path / "bad.flow"
    bad.write_bytes(b"garbage")
    with pytest.raises(capture.CaptureError):
        list(capture.exchanges(str(bad)))
    (tmp_path / "x.har").write_text(json.dumps({"log": {"entries": []}}))
    assert list(capture.exchanges(str(tmp_path / "x.har"))) == []
