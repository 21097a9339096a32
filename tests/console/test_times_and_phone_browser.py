"""Times and the phone layout in a real browser (issue 19, items 7 and 8): Debian's
headless Chromium driven by Playwright against daphne, as in test_browser.py.

A row's relative age counts on in the page without any pushed update, from the
absolute time in its <time datetime>, and shows the absolute time with its zone on
hover; at 375 px every section of the navigation (Periodic, Workers and Admin too) is
on screen and opens with a tap."""

import re
import uuid
from datetime import datetime

import pytest
from playwright.sync_api import expect

from taskqueue import inspect
from tests.support.tasks import sample

from .browsers import logged_in

PREFIX = f"p{uuid.uuid4().hex[:10]}"
PHONE = {"width": 375, "height": 667}
COUNT_PUSHES = """() => { window.pushes = 0;
  document.addEventListener("htmx:wsAfterMessage", () => { window.pushes += 1; }); }"""
SECONDS_AGO = re.compile(r"^(\d+(?:\.\d)?) (ms|s) ago$")
# true once the <time> `el` reads at least `s` seconds ago
AT_LEAST = """([el, s]) => { const m = /^([0-9.]+) (ms|s) ago$/.exec(el.textContent);
  return m !== null && (m[2] === "ms" ? m[1] / 1000 : +m[1]) >= s; }"""

pytestmark = pytest.mark.slow


def console_in(browser, server, viewport: dict, **context):
    watched = logged_in(browser, server, viewport=viewport, **context)
    watched.page.add_init_script(f"({COUNT_PUSHES})()")
    return watched


@pytest.fixture
def console(browser, server):
    watched = console_in(browser, server, {"width": 1280, "height": 900})
    yield watched
    watched.page.context.close()
    assert not watched.errors, watched.errors


@pytest.fixture
def phone(browser, server):
    watched = console_in(browser, server, PHONE, is_mobile=True, has_touch=True)
    yield watched
    watched.page.context.close()
    # Django's admin pages name no icon: Chromium asks for /favicon.ico, a 404
    favicon = "the server responded with a status of 404"
    assert not [e for e in watched.errors if favicon not in e], watched.errors


def seconds_shown(text: str) -> float:
    match = SECONDS_AGO.match(text)
    assert match, text
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def test_a_rows_age_counts_on_in_the_page_and_shows_the_absolute_time_on_hover(console, server):
    handle = sample.enqueue("aging")
    page = console.open(server.url, f"/tasks/?q={handle.id}")
    page.wait_for_function("() => window.pushes >= 1")  # the row as the socket first sends it
    when = page.locator(f"#task-{handle.id} td.when time[data-ago]")
    first = seconds_shown(when.inner_text())
    pushes = page.evaluate("window.pushes")

    # It counts on, in the browser: no pushed update arrives for an idle task.
    expect(when).not_to_have_text(when.inner_text(), timeout=3000)
    page.wait_for_function(AT_LEAST, arg=[when.element_handle(), first + 2], timeout=5000)
    assert page.evaluate("window.pushes") == pushes

    # ...from its absolute time, which the title shows with its zone.
    created = inspect.get_task(handle.id).created_at
    iso = when.get_attribute("datetime")
    assert abs((datetime.fromisoformat(iso) - created).total_seconds()) < 0.001
    when.hover()
    assert when.get_attribute("title") == f"{created:%Y-%m-%d %H:%M:%S} UTC"
    shown = seconds_shown(when.inner_text())
    age = page.evaluate("iso => (Date.now() - Date.parse(iso)) / 1000", iso)
    assert abs(age - shown) < 1.5, (age, shown)


def test_a_task_pages_relative_times_count_on_too(console, server):
    handle = sample.enqueue("aging")
    page = console.open(server.url, f"/tasks/{handle.id}/")
    created = page.locator("dt:text-is('Created') + dd time[data-ago]")
    first = seconds_shown(created.inner_text())
    page.wait_for_function(AT_LEAST, arg=[created.element_handle(), first + 1], timeout=5000)
    absolute = page.locator("dt:text-is('Created') + dd time:not([data-ago])")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", absolute.get_attribute("title"))


@pytest.mark.parametrize("section", ["Periodic", "Workers", "Admin"])
def test_at_phone_width_every_section_is_on_screen_and_opens(phone, server, section, tmp_path):
    page = phone.open(server.url, "/")
    nav = page.get_by_role("navigation", name="Console")
    for name in ("Overview", "Tasks", "Workflows", "Scheduled", "Dead letters", "Periodic",
                 "Workers", "Admin"):  # fmt: skip
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_in_viewport(ratio=1)
    assert nav.evaluate("n => n.scrollWidth <= n.clientWidth"), "the navigation scrolls"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=tmp_path / "phone-navigation.png")

    nav.get_by_role("link", name=section, exact=True).tap()
    if section == "Admin":
        expect(page).to_have_url(f"{server.url}/admin/")
    else:
        expect(page.locator("main h1")).to_contain_text(section)
