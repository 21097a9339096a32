"""Driving Debian's headless Chromium with Playwright for the console's browser tests
(test_browser.py, test_limits_browser.py): the executable, a logged-in page, and what
it did on the side."""

from playwright.sync_api import Page, expect, sync_playwright

from .servers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Names the element of an out-of-band swap that found no target, in the console errors.
SHOW_OOB_ERRORS = """document.addEventListener("htmx:oobErrorNoTarget", (e) =>
  console.error("no target for", e.detail.content.outerHTML.slice(0, 300)))"""


class Watched:
    """A logged-in page, with what it did on the side: requests, dialogs, errors."""

    def __init__(self, page: Page):
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)
        page.add_init_script(SHOW_OOB_ERRORS)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def open(self, base: str, path: str) -> Page:
        self.page.goto(base + path)
        expect(self.page.locator("#live")).to_have_text("live", timeout=10_000)
        return self.page


def logged_in(browser, server, **context) -> Watched:
    page = browser.new_context(**context).new_page()
    page.goto(f"{server.url}/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    return Watched(page)


def launched_chromium():
    """Debian's Chromium, headless, for as long as the generator is not closed (a
    module-scoped fixture yields from it)."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
