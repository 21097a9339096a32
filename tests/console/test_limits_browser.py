"""Flow-control limits in a real browser: Debian's headless Chromium driven by
Playwright against daphne (as in test_browser.py), an operator setting a task's
limits through the queue page's form and seeing them on the page, without a reload."""

import uuid

import pytest
from playwright.sync_api import expect

from taskqueue import flow
from taskqueue.limits import Rate

from .browsers import launched_chromium, logged_in
from .servers import Daphne, prepare_database, project_env

PREFIX = f"l{uuid.uuid4().hex[:10]}"
TASK = "console.sample"

pytestmark = pytest.mark.slow


@pytest.fixture
def tq_prefix() -> str:
    """One prefix for the module: the daphne started below reads the same keys."""
    return PREFIX


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    env = project_env(redis_server.url, PREFIX, tmp_path_factory.mktemp("limits-browser"))
    prepare_database(env)
    daphne = Daphne(env, tmp_path_factory.mktemp("logs") / "daphne.log").start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium()


@pytest.fixture
def console(browser, server):
    watched = logged_in(browser, server, viewport={"width": 1280, "height": 900})
    yield watched
    watched.page.context.close()
    refused = "the server responded with a status of 400"  # the bad input, on purpose
    assert not [e for e in watched.errors if refused not in e], watched.errors


def test_an_operator_sets_a_task_limit_through_the_form_and_sees_it(console, server, tmp_path):
    page = console.open(server.url, "/queues/default/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#limits")).to_contain_text("No limits")
    form = page.locator("#limit-form-default")
    form.locator("input[name=task]").fill(TASK)
    form.locator("input[name=rate]").fill("100/m")
    form.locator("input[name=burst]").fill("5")
    form.locator("input[name=concurrency]").fill("3")
    form.locator("button:text-is('Set limit')").click()

    expect(page.locator("#messages")).to_contain_text(
        f"Limit set: task {TASK} in default, rate 100/m (burst 5), concurrency 3 at once "
        "(0 held tasks back in line)."
    )
    row = page.locator(f'#limits-default tr[data-scope="task:{TASK}"]')
    expect(row).to_contain_text("100/m")
    expect(row).to_contain_text("3 at once")
    expect(row).to_contain_text("set by an operator")
    expect(page.locator("#queue-default .limits-line")).to_have_text("limited: 1 task limit")
    expect(form.locator("input[name=rate]")).to_have_value("")  # a fresh form
    scope = flow.queue_limits("default").tasks[TASK]
    assert (scope.rate, scope.concurrency) == (Rate(100, 60_000, 5), 3)
    page.screenshot(path=tmp_path / "queue-limits.png", full_page=True)

    form.locator("input[name=rate]").fill("fast")
    form.locator("button:text-is('Set limit')").click()
    expect(page.locator("#limit-error-default")).to_contain_text("'fast' is not a rate")
    expect(form.locator("input[name=rate]")).to_have_value("fast")  # kept to correct

    row.locator("button:text-is('Back to declared')").click()
    expect(page.locator("#messages")).to_contain_text(f"task {TASK} in default, back to declared")
    expect(page.locator("#limits")).to_contain_text("No limits")
    expect(page.locator("#queue-default .limits-line")).to_have_text("no limits")
    assert not flow.queue_limits("default").limited
    assert page.evaluate("window.notReloaded") is True
