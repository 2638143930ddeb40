"""Verdict and cause selection, the session log, and the text renderers."""

import pytest
from factories import NOW, exchange, mint

from authlens import catalog
from authlens.analyze import Analyzer, Settings
from authlens.model import Finding
from authlens.render import text
from authlens.session import SessionLog


def analyze_with(findings, status):
    return Analyzer(Settings(), checks=[lambda ctx: findings]).analyze(exchange("Bearer x", status=status))


def test_request_evidence_outranks_the_status_code():
    d = analyze_with([Finding("status-forbidden", "403"), Finding("credential-empty", "empty")], 403)
    assert (d.verdict, d.cause) == ("authentication", "credential-empty")


def test_insufficient_scope_on_a_401_is_authorization():
    d = analyze_with([Finding("status-unauthorized", "401"),
                      Finding("challenge-insufficient-scope", "scope")], 401)
    assert (d.verdict, d.cause) == ("authorization", "challenge-insufficient-scope")


def test_finding_verdict_override_wins_over_catalog():
    d = analyze_with([Finding("error-in-body", "PERMISSION_DENIED", verdict="authorization")], 403)
    assert d.verdict == "authorization"


def test_server_side_refusal_on_a_200_gets_a_verdict():
    d = analyze_with([Finding("error-in-body", "slack ok:false invalid_auth")], 200)
    assert d.verdict == "authentication"


def test_request_problem_on_a_success_has_no_verdict_but_is_noteworthy():
    d = analyze_with([Finding("credential-in-url", "access_token in query")], 200)
    assert d.verdict is None and d.noteworthy
    assert d.summary.startswith("Credential in the URL")


def test_refusal_with_nothing_explaining_is_unknown():
    d = analyze_with([Finding("token-opaque", "opaque")], 401)
    assert (d.verdict, d.cause) == ("unknown", None)


def test_every_catalog_entry_is_complete():
    for entry in catalog.CATALOG.values():
        assert entry.severity in catalog.SEVERITIES, entry.id
        assert entry.title and entry.explanation and entry.fix and entry.cite, entry.id
        assert entry.verdict in (None, catalog.AUTHN, catalog.AUTHZ), entry.id
        assert entry.group in catalog.GROUPS, entry.id
        assert (entry.verdict is None) == (entry.group == "note"), entry.id


def test_catalog_entries_take_keyword_fields_only():
    """Positional entries read wrong as soon as a field is added or moved: keywords are required."""
    with pytest.raises(TypeError):
        catalog.Entry("x", "error", "Title", "Why.", "Fix.", "RFC 9110", catalog.AUTHN, "credential")
    entry = catalog.Entry(id="x", severity="error", title="Title", explanation="Why.", fix="Fix.",
                          cite="RFC 9110", verdict=catalog.AUTHN, group="credential")
    assert (entry.verdict, entry.group, entry.generic) == (catalog.AUTHN, "credential", False)


def test_comment_is_idempotent_and_keeps_user_text():
    d = Analyzer().analyze(exchange(f"Bearer {mint(issued=NOW - 7200)}", status=401)).to_dict()
    ours = text.comment(d)
    assert ours.startswith("token-expired: Token expired " + text.COMMENT_PREFIX
                           + "AUTHENTICATION (token-expired)")
    once = text.merge_comment("checked by Ana", ours)
    assert text.merge_comment(once, ours) == once == f"checked by Ana\n{ours}"
    assert text.merge_comment(once, "") == "checked by Ana"
    assert text.marker(d) == ":key:"


def test_markers_follow_the_cause_group():
    assert text.marker({"verdict": "authorization", "cause": "status-forbidden"}) == ":no_entry:"
    assert text.marker({"verdict": "authentication", "cause": "credential-quoted"}) == ":warning:"
    assert text.marker({"verdict": "unknown", "cause": None}) == ":grey_question:"
    assert text.marker({"verdict": None}) == ""


def test_session_log_counts_replayed_flows_once_and_is_bounded():
    log = SessionLog(limit=3)
    log.record("a", {"verdict": "authentication"})
    log.record("a", {"verdict": "authentication"})
    log.record("b", None)
    assert log.seen == 2 and len(list(log.diagnoses())) == 1
    for name in "cdef":
        log.record(name, {"verdict": "authorization"})
    assert len(log._diagnoses) == 3


def test_links_of_findings_reach_the_diagnosis():
    linked = Finding("token-expired", "expired", links=(("issued-by", "flow-7", "POST /token"),))
    d = analyze_with([linked], 401).to_dict()
    assert d["links"] == [{"relation": "issued-by", "flow": "flow-7", "description": "POST /token"}]
    assert d["findings"][0]["links"] == d["links"]


def test_comment_without_verdict_names_each_finding_once():
    d = analyze_with([Finding("credential-in-url", "access_token in query"),
                      Finding("credential-over-http", "plain http")], 200).to_dict()
    comment = text.comment(d)
    assert comment.count("credential-in-url") == 1 and comment.count("credential-over-http") == 1
    assert "Fix: " in comment


@pytest.mark.parametrize("cause", sorted(catalog.CATALOG))
def test_the_marker_follows_the_verdict(cause):
    """A 403 with an authorization verdict got the key ("credential refused"): never again."""
    assert text.marker({"verdict": catalog.AUTHZ, "cause": cause}) == ":no_entry:"
    assert text.marker({"verdict": catalog.AUTHN, "cause": cause}) != ":no_entry:"
    assert text.marker({"verdict": None, "cause": cause}) == ""


def test_the_comment_column_starts_with_the_cause():
    """mitmweb's comment column is 150 px: its first 25 characters name the cause."""
    d = Analyzer().analyze(exchange(f"Bearer {mint(issued=NOW - 7200)}", status=401)).to_dict()
    assert text.comment(d)[:25].startswith("token-expired: Token exp")


def test_the_view_wraps_long_lines():
    d = Analyzer().analyze(exchange(f"Bearer {mint(issued=NOW - 7200)}", status=401)).to_dict()
    shown = text.explain(d, NOW, width=80)
    assert max(map(len, shown.splitlines())) <= 80
    assert " ".join(shown.split()) .replace("- ", "-") == " ".join(text.explain(d, NOW).split()).replace("- ", "-")


def test_session_tally_counts_what_the_reports_hold():
    """The exit summary's counts (kept as flows are recorded) equal those of the reports kept,
    after a replay replaces a record and after the oldest reports are dropped."""
    from authlens.render.report import Tally
    log = SessionLog(reports=2)
    a = {"verdict": "authentication", "findings": [{"id": "token-expired"}, {"id": "token-expired"}]}
    b = {"verdict": "authorization", "findings": [{"id": "scope-missing"}]}
    c = {"verdict": None, "findings": [{"id": "credential-over-http"}]}
    log.record("1", a)
    log.record("2", b)
    log.record("1", c)  # a replay replaces flow 1's record
    assert log.tally() == Tally.of(log.seen, log.diagnoses())
    assert log.tally().counts == {"scope-missing": 1, "credential-over-http": 1}
    log.record("3", a)  # only the newest two reports are kept
    tally = log.tally()
    assert tally == Tally.of(log.seen, log.diagnoses())
    assert (tally.seen, tally.with_findings, dict(tally.verdicts)) == (
        3, 2, {"authentication": 1})
