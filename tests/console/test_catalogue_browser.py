"""The tasks catalogue in a real browser (issue 21): Debian's headless Chromium driven
by Playwright against daphne, as in test_browser.py. A viewer opens the catalogue from
the navigation, narrows it by typing part of a name (htmx swaps the list in place and
puts the search in the URL), and opens one task's entry with its JSON Schema."""

import re
import uuid

import pytest
from playwright.sync_api import expect

PREFIX = f"c{uuid.uuid4().hex[:10]}"
WANTED = "tests.taskapp.tasks.sleep_for"  # registered in daphne by tests/taskapp/tasks.py

pytestmark = pytest.mark.slow


def test_the_catalogue_filters_by_name_in_place_and_opens_a_task_s_schema(
    console, server, tmp_path
):
    page = console.page
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Catalogue").click()
    expect(page.locator("h1")).to_have_text("Task catalogue")
    rows = page.locator("#catalogue-list tr.catalogue-row")
    expect(rows.first).to_be_visible()
    everything = rows.count()
    assert everything > 10
    page.evaluate("window.notReloaded = true")

    page.fill("input[name=q]", "SLEEP_FOR")  # typing searches (any case), no click needed
    expect(rows).to_have_count(2)  # sleep_for and asleep_for
    expect(page).to_have_url(re.compile(r"/catalogue/\?q=SLEEP_FOR"))
    row = page.locator(f'tr.catalogue-row[data-task="{WANTED}"]')
    expect(row.locator("code.signature")).to_have_text(
        "sleep_for(seconds: float, tag: str = '') -> str"
    )
    assert page.evaluate("window.notReloaded") is True  # swapped in place by htmx
    page.screenshot(path=tmp_path / "catalogue-search.png", full_page=True)

    page.fill("input[name=q]", "no task is called this")
    expect(page.locator("#catalogue-list")).to_contain_text("No registered task")

    page.fill("input[name=q]", "sleep_for")
    row.get_by_role("link", name=WANTED).click()
    expect(page.locator("h1")).to_have_text(WANTED)
    expect(page.locator("#schema")).to_contain_text('"prefixItems"')
    expect(page.locator("#schema")).to_contain_text('"seconds": {')
    nav_link = page.get_by_role("navigation", name="Console").get_by_role("link", name="Catalogue")
    expect(nav_link).to_have_attribute("aria-current", "page")
    page.screenshot(path=tmp_path / "catalogue-entry.png", full_page=True)

    page.get_by_role("link", name="Task catalogue").click()  # the crumbs lead back
    expect(rows).to_have_count(everything)
