"""Flow-control limits in a real browser: Debian's headless Chromium driven by
Playwright against daphne (as in test_browser.py), an operator setting a task's
limits, a tenant's limits and the queue's quotas through the queue page's form and
seeing them on the page, without a reload. Each test leaves the limits as it found
them (none), through the rows' "Back to declared" buttons."""

import uuid

import pytest
from playwright.sync_api import expect

from taskqueue import flow
from taskqueue.limits import Rate

from .browsers import logged_in

PREFIX = f"l{uuid.uuid4().hex[:10]}"
TASK = "console.sample"

pytestmark = pytest.mark.slow


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


def test_an_operator_sets_a_tenant_limit_and_quotas_through_the_form_and_sees_them(
    console, server, tmp_path
):
    page = console.open(server.url, "/queues/default/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#limits")).to_contain_text("No limits")
    form = page.locator("#limit-form-default")
    submit = form.locator("button:text-is('Set limit')")
    form.locator("input[name=tenant]").fill("acme")
    form.locator("input[name=rate]").fill("20/s")
    form.locator("input[name=concurrency]").fill("2")
    form.locator("input[name=max_backlog]").fill("5000")
    submit.click()  # a quota is the whole queue's: refused with a tenant, nothing set
    expect(page.locator("#limit-error-default")).to_contain_text(
        "max_backlog is a quota of the whole queue: send it without a task or tenant."
    )
    expect(form.locator("input[name=tenant]")).to_have_value("acme")  # kept to correct
    assert flow.queue_limits("default").tenants == {}

    form.locator("input[name=max_backlog]").fill("")
    submit.click()
    expect(page.locator("#messages")).to_contain_text(
        "Limit set: tenant acme in default, rate 20/s, concurrency 2 at once "
        "(0 held tasks back in line)."
    )
    row = page.locator('#limits-default tr[data-scope="tenant:acme"]')
    expect(row).to_contain_text("tenant acme")
    expect(row).to_contain_text("20/s")
    expect(row).to_contain_text("2 at once")
    expect(row).to_contain_text("set by an operator")
    expect(page.locator("#queue-default .limits-line")).to_have_text("limited: 1 tenant limit")
    expect(form.locator("input[name=tenant]")).to_have_value("")  # a fresh form

    form.locator("input[name=max_backlog]").fill("5000")
    form.locator("input[name=tenant_backlog]").fill("100")
    submit.click()
    expect(page.locator("#messages")).to_contain_text(
        "Quotas set: queue default, max backlog 5,000, per-tenant backlog 100."
    )
    quotas = page.locator("#limits-default .quotas-table")
    expect(quotas.locator('tr[data-quota="max_backlog"]')).to_contain_text("5,000")
    expect(quotas.locator('tr[data-quota="tenant_backlog"]')).to_contain_text("100")
    expect(quotas).to_contain_text("set by an operator; declared: none")
    limits = flow.queue_limits("default")
    assert (limits.tenants["acme"].rate, limits.tenants["acme"].concurrency) == (
        Rate(20, 1000), 2
    )  # fmt: skip
    assert (limits.max_backlog, limits.tenant_backlog) == (5000, 100)
    page.screenshot(path=tmp_path / "queue-tenant-limits.png", full_page=True)

    row.locator("button:text-is('Back to declared')").click()
    expect(page.locator("#messages")).to_contain_text("tenant acme in default, back to declared")
    expect(row).to_have_count(0)
    quotas.locator("button:text-is('Back to declared')").click()
    expect(page.locator("#messages")).to_contain_text(
        "Quotas set: queue default, back to declared."
    )
    expect(page.locator("#limits-default .quota-row")).to_have_count(0)
    expect(page.locator("#limits")).to_contain_text("No limits")
    limits = flow.queue_limits("default")
    assert not limits.limited and limits.quotas_set == {}
    assert page.evaluate("window.notReloaded") is True
