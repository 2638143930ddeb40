"""End to end: real mitmweb -s addon.py, real traffic, the verdicts as headless chromium sees them."""

from __future__ import annotations

import re
import time

import pytest
from factories import mint
from harness import proxied_client
from mitmproxy.utils.emoji import emoji
from mitmproxy.version import VERSION
from playwright.sync_api import expect

EXPIRED = ("/api/orders", 401, 'Bearer error="invalid_token", error_description="The token expired"')
NO_SCOPE = ("/api/admin", 403, 'Bearer error="insufficient_scope", scope="Orders.Write"')
QUOTED = ("/api/profile", 401, 'Bearer realm="api"')
HEALTHY = "/api/health"


@pytest.fixture
def web(upstream, mitmweb):
    """mitmweb with authlens (default options: the addon switches the comment column on itself)
    after an expired token, a token without the scope, a quoted header and a healthy call."""
    for path, status, challenge in (EXPIRED, NO_SCOPE, QUOTED):
        upstream.route(path, status=status, body="denied\n",
                       headers=[("WWW-Authenticate", challenge), ("Content-Type", "text/plain")])
    upstream.route(HEALTHY, headers=[("Content-Type", "application/json")], body='{"ok": true}')
    now = time.time()
    expired = mint(issued=now - 7200, lifetime=3600)
    valid = mint(issued=now - 60, lifetime=3600, scp="Orders.Read")
    web = mitmweb(write_flows=False)  # as users run it: live flows analysed in the process
    with proxied_client(web.proxy_url) as client:
        for path, auth in ((EXPIRED[0], f"Bearer {expired}"), (NO_SCOPE[0], f"Bearer {valid}"),
                           (QUOTED[0], f'Bearer "{valid}"'), (HEALTHY, f"Bearer {valid}")):
            client.get(upstream.url(path), headers={"Authorization": auth})
    deadline = time.monotonic() + 10  # the diagnoses land a moment after the responses
    while sum(1 for f in web.get_json("/flows") if f["marked"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return web


def row(page, path: str):
    return page.locator("tr", has=page.locator("td.col-path", has_text=path))


def test_mitmweb_shows_verdicts_markers_and_view(web, page, artifacts):
    assert web.get_json("/options")["web_columns"]["value"][-1] == "comment"
    marks = {f["request"]["path"]: f["marked"] for f in web.get_json("/flows")}
    assert marks == {EXPIRED[0]: emoji[":key:"], NO_SCOPE[0]: emoji[":no_entry:"],
                     QUOTED[0]: emoji[":warning:"], HEALTHY: ""}

    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(web.url)
    row(page, HEALTHY).wait_for(timeout=15000)
    expected = {EXPIRED[0]: ("token-expired: Token expired", "[authlens] AUTHENTICATION (token-expired)"),
                NO_SCOPE[0]: ("token-scope-missing: ", "[authlens] AUTHORIZATION (token-scope-missing)"),
                QUOTED[0]: ("credential-quoted: ", "[authlens] AUTHENTICATION (credential-quoted)")}
    for path, (cause, verdict) in expected.items():
        cell = row(page, path).locator("td.col-comment")
        assert cell.inner_text().startswith(cause) and verdict in cell.inner_text()  # the cause first
        assert row(page, path).locator("td.col-path .marker").inner_text() == marks[path]
    page.locator(".flow-table").screenshot(path=str(artifacts / f"mitmweb-{VERSION}-comments.png"))
    assert row(page, HEALTHY).locator("td.col-comment").inner_text() == ""
    assert row(page, HEALTHY).locator("td.col-path .marker").inner_text() == ""

    # README's filter recipes, in mitmweb's own (client-side) filter
    search = page.get_by_placeholder("Search")
    for recipe, shown in (("~comment token-expired", [EXPIRED[0]]),
                          ('~comment "authlens] AUTHORIZATION"', [NO_SCOPE[0]]),
                          ('~comment "authlens] AUTHENTICATION"', [EXPIRED[0], QUOTED[0]]),
                          ("~comment authlens & (~c 401 | ~c 403)", [EXPIRED[0], NO_SCOPE[0], QUOTED[0]])):
        search.fill(recipe)
        expect(page.locator(".flow-table tbody td.col-path")).to_have_count(len(shown))
        for path in shown:
            expect(row(page, path)).to_be_visible()
    search.fill("")
    expect(row(page, HEALTHY)).to_be_visible()
    # mitmweb 12.3 shows its filter help under an empty, focused search box, over the first rows;
    # a person clicks away from the box before picking a flow
    search.blur()
    expect(page.locator(".popover-content")).to_have_count(0)

    # a diagnosed flow: "auto" picks the authlens view (request and response)
    row(page, NO_SCOPE[0]).locator("td.col-path").click()
    view = page.locator(".contentview")
    expect(view).to_contain_text("scp    Orders.Read")  # the request (no body: no view name on 12)
    page.locator(".nav-tabs a", has_text="Response").click()
    expect(view.locator("h5")).to_have_text("authlens")
    expect(view).to_contain_text("challenge   Bearer error='insufficient_scope', scope='Orders.Write'")
    expect(view).to_contain_text("fix: Permissions:")
    page.screenshot(path=str(artifacts / f"mitmweb-{VERSION}-authlens.png"))
    pre = view.locator("pre")  # the text is wrapped to the pane, nothing cut at 1600 px
    assert pre.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert max(len(line) for line in pre.inner_text().splitlines()) <= 80

    # a healthy flow: its body as usual; the authlens view, picked by hand, decodes its token
    row(page, HEALTHY).locator("td.col-path").click()
    expect(view.locator("h5")).not_to_have_text("authlens")
    expect(view).to_contain_text('"ok": true')
    view.get_by_text("View:").click()
    page.get_by_role("link", name=re.compile(r"^authlens$")).click()
    expect(view.locator("h5")).to_have_text("authlens")
    expect(view).to_contain_text("authlens: nothing wrong with this call.")
    expect(view).to_contain_text(re.compile(r"now +expires in \d+ min, issued \d+ s ago"))


def run_in_command_bar(page, command: str) -> None:
    if not page.locator("input[placeholder='Enter command']").count():
        page.locator("nav a, header a", has_text="Options").first.click()
        page.get_by_text("Display Command Bar").click()
    bar = page.locator("input[placeholder='Enter command']")
    bar.fill(command)
    bar.press("Enter")


def test_explain_at_focus_explains_the_flow_the_page_shows(web, page, artifacts):
    """``authlens.explain @focus`` explained a 200 while the 403 was selected: mitmweb's page
    keeps its selection to itself. Its text lands in the event log as text, not as a JSON
    string with literal \\n."""
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(web.url)
    row(page, HEALTHY).wait_for(timeout=15000)
    for path, expected in ((NO_SCOPE[0], "403 GET"), (EXPIRED[0], "401 GET")):
        row(page, path).locator("td.col-path").click()
        expect(page.locator(".contentview")).to_contain_text(path)
        run_in_command_bar(page, "authlens.explain @focus")
        result = page.locator(".command-result > div").last
        expect(result).to_contain_text("see the event log")
        assert "\\n" not in result.inner_text()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            explained = [re.sub(r"^\[[\d:.]+\] ", "", e["message"]) for e in web.get_json("/events")
                         if e["message"].splitlines()[0].endswith(path)]
            if explained:
                break
            time.sleep(0.1)
        assert explained and explained[-1].startswith(expected), explained
        assert explained[-1].count("\n") > 3  # lines, as text
    page.screenshot(path=str(artifacts / f"mitmweb-{VERSION}-explain.png"))


def test_an_open_mitmweb_page_shows_the_verdict_when_it_lands(upstream, mitmweb, page):
    """The flow reaches mitmweb's view already annotated (authlens' response hook runs first), so
    the open page shows the verdict without a reload."""
    path, status, challenge = EXPIRED
    upstream.route(path, status=status, body="denied\n",
                   headers=[("WWW-Authenticate", challenge), ("Content-Type", "text/plain")])
    web = mitmweb(write_flows=False)
    page.goto(web.url)
    page.get_by_placeholder("Search").wait_for(timeout=15000)
    with proxied_client(web.proxy_url) as client:
        client.get(upstream.url(path), headers={"Authorization": f"Bearer {mint(lifetime=-60)}"})
    expect(row(page, path).locator("td.col-comment")).to_contain_text(
        "token-expired: Token expired [authlens] AUTHENTICATION (token-expired)", timeout=10000)
    expect(row(page, path).locator("td.col-path .marker")).to_have_text(emoji[":key:"])


def test_mitmweb_keeps_columns_the_user_chose(mitmweb):
    web = mitmweb(options={"web_columns": ["path", "status"]})
    assert web.get_json("/options")["web_columns"]["value"] == ["path", "status"]
