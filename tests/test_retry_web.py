"""A retry as a person runs it: headless chromium on a real mitmweb, the flow picked in the list,
``authlens.retry @focus`` typed into mitmweb's command bar; both rows then say the outcome."""

from __future__ import annotations

import time

from harness import proxied_client
from mitmproxy.utils.emoji import emoji
from mitmproxy.version import VERSION
from playwright.sync_api import expect
from test_retry import TOKEN, _only

PATH = "/api/profile"


def test_retry_from_the_mitmweb_command_bar(upstream, mitmweb, page, artifacts):
    upstream.route(PATH, handler=_only(f"Bearer {TOKEN}"))
    web = mitmweb(write_flows=False)
    with proxied_client(web.proxy_url) as client:
        assert client.get(upstream.url(PATH),
                          headers={"Authorization": f'"Bearer {TOKEN}"'}).status_code == 401
    deadline = time.monotonic() + 10
    while not any(f["marked"] for f in web.get_json("/flows")) and time.monotonic() < deadline:
        time.sleep(0.05)
    page.set_viewport_size({"width": 1600, "height": 720})
    page.goto(web.url)
    rows = page.locator("tr", has=page.locator("td.col-path", has_text=PATH))
    rows.first.locator("td.col-path").click()
    page.locator(".main-menu, header").get_by_text("Options", exact=True).first.click()
    page.get_by_text("Display Command Bar").click()
    command = page.locator(".command input").first
    command.fill("authlens.retry @focus")
    command.press("Enter")
    expect(rows).to_have_count(2, timeout=15000)
    retried = rows.filter(has=page.locator(".marker", has_text=emoji[":repeat:"]))
    outcome = "with the quotes removed the server answered 200 — the quotes were the cause"
    expect(retried.locator("td.col-comment")).to_contain_text(outcome, timeout=15000)
    original = rows.filter(has_not=page.locator(".marker", has_text=emoji[":repeat:"]))
    expect(original.locator("td.col-comment")).to_contain_text("retried as flow")
    expect(page.locator(".command")).to_contain_text("sent again as flow")
    retried.locator("td.col-path").click()
    page.locator(".nav-tabs a", has_text="Comment").click()
    expect(page.locator(".flow-detail, .first-level-tabs ~ *").last).to_contain_text(outcome)
    page.screenshot(path=str(artifacts / f"mitmweb-{VERSION}-retry.png"))
