"""Search by short id and the styled error pages in a real browser (issue 19, items 4
and 6): Debian's headless Chromium driven by Playwright against daphne, as in
test_browser.py. An operator copies the short id a table shows into the search and
finds the task; a deleted task's page is a 404 inside the console's layout, whose
navigation and logout work."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.tasks import sample

from .browsers import logged_in

PREFIX = f"s{uuid.uuid4().hex[:10]}"

pytestmark = pytest.mark.slow


@pytest.fixture
def console(browser, server):
    watched = logged_in(browser, server, viewport={"width": 1280, "height": 900})
    yield watched
    watched.page.context.close()
    expected = "the server responded with a status of 404"  # the error pages, on purpose
    assert not [e for e in watched.errors if expected not in e], watched.errors


def test_the_short_id_a_table_shows_finds_the_task(console, server, tmp_path):
    wanted = sample.enqueue("wanted").id
    others = [sample.enqueue(i).id for i in range(5)]
    page = console.open(server.url, "/tasks/")
    page.evaluate("window.notReloaded = true")
    shown = page.locator(f"#task-{wanted} code.id").inner_text()
    assert shown == wanted[:13] + "\u2026"  # what the operator sees and copies

    page.fill("input[name=q]", shown)
    page.press("input[name=q]", "Enter")

    expect(page).to_have_url(re.compile(rf"/tasks/\?q={wanted[:13]}%E2%80%A6&"))  # searched
    rows = page.locator("#listing tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("id", f"task-{wanted}")
    for other_id in others:
        expect(page.locator(f"#task-{other_id}")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True  # swapped in place by htmx
    page.screenshot(path=tmp_path / "short-id-search.png", full_page=True)


def test_a_deleted_task_is_a_styled_404_whose_navigation_and_logout_work(console, server, tmp_path):
    page = console.page
    gone = str(uuid.uuid4())
    response = page.goto(f"{server.url}/tasks/{gone}/")
    assert response.status == 404
    expect(page.locator("h1")).to_contain_text("Task not found")
    expect(page.locator("#error-page")).to_contain_text(gone)
    nav = page.get_by_role("navigation", name="Console")
    expect(nav).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # styled: the console's stylesheet applies (its header is a flex row on a card)
    assert page.locator("header.top").evaluate("e => getComputedStyle(e).display") == "flex"
    page.screenshot(path=tmp_path / "task-404.png", full_page=True)

    response = page.goto(f"{server.url}/queues/nope/")
    assert response.status == 404
    expect(page.locator("#error-page")).to_contain_text("There is no queue at /queues/nope/")

    nav.get_by_role("link", name="Tasks").click()
    expect(page.locator("h1")).to_have_text("Tasks")

    page.goto(f"{server.url}/tasks/{gone}/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/login/")  # logged out (LOGOUT_REDIRECT_URL)
    page.goto(f"{server.url}/tasks/")
    expect(page.locator("h1")).to_have_text("Log in")
