"""The interactive-UI parts, in-process: content view (through mitmproxy's own contentview API, so
the 11 branch runs in .venv and the 12 branch in .venv313), commands, comment column, console
output, Markdown report and ``Analyzer.describe``."""

from __future__ import annotations

import json
import re

import pytest
from factories import NOW, exchange, mint
from mitmproxy import contentviews, options
from mitmproxy.addons.view import View
from mitmproxy.test import taddons, tflow
from mitmproxy.tools.web.webaddons import WebAddon

from authlens.analyze import Analyzer
from authlens.mitm import compat
from authlens.mitm import hooks as mitm_hooks
from authlens.mitm.addon import Annotate, Diagnose, TerminalOutput, make_addons
from authlens.mitm.ui import VIEW_NAME, CommentColumn
from authlens.render import report, text

EXPIRED = mint(issued=NOW - 7200, lifetime=3600)
VALID = mint(scp="Orders.Read")


def make_flow(authorization: str, status: int, path: str = "/v1/orders"):
    f = tflow.tflow(resp=True)
    f.request.scheme, f.request.path = "https", path
    f.request.headers["Authorization"] = authorization
    f.request.timestamp_start = f.response.timestamp_start = NOW
    f.response.status_code = status
    f.response.headers["Content-Type"] = "application/json"
    f.response.content = b'{"ok": true}'
    return f


@pytest.fixture
def tctx():
    """All authlens addons plus mitmproxy's View, loaded as mitmproxy would; flows go through
    ``run(flow)`` (the response hook of every addon)."""
    authlens, = make_addons()
    view = View()
    with taddons.context(view, authlens) as tctx:
        def run(*flows):
            for f in flows:
                authlens.response(f)
                view.add([f])
        tctx.run = run
        tctx.diagnose = authlens.diagnose
        yield tctx
    compat.unregister_contentview(VIEW_NAME)


def pretty(flow, message, name: str) -> tuple[str, str]:
    """(text, view name) as mitmproxy shows ``message`` with view ``name``."""
    if compat.MITMPROXY_MAJOR >= 12:
        r = contentviews.prettify_message(message, flow, name)
        return r.text, r.view_name
    desc, lines, _ = contentviews.get_message_content_view(name, message, flow)
    return "\n".join("".join(t for _, t in line) for line in lines), desc


def test_view_is_auto_selected_for_diagnosed_flows_on_request_and_response(tctx):
    f = make_flow(f"Bearer {EXPIRED}", 401)
    tctx.run(f)
    for message in (f.request, f.response):
        shown, name = pretty(f, message, "auto")
        assert name == VIEW_NAME
        assert shown.splitlines()[1].startswith("AUTHENTICATION (token-expired)")
        assert "    header alg=HS256 typ=JWT" in shown
        assert "    exp    2026-09-21 13:13:20Z (60 min ago)" in shown
        assert "    now    expired " in shown and ", issued " in shown
        assert "  credential  header Authorization: Bearer eyJh" in shown
        assert EXPIRED not in shown  # redacted
        assert "      fix: Client: refresh or re-acquire the token" in shown


def test_view_of_a_healthy_flow_only_by_name_and_decodes_its_token(tctx):
    f = make_flow(f"Bearer {VALID}", 200)
    tctx.run(f)
    assert pretty(f, f.response, "auto")[1] != VIEW_NAME  # the body renders as usual
    shown, name = pretty(f, f.response, VIEW_NAME)
    assert name == VIEW_NAME
    assert shown.splitlines()[1] == "authlens: nothing wrong with this call."
    assert "    scp    Orders.Read" in shown
    assert "authlens" not in f.metadata  # looking did not store anything
    assert (f.comment, f.marked) == ("", "")


def test_view_of_a_request_without_credential_or_response(tctx):
    f = tflow.tflow()
    shown, _ = pretty(f, f.request, VIEW_NAME)
    assert shown.splitlines()[0].startswith("--- GET http://address:22/path")
    assert "  credential  none sent" in shown


def test_explain_and_decode_commands(tctx):
    expired, healthy = make_flow(f"Bearer {EXPIRED}", 401), make_flow("Basic dTpw", 200, "/ok")
    tctx.run(expired, healthy)
    out = tctx.master.commands.call("authlens.explain", [expired, healthy])
    first, second = out.split("\n\n")
    assert first.startswith("401 GET https://address:22/v1/orders\nAUTHENTICATION (token-expired)")
    assert second.startswith("200 GET https://address:22/ok\nauthlens: nothing wrong")
    decoded = tctx.master.commands.call("authlens.decode", [expired, healthy])
    assert decoded.split("\n\n")[1] == "GET https://address:22/ok\n  no token sent"
    assert "    sub    user-1" in decoded
    assert tctx.master.commands.call("authlens.explain", []).startswith("authlens: no HTTP flow")


@pytest.mark.parametrize("name", ["report.json", "report.md"])
def test_report_command_writes_the_flows_in_view(tctx, tmp_path, name):
    denied, healthy = make_flow(f"Bearer {EXPIRED}", 401), make_flow(f"Bearer {VALID}", 200, "/ok")
    tctx.run(denied, healthy)
    path = tmp_path / name
    tctx.master.commands.call("authlens.report", str(path))
    written = path.read_text()
    if name.endswith(".json"):
        data = json.loads(written)
        assert (data["seen"], data["with_findings"]) == (2, 1)
        [flow] = data["flows"]
        assert (flow["status"], flow["verdict"], flow["cause"]) == (401, "authentication",
                                                                    "token-expired")
        assert flow["findings"][0]["id"] == "token-expired"
    else:
        assert written.startswith("# authlens report\n\n2 flows, 1 with findings")
        assert "| 1 | 401 | GET https://address:22/v1/orders | authentication | token-expired |" in written
        assert "**AUTHENTICATION (token-expired): " in written
        assert "- `token-expired` (error): " in written


def test_report_command_without_a_view_says_what_to_use(tmp_path):
    with taddons.context(*make_addons()) as tctx:
        with pytest.raises(Exception, match="authlens_report"):
            tctx.master.commands.call("authlens.report", str(tmp_path / "r.json"))
    compat.unregister_contentview(VIEW_NAME)


def test_clear_drops_only_what_authlens_wrote(tctx):
    ours = make_flow(f"Bearer {EXPIRED}", 401)
    users = make_flow(f"Bearer {EXPIRED}", 401, "/v2")
    tctx.run(ours, users)
    users.comment = "checked by Ana\n" + users.comment
    users.marked = ":star:"
    tctx.master.commands.call("authlens.clear", [ours, users])
    assert (ours.comment, ours.marked, "authlens" in ours.metadata) == ("", "", False)
    assert (users.comment, users.marked, "authlens" in users.metadata) == ("checked by Ana", ":star:", False)


def test_comment_column_only_over_the_default_columns():
    def columns(**opts):
        with taddons.context(WebAddon(), Annotate()) as tctx:
            tctx.configure(tctx.options, **opts)
            CommentColumn().running()
            return list(tctx.options.web_columns), tctx.options.default("web_columns")

    shown, default = columns()
    assert shown == [*default, "comment"]
    assert columns(web_columns=["path", "status"])[0] == ["path", "status"]
    assert columns(authlens_annotate=False)[0] == default


def test_console_ui_gets_log_lines_never_stdout(capsys, caplog):
    f = make_flow(f"Bearer {EXPIRED}", 401)
    diagnose = Diagnose()
    output = TerminalOutput(diagnose)
    diagnose.show = output.present
    with taddons.context(diagnose, output) as tctx:
        tctx.options.add_option("console_layout", str, "single", "the console UI's option")
        for style in ("json", "rich", "auto"):
            tctx.configure(output, authlens_output=style)
            assert output.style == "log"
            diagnose.response(f)
    assert capsys.readouterr().out == ""
    assert "would write over the console UI" in caplog.text
    assert "AUTHENTICATION (token-expired)" in caplog.text


def test_describe_fills_in_a_healthy_exchange_and_leaves_trackers_alone():
    class Tracker:
        seen = 0

        def check(self, ctx):
            Tracker.seen += 1
            return ()

    analyzer = Analyzer(trackers=[Tracker()])
    ex = exchange(f"Bearer {VALID}", status=200)
    assert analyzer.analyze(ex).tokens == []  # healthy traffic stays cheap
    described = analyzer.describe(ex)
    assert Tracker.seen == 1
    assert (described.verdict, described.findings) == (None, [])
    assert described.tokens[0]["claims"]["scp"] == "Orders.Read"
    assert described.credentials[0]["scheme"] == "Bearer"


def test_token_clock():
    claims = {"iat": NOW - 600, "exp": NOW + 3000}
    assert text.token_clock(claims, NOW) == "expires in 50 min, issued 10 min ago"
    assert text.token_clock(claims, NOW + 7200) == "expired 70 min ago, issued 2 h 10 min ago"
    assert text.token_clock({"exp": "soon"}, NOW) == ""


def test_markdown_report_escapes_table_cells(tmp_path):
    d = Analyzer().analyze(exchange(f"Bearer {EXPIRED}", status=401,
                                    url="https://api.example.test/a|b")).to_dict()
    path = tmp_path / "r.markdown"
    report.write(str(path), 1, [d])
    assert "| GET https://api.example.test/a\\|b |" in path.read_text()


def test_options_without_web_columns_are_left_alone():
    assert "web_columns" not in options.Options()


def test_readme_filter_recipes_select_what_they_say(tctx):
    from mitmproxy import flowfilter
    from test_readme import README

    table = README.split("- **Filters**", 1)[1].split("`~marker` matches", 1)[0]
    recipes = {label.strip(): expr.strip().strip("`").replace("\\|", "|")
               for label, expr in re.findall(r"^\s*\| ([^|`]+) \| (`.*`) \|$", table, re.M)}
    expired = make_flow(f"Bearer {EXPIRED}", 401)
    no_scope = make_flow(f"Bearer {VALID}", 403, "/admin")
    no_scope.response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="W"'
    healthy = make_flow(f"Bearer {VALID}", 200)
    tctx.run(expired, no_scope, healthy)

    def selected(label):
        match = flowfilter.parse(recipes[label])
        return [f for f in (expired, no_scope, healthy) if match(f)]

    assert selected("everything authlens annotated") == [expired, no_scope]
    assert selected("authentication problems (prove who you are again)") == [expired]
    assert selected("authorization problems (get the permission)") == [no_scope]
    assert selected("all expired tokens") == [expired]
    assert selected("tokens lacking a scope") == [no_scope]
    assert selected("refused calls only") == [expired, no_scope]
    assert selected("any marked flow") == [expired, no_scope]
    assert flowfilter.parse("~marker no_entry")(no_scope)


def test_the_one_addon_object_registers_every_command_and_runs_the_error_hook(tctx):
    registered = {name for name in tctx.master.commands.commands if name.startswith("authlens.")}
    assert registered == {"authlens.explain", "authlens.decode", "authlens.report",
                          "authlens.clear", "authlens.diff", "authlens.timeline",
                          "authlens.retry", "authlens.har"}
    f = tflow.tflow(err=True)  # no response: the upstream never answered
    f.request.headers["Authorization"] = f'"Bearer {VALID}"'
    authlens, = [a for a in tctx.master.addons.chain if type(a).__name__ == "AuthLens"]
    authlens.error(f)
    assert f.comment.startswith("credential-quoted: ") and text.COMMENT_PREFIX in f.comment
    assert f.error is not None and f.response is None  # annotated, not altered


def test_an_internal_error_is_one_warning_with_its_traceback_and_no_secret(caplog, monkeypatch):
    monkeypatch.setattr(mitm_hooks, "RAISE", False)  # as in production; the suite re-raises

    class Broken:
        def response(self, flow):
            raise RuntimeError("boom")

    secret = "qtok_2b7e151628aed2a6abf7158809cf4f3c"
    f = tflow.tflow(resp=True)
    f.request.path = f"/orders?access_token={secret}&page=2"
    with caplog.at_level("DEBUG", logger="authlens"):
        mitm_hooks.guarded(Broken().response, f)
        mitm_hooks.guarded(Broken().response, object())  # not a flow: no URL
    first, second = caplog.records
    assert {first.levelname, second.levelname} == {"WARNING"}
    assert first.getMessage().startswith(
        "authlens: internal error in test_an_internal_error_is_one_warning_with_its_traceback_and"
        "_no_secret.<locals>.Broken.response on http://address:22/orders?access_token=REDACTED-")
    assert secret not in first.getMessage() and "please report it" in first.getMessage()
    assert first.exc_info and "RuntimeError: boom" in caplog.text and "Traceback" in caplog.text
    assert " on " not in second.getMessage()


def test_the_suite_lets_internal_errors_through():
    """tests/conftest.py sets AUTHLENS_RAISE=1: a bug the guard would hide fails its test."""
    def broken(flow):
        raise RuntimeError("boom")

    assert mitm_hooks.RAISE
    with pytest.raises(RuntimeError):
        mitm_hooks.guarded(broken, tflow.tflow())
