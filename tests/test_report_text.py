"""Small text defects of the terminal and the reports, each pinned."""

from __future__ import annotations

from capture_helpers import CAPTURES
from factories import exchange, mint

from authlens.analyze import Analyzer
from authlens.cli import main
from authlens.render import terminal, text


def test_rules_explain_keeps_the_port(capsys):
    main(["rules", "explain", "https://api.example.test:8443/v1/orders"])
    assert capsys.readouterr().out.startswith("GET api.example.test:8443/v1/orders\n")


def test_a_short_secret_is_not_in_double_parentheses():
    d = Analyzer().analyze(exchange(status=401, url="https://api.example.test/v1?api_key=abc123xyz"))
    messages = " ".join(f["message"] for f in d.to_dict()["findings"])
    assert "credential-in-url" in {f["id"] for f in d.to_dict()["findings"]}
    assert "((" not in messages and "9 chars, #" in messages


def test_a_token_reference_is_not_in_double_parentheses():
    d = Analyzer().analyze(exchange(f"Bearer {mint(lifetime=-600)}", status=401))
    message = d.cause_finding.message
    assert d.cause == "token-expired" and "))" not in message.split(" expired ")[0]


def test_messages_name_the_challenge_header_as_http_writes_it():
    d = Analyzer().analyze(exchange("Bearer abc.def", status=401,
                                    response_headers=(("WWW-Authenticate", 'Bearer realm="api'),)))
    said = " ".join(f["message"] for f in d.to_dict()["findings"])
    assert "www-authenticate" not in said and "WWW-Authenticate" in said


def test_the_credential_line_shows_the_quotes_as_sent():
    d = Analyzer().analyze(exchange(f'"Bearer {mint()}"', status=401)).to_dict()
    line = next(x for x in text.explain(d).splitlines() if x.strip().startswith("credential"))
    assert 'Authorization: "Bearer eyJ' in line and line.rstrip().endswith(')"')
    block = terminal.render_block(d, width=200)
    assert 'Authorization: "Bearer eyJ' in block


def test_the_diff_header_never_wraps_a_path_mid_word(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    a, b = f"{CAPTURES / 'healthy.flow'}#1", str(CAPTURES / "quoted_header.flow")
    assert main(["diff", a, b]) == 0
    out = capsys.readouterr().out
    assert f"A = {a}" in out.replace("\n", "") and "┃ A " in out and "┃ B " in out
