"""Static files under load (issue 19, item 9): ServeStatic answers /static/ before
Django (config/static_files.py), so no request can meet Django's ASGI static handler
and its `CurrentThreadExecutor already quit or is broken`.

The soak: daphne serving config.asgi, a logged-in session, every console page and the
assets it links, loaded thousands of times from 24 threads at once; some clients hang
up half-way through a body (what a browser leaving a page does). Not one request may
fail, every asset must come back byte for byte, and daphne must log no error.
"""

import asyncio
import http.client
import re
import socket
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from django.test import override_settings

from config.static_files import serve_static, static_roots

from .servers import PASSWORD, Daphne, prepare_database, project_env

ROOT = Path(__file__).resolve().parents[2]
PREFIX = f"s{uuid.uuid4().hex[:10]}"
PAGES = ["/", "/queues/default/", "/tasks/", "/scheduled/", "/dead/", "/periodic/",
         "/workers/", "/workflows/", "/login/"]  # fmt: skip
THREADS = 24
ROUNDS = 40  # each round: every page once, every asset ten times, three hang-ups
ASSET = re.compile(r'(?:src|href)="(/static/[^"?#]+)"')

pytestmark = pytest.mark.slow


@pytest.fixture
def tq_prefix() -> str:
    return PREFIX


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("static-soak")
    env = project_env(redis_server.url, PREFIX, var_dir)
    prepare_database(env)
    files = {  # the project's static files as daphne starts (outside DEBUG: what it serves)
        f"/static/{path.relative_to(ROOT / 'static').as_posix()}": path.read_bytes()
        for path in (ROOT / "static").rglob("*")
        if path.is_file()
    }
    daphne = Daphne(env, var_dir / "daphne.log").start()
    daphne.files = files
    yield daphne
    daphne.stop()


def session(base: str) -> urllib.request.OpenerDirector:
    """An opener holding a logged-in session (the login form, as a browser posts it)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = opener.open(f"{base}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    login = f"{base}/login/"  # always http://127.0.0.1:<port>
    request = urllib.request.Request(login, data, headers={"Referer": login})  # noqa: S310
    with opener.open(request, timeout=10) as landed:
        assert landed.url == f"{base}/", "the login did not land on the overview"
    return opener


def expected_bytes(url_path: str, server=None) -> bytes:
    """The file a /static/ path names, as the finders find it (the first folder), as it
    was when `server` started (the tree may be edited meanwhile: served after a restart)."""
    if server is not None and url_path in server.files:
        return server.files[url_path]
    relative = url_path.removeprefix("/static/")
    for root, prefix in static_roots():
        candidate = Path(root) / relative
        if prefix == "/static/" and candidate.is_file():
            return candidate.read_bytes()
    raise AssertionError(f"no file for {url_path}")


def hang_up(port: int, path: str) -> None:
    """Ask for a file, read the head and a few bytes of the body, and close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sock.recv(256)


def test_every_page_and_asset_thousands_of_times_at_once_without_one_failure(server):
    opener = session(server.url)
    assets = set()
    for page in PAGES:
        with opener.open(server.url + page, timeout=10) as response:
            assert response.status == 200, page
            assets |= set(ASSET.findall(response.read().decode()))
    assert "/static/taskqueue/console.js" in assets and len(assets) >= 4, assets
    want = {path: expected_bytes(path, server) for path in assets}

    def load(path: str) -> str:
        with opener.open(server.url + path, timeout=30) as response:
            body = response.read()
            if response.status != 200:
                return f"{path}: {response.status}"
            if path in want and body != want[path]:
                return f"{path}: {len(body)} bytes, not the file's {len(want[path])}"
        return ""

    jobs = []
    for _ in range(ROUNDS):
        jobs += [(load, page) for page in PAGES]
        jobs += [(load, path) for path in sorted(assets) for _ in range(10)]
        jobs += [(lambda path: hang_up(server.port, path) or "", p) for p in sorted(assets)[:3]]
    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda job: _outcome(*job), jobs))
    took = time.monotonic() - started
    failures = [o for o in outcomes if o]
    assert len(jobs) >= 2000
    assert not failures, f"{len(failures)} of {len(jobs)} failed, first: {failures[:5]}"
    print(f"{len(jobs)} requests in {took:.1f} s")
    assert took < 60, f"{len(jobs)} requests took {took:.0f} s"
    log = Path(server.log_path).read_text(errors="replace")
    assert "Traceback" not in log and "RuntimeError" not in log, log[-3000:]


def _outcome(fn, arg) -> str:
    try:
        return fn(arg)
    except Exception as exc:  # every failure is counted and shown
        return f"{arg}: {exc!r}"


def test_static_answers_carry_type_nosniff_and_revalidate_to_304(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/static/taskqueue/console.js")
    first = conn.getresponse()
    body = first.read()
    assert first.status == 200 and body == expected_bytes("/static/taskqueue/console.js", server)
    assert first.getheader("Content-Type").startswith("text/javascript")
    assert first.getheader("X-Content-Type-Options") == "nosniff"
    assert first.getheader("Cache-Control") == "max-age=60, public"  # DEBUG is off
    assert first.getheader("Access-Control-Allow-Origin") is None
    conn.request(
        "GET", "/static/taskqueue/console.js", headers={"If-None-Match": first.getheader("ETag")}
    )
    again = conn.getresponse()
    again.read()
    assert again.status == 304
    conn.request("HEAD", "/static/taskqueue/console.css")
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert int(head.getheader("Content-Length")) == len(
        expected_bytes("/static/taskqueue/console.css", server)
    )
    conn.close()


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/../manage.py", "/static/taskqueue/"])
def test_a_static_path_that_names_no_file_goes_on_to_django_404(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 404
    conn.close()


def _get(app, path: str) -> tuple[int, bytes]:
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    out = {"status": 0, "body": b""}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], out["body"]


async def _not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.mark.parametrize("debug", [True, False])
def test_debug_serves_a_file_added_after_start_otherwise_a_restart_does(tmp_path, debug):
    with override_settings(DEBUG=debug, STATICFILES_DIRS=[tmp_path, ROOT / "static"]):
        app = serve_static(_not_found)
        (tmp_path / "late.txt").write_text("late")
        assert _get(app, "/static/late.txt") == ((200, b"late") if debug else (404, b"django"))
        assert _get(serve_static(_not_found), "/static/late.txt") == (200, b"late")


def test_the_first_folder_holding_a_file_wins_as_with_the_finders(tmp_path):
    (tmp_path / "taskqueue").mkdir()
    (tmp_path / "taskqueue" / "console.js").write_text("mine")
    with override_settings(STATICFILES_DIRS=[tmp_path, ROOT / "static"]):
        assert _get(serve_static(_not_found), "/static/taskqueue/console.js") == (200, b"mine")
    with override_settings(STATICFILES_DIRS=[ROOT / "static", tmp_path]):
        status, body = _get(serve_static(_not_found), "/static/taskqueue/console.js")
        assert status == 200 and body == (ROOT / "static/taskqueue/console.js").read_bytes()
