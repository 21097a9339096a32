"""An access change made in one web process reaches the console socket open in another
at once: two daphne processes sharing one database and the channel layer
(channels-redis on the session's redis-server), their periodic re-check an hour away."""

import http.cookiejar
import time
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dashboard.live.consumers import CLOSE_FORBIDDEN

from .servers import PASSWORD, Daphne, prepare_database, project_env

PUSH_S = 5.0  # how long the change may take to cross (generous: a busy machine)


@pytest.fixture
def two_web_processes(redis_server, tq_prefix, tmp_path):
    env = project_env(redis_server.url, tq_prefix, tmp_path / "var")
    prepare_database(env)
    started = []
    try:
        for name in ("holding", "other"):
            started.append(Daphne(env, tmp_path / f"{name}.log", recheck_s=3600).start())
        yield started
    finally:
        for daphne in started:
            daphne.stop()


class Browser:
    """Cookies and the CSRF token, as a browser keeps them (urllib, no JavaScript)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def post(self, url: str, fields: dict) -> int:
        fields = {"csrfmiddlewaretoken": self.cookie("csrftoken"), **fields}
        body = urllib.parse.urlencode(fields).encode()
        with self.opener.open(url, data=body, timeout=10) as response:
            return response.status

    def log_in(self, site: str) -> None:
        self.opener.open(f"{site}/login/", timeout=10).close()  # the CSRF cookie
        self.post(f"{site}/login/", {"username": "admin", "password": PASSWORD})
        assert self.cookie("sessionid")


def test_a_logout_in_one_web_process_closes_the_socket_open_in_another(two_web_processes):
    holding, other = two_web_processes
    browser = Browser()
    browser.log_in(other.url)
    headers = {"Cookie": f"sessionid={browser.cookie('sessionid')}", "Origin": holding.url}
    with connect(f"ws://127.0.0.1:{holding.port}/ws/dashboard/", additional_headers=headers) as ws:
        ws.send('{"watch": ["totals:all"]}')
        assert ws.ping().wait(10)  # open, and in its user's group (joined before accept)
        browser.post(f"{other.url}/logout/", {})
        assert close_code(ws, PUSH_S) == CLOSE_FORBIDDEN


def close_code(ws, timeout: float) -> int | None:
    """The code the server closes the socket with, within `timeout` s (pushes of the
    watched elements may come first); TimeoutError if it stays open."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
