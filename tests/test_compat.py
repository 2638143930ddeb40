"""authlens.mitm.compat: each version branch runs in the venv of that mitmproxy generation."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import proxied_client
from mitmproxy import contentviews, options
from mitmproxy.test import taddons, tflow
from mitmproxy.tools.web.webaddons import WebAddon
from mitmproxy.version import VERSION

from authlens.mitm import compat

COMPAT_ADDON = Path(__file__).parent / "addon_compat.py"
only11 = pytest.mark.skipif(compat.MITMPROXY_MAJOR != 11, reason="mitmproxy 11 branch")
only12 = pytest.mark.skipif(compat.MITMPROXY_MAJOR != 12, reason="mitmproxy 12 branch")


@pytest.fixture
def flow():
    f = tflow.tflow(resp=True)
    f.request.path = "/p"
    f.response.status_code = 401
    return f


@pytest.fixture
def view_name():
    yield "authlens-test"
    compat.unregister_contentview("authlens-test")


def render(flow, message) -> str:
    return f"{flow.request.path}\n{message.status_code}"


def test_major_matches_version():
    assert compat.MITMPROXY_MAJOR == int(VERSION.split(".")[0])
    assert compat.MITMPROXY_MAJOR in (11, 12)


def pretty(flow, name: str) -> tuple[str, str]:
    """(text, chosen view name) as mitmproxy itself would show flow.response with view ``name``."""
    if compat.MITMPROXY_MAJOR >= 12:
        with taddons.context():  # 12 reads ctx.options while prettifying
            r = contentviews.prettify_message(flow.response, flow, name)
        return r.text, r.view_name
    desc, lines, _ = contentviews.get_message_content_view(name, flow.response, flow)
    return "\n".join("".join(t for _, t in line) for line in lines), desc


@only12
def test_register_12(flow, view_name):
    compat.register_contentview(view_name, render)
    assert contentviews.registry[view_name].name == view_name
    assert pretty(flow, view_name) == ("/p\n401", view_name)
    assert pretty(flow, "auto")[1] != view_name  # no priority: never auto-selected


@only11
def test_register_11(flow, view_name):
    compat.register_contentview(view_name, render)
    assert contentviews.get(view_name).name == view_name
    assert pretty(flow, view_name) == ("/p\n401", view_name)
    assert pretty(flow, "auto")[1] != view_name


@only11
def test_reregister_does_not_raise_11(flow, view_name):
    compat.register_contentview(view_name, render)
    compat.register_contentview(view_name, lambda f, m: "second", lambda f, m: 5)
    assert [v.name for v in contentviews.views].count(view_name) == 1
    assert pretty(flow, "auto") == ("second", view_name)


@only12
def test_reregister_replaces_12(flow, view_name):
    compat.register_contentview(view_name, render)
    compat.register_contentview(view_name, lambda f, m: "second", lambda f, m: 5)
    assert list(contentviews.registry).count(view_name) == 1
    assert pretty(flow, "auto") == ("second", view_name)


@only11
def test_unregister_11(view_name):
    compat.register_contentview(view_name, render)
    compat.unregister_contentview(view_name)
    assert contentviews.get(view_name) is None
    compat.unregister_contentview("raw")  # not ours: left alone
    assert contentviews.get("raw") is not None


@only12
def test_unregister_12(view_name):
    compat.register_contentview(view_name, render)
    compat.unregister_contentview(view_name)
    assert view_name not in contentviews.registry
    compat.unregister_contentview("raw")  # not ours: left alone
    assert "raw" in contentviews.registry


def test_ensure_web_column_without_option():
    opts = options.Options()  # mitmdump / mitmproxy console: no web_columns
    assert compat.ensure_web_column(opts, "comment") is False
    assert "web_columns" not in opts


def test_ensure_web_column_appends_once():
    with taddons.context(WebAddon()) as tctx:
        default = list(tctx.options.web_columns)
        assert compat.ensure_web_column(tctx.options, "comment") is True
        assert tctx.options.web_columns == [*default, "comment"]
        assert compat.ensure_web_column(tctx.options, "comment") is False
        assert tctx.options.web_columns == [*default, "comment"]


def test_ensure_web_column_keeps_user_choice():
    with taddons.context(WebAddon()) as tctx:
        tctx.configure(tctx.options, web_columns=["comment", "path"])
        assert compat.ensure_web_column(tctx.options, "comment") is False
        assert tctx.options.web_columns == ["comment", "path"]
        tctx.configure(tctx.options, web_columns=["status", "path"])
        assert compat.ensure_web_column(tctx.options, "comment") is True
        assert tctx.options.web_columns == ["status", "path", "comment"]


def test_contentview_in_real_mitmdump(upstream, mitmdump):
    upstream.route("/denied", status=401, body="x")
    upstream.route("/ok", body="fine")
    proxy = mitmdump(script=COMPAT_ADDON, options={"flow_detail": 3})
    with proxied_client(proxy.proxy_url) as client:
        client.get(upstream.url("/denied"))
        client.get(upstream.url("/ok"))
    out = proxy.stop()
    assert "compat-demo: /denied got 401" in out  # auto-selected through priority
    assert "compat-demo: /ok" not in out
    assert "Error" not in out and "Traceback" not in out


def test_web_column_in_real_mitmweb(mitmweb):
    web = mitmweb(script=COMPAT_ADDON)
    assert web.get_json("/options")["web_columns"]["value"][-1] == "comment"
    web_user = mitmweb(script=COMPAT_ADDON, options={"web_columns": ["comment", "path"]})
    assert web_user.get_json("/options")["web_columns"]["value"] == ["comment", "path"]


@only11
def test_register_over_foreign_view_11(flow, view_name):
    from mitmproxy.contentviews.base import View

    class Foreign(View):
        name = view_name

        def __call__(self, data, **metadata):
            return "foreign", iter([[("text", "foreign")]])

    contentviews.add(Foreign())
    compat.register_contentview(view_name, render)  # 11's add() would raise "Duplicate view"
    assert pretty(flow, view_name) == ("/p\n401", view_name)
    contentviews.remove(contentviews.get(view_name))
    compat.unregister_contentview(view_name)  # already gone: no error


@only12
def test_unregister_leaves_foreign_replacement_12(view_name):
    class Foreign(contentviews.Contentview):
        name = view_name

        def prettify(self, data, metadata):
            return "foreign"

    compat.register_contentview(view_name, render)
    contentviews.add(Foreign())  # someone else replaced ours
    compat.unregister_contentview(view_name)
    assert isinstance(contentviews.registry[view_name], Foreign)
    del contentviews.registry._by_name[view_name]


def test_contentview_as_dumper_default(upstream, mitmdump):
    """A script-registered view is a valid ``dumper_default_contentview`` and renders requests too."""
    upstream.route("/ok", body="fine")
    opts = {"flow_detail": 3, "dumper_default_contentview": "compat-demo"}
    proxy = mitmdump(script=COMPAT_ADDON, options=opts)
    with proxied_client(proxy.proxy_url) as client:
        client.get(upstream.url("/ok"))
    out = proxy.stop()
    assert "compat-demo: /ok got request" in out
    assert "compat-demo: /ok got 200" in out
