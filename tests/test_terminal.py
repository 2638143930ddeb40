"""The rich block: laid out by authlens, so these pin its geometry and its escaping."""

from __future__ import annotations

import re

import pytest
from factories import diagnose, exchange, mint
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from authlens.render import terminal

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def expired_refusal() -> dict:
    ex = exchange(f"Bearer {mint(lifetime=600, issued=1_789_990_000)}", status=401,
                  response_headers=(("WWW-Authenticate",
                                     'Bearer error="invalid_token", error_description="expired"'),))
    return diagnose(ex).to_dict()


@pytest.mark.parametrize("width", [40, 60, 100, 160])
@pytest.mark.parametrize("color_system", [None, "standard", "truecolor"])
def test_every_line_is_exactly_the_console_width(width, color_system):
    text = terminal.render_block(expired_refusal(), width, color_system)
    lines = ANSI.sub("", text).splitlines()
    assert len(lines) > 5
    assert {cell_len(line) for line in lines} == {width}
    assert lines[0].startswith("╭─ 401 GET https://api.example.test/")
    assert lines[-1] == "╰" + "─" * (width - 2) + "╯"
    assert all(line.startswith("│ ") and line.endswith(" │") for line in lines[1:-1])


def test_plain_output_has_no_escape_codes_and_colour_output_has():
    assert "\x1b[" not in terminal.render_block(expired_refusal(), 100, None)
    coloured = terminal.render_block(expired_refusal(), 100, "truecolor")
    assert "\x1b[1;31m401 \x1b[0m" in coloured  # the refusal status in bold red


def test_the_block_says_what_went_wrong_and_where_the_fix_lives():
    text = terminal.render_block(expired_refusal(), 200, None)
    rows = {line[2:13].strip() for line in text.splitlines()[1:-1]}
    assert {"credential", "token", "server", "finding", "verdict", "fix"} <= rows
    assert "AUTHENTICATION (token-expired) — Token expired" in text
    assert "refresh or re-acquire the token" in text and "RFC 7519 §4.1.4" in text


def test_long_words_are_folded_and_text_is_wrapped_at_spaces_without_loss():
    words = ["x" * 70, *(f"w{i}" for i in range(30))]
    diagnosis = {"method": "GET", "url": "https://a.test/", "status": 200,
                 "findings": [{"id": "credential-quoted", "severity": "warning",
                               "message": " ".join(words)}]}
    lines = terminal.render_block(diagnosis, 50, None).splitlines()[1:-1]
    body = [line[2:-2] for line in lines]
    assert all(cell_len(b) == 46 for b in body)
    values = "".join(b[len("finding") + 1:].rstrip() + " " for b in body)
    assert "".join(values.split()) == "".join(f"⚠ credential-quoted {' '.join(words)}".split())
    assert all(w in values.split() for w in words[1:])  # short words never split


def test_wide_characters_and_a_long_title_keep_the_frame():
    diagnosis = {"method": "GET", "url": "https://例え.test/" + "パス" * 60, "status": 403,
                 "findings": [{"id": "credential-quoted", "severity": "warning",
                               "message": "トークン " * 30}]}
    lines = terminal.render_block(diagnosis, 60, None).splitlines()
    assert {cell_len(line) for line in lines} == {60}
    assert "…" in lines[0]


def test_control_characters_from_the_wire_are_shown_never_sent_to_the_terminal():
    diagnosis = {"method": "GET", "url": "https://a.test/\x1b]0;pwned\x07", "status": 401,
                 "findings": [{"id": "credential-whitespace", "severity": "warning",
                               "message": "bad \x1b[2J\r\tbytes\x9b"}]}
    text = terminal.render_block(diagnosis, 100, None)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    assert "\\x1b[2J\\x0d\\x09bytes\\x9b" in text and "\\x1b]0;pwned\\x07" in text


@given(st.lists(st.tuples(st.text("abc", min_size=1, max_size=130), st.integers(0, 2)),
                min_size=1, max_size=30), st.sampled_from([8, 20, 60, 95]))
def test_ascii_wrapping_breaks_where_cell_counting_does(words, width):
    text = "".join(word + " " * spaces for word, spaces in words)
    assert terminal._ascii_breaks(text, width) == terminal._cell_breaks(text, width)


def test_rows_laid_out_once_are_the_same_at_every_width_and_colour():
    """Rows are remembered across flows (``terminal._row``): a remembered row is reused only
    for the same width and colour system, and reads as a fresh layout does."""
    diagnosis = expired_refusal()
    seen = {(w, c): terminal.render_block(diagnosis, w, c)
            for w in (60, 100) for c in (None, "truecolor")}
    terminal._row.clear()
    for (width, colour), text in seen.items():
        assert terminal.render_block(diagnosis, width, colour) == text
        assert {cell_len(line) for line in ANSI.sub("", text).splitlines()} == {width}
    assert len({text for text in seen.values()}) == 4
