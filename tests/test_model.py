"""The neutral views: their fast paths answer what the slow, obvious code answers.

RequestView splits plain URLs itself (on every flow); it must answer exactly what urlsplit +
hostname answer, and hand every other URL to urlsplit."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.model import (
    _PLAIN_URL,
    RequestView,
    ResponseView,
    header_value,
    header_values,
    plain,
)

PIECES = st.sampled_from(["http", "https", "HTTPS", "wss", "x+y", "://", ":", "/", "//", "?", "#",
                          "@", "[", "]", "\\", " ", "\t", "\n", "\x00", "%2F", "é", "℀", "ß",
                          "api.example.com", "Graph.Microsoft.COM", "8443", "user:pw", "::1",
                          "a=1&b=2", "v1/orders", ".", "-", "\udcff"])


def expected(url: str):
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    return parts.scheme.lower(), (parts.hostname or "").lower(), path, parts.query


def split(url: str):
    view = RequestView("GET", url)
    return view.scheme, view.host, view.path, view.query


@pytest.mark.parametrize("url", [
    "https://api.example.com/v1/orders/7?expand=items",
    "HTTP://Graph.Microsoft.com:8443",
    "https://h/p?q?r#f#g",
    "https://h?only=query",
    "https://h#frag?not-a-query",
    "http://h:notaport/x",
])
def test_plain_urls_take_the_fast_path_and_agree_with_urlsplit(url):
    assert _PLAIN_URL.fullmatch(url)
    assert split(url) == expected(url)


@pytest.mark.parametrize("url", [
    "https://user:pw@api.example.com/x", "http://[::1]:8080/x", " https://h/x", "https://h/a\tb",
    "https://h\\x/y", "https://exa℀mple.com/x", "/relative/path?x=1", "",
])
def test_other_urls_go_to_urlsplit(url):
    assert not _PLAIN_URL.fullmatch(url)
    try:
        want = expected(url)
    except ValueError:
        with pytest.raises(ValueError):
            split(url)
    else:
        assert split(url) == want


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_any_url_splits_as_urlsplit_does(url):
    try:
        want = expected(url)
    except ValueError:
        return
    assert split(url) == want


def test_plain_keeps_encodable_values_and_fixes_raw_bytes_at_any_depth():
    clean = {"findings": [{"id": "x", "details": (("k", "vé"),)}], "n": 1.5}
    assert plain(clean) == clean
    raw = b"ab\xff".decode("utf-8", "surrogateescape")
    fixed = plain({"findings": [{"message": raw, "details": (("k", raw),)}], raw: None})
    assert fixed == {"findings": [{"message": "ab\\xff", "details": (("k", "ab\\xff"),)}],
                     "ab\\xff": None}
    json.dumps(fixed, ensure_ascii=False).encode("utf-8")


@given(fields=st.lists(st.tuples(st.sampled_from(["Set-Cookie", "set-cookie", "Location", "ETag",
                                                 "X-Error"]), st.sampled_from(["a", "b", ""])),
                       max_size=5),
       names=st.lists(st.sampled_from(["set-cookie", "SET-COOKIE", "location", "x-error", "via"]),
                      min_size=1, max_size=4),
       single_first=st.booleans())
def test_header_lookups_answer_what_a_scan_of_the_fields_answers(fields, names, single_first):
    """``header``/``header_all`` go through an index of first values once it is built, and
    ``header_all`` scans without building it: in any order of calls, the obvious scan's answer."""
    view = ResponseView(200, tuple(fields))
    for name in names:
        if single_first:
            assert view.header(name) == header_value(view.headers, name)
        assert view.header_all(name) == header_values(view.headers, name)
        assert view.header(name) == header_value(view.headers, name)


def test_plain_with_json_rewrites_only_what_needs_it():
    """The JSON is ASCII; a raw byte kept as a surrogate (surrogateescape) is rewritten so that
    the value survives a .flow file, and text beyond ASCII or the BMP is kept as it is."""
    import json

    from authlens.model import plain, plain_with_json
    kept = {"a": "— § 😀", "b": ["\\ud800 is text"]}
    value, text = plain_with_json(kept)
    assert value == kept and text.isascii() and json.loads(text) == kept
    raw = {"a": "x\udcff"}
    value, text = plain_with_json(raw)
    assert value == plain(raw) != raw and json.loads(text) == value
    value["a"].encode("utf-8")  # no surrogate left
