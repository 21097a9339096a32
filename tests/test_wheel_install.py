"""taskqueue as a library (docs/install-as-library.md), run as the page says: its code
blocks, in order, are what these tests run. The wheel is built from a copy of the
repository with this virtualenv's setuptools (offline), installed into a fresh virtualenv,
and a fresh `startproject` gets the page's settings, URLs, ASGI module and tasks.py;
then a task is enqueued, a `runworker --burst` runs it, and its result is read back;
the console is served from the installed wheel by daphne's `runserver`.

Offline: the fresh virtualenv sees this one's site-packages through a .pth file, so the
page's plain `pip install <wheel>` finds every dependency already installed (pip reads
sys.path) and installs the wheel alone; PIP_NO_INDEX makes sure nothing is downloaded.
Only two things differ from the page: that .pth file, and `runserver` gets a free port
and --noreload (so the test can stop it)."""

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
import redis
from websockets.sync.client import connect

from taskqueue.embedded_redis import free_port

from .support.waits import wait_for

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "install-as-library.md"
WHEEL = "taskqueue-0.1.0-py3-none-any.whl"
APPS = ("taskqueue", "api", "dashboard")
# mapped into the dashboard app by pyproject.toml's [tool.setuptools.package-dir]
CONSOLE_FILES = {"templates": "dashboard/templates", "static": "dashboard/static"}
NOT_COPIED = (
    ".venv",
    "var",
    ".git",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "build",
    "dist",
    "*.egg-info",
    "staticfiles",
    "results",
)
PREFIX = "mysite"  # the page's TASKQUEUE["PREFIX"]: this module's keys in the session Redis
TIMEOUT = 120


def doc_blocks() -> list[tuple[str, str]]:
    """The page's fenced code blocks, in order: (language, text)."""
    return re.findall(r"^```(\w+)\n(.*?)^```", DOC.read_text(), re.S | re.M)


class Project:
    """The page's steps, run in `tmp`: the checkout copy in taskqueue/, the project in
    mysite/; `env` is the shell's environment (the project's virtualenv active once
    made)."""

    def __init__(self, tmp: Path, redis_url: str):
        self.checkout, self.site = tmp / "taskqueue", tmp / "mysite"
        self.venv = self.site / ".venv"
        here = Path(sys.executable).parent  # `python3` makes the venv: this Python
        self.env = {
            "PATH": f"{here}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(tmp)),
            "LANG": "C.UTF-8",
            "REDIS_URL": redis_url,
            "PIP_NO_INDEX": "1",
        }
        self.outputs: list[subprocess.CompletedProcess] = []

    def copy_checkout(self) -> None:
        shutil.copytree(ROOT, self.checkout, ignore=shutil.ignore_patterns(*NOT_COPIED))
        (self.checkout / ".venv").symlink_to(sys.prefix)  # "the virtualenv make test made"
        self.site.mkdir()

    def bash(self, script: str, cwd: Path) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        self.outputs.append(done)
        return done

    def python_block(self, text: str) -> None:
        """`# path` on the first line: the file's whole text; `# path (add at the end)`:
        appended to the file."""
        header = text.partition("\n")[0]
        path = self.site / header.removeprefix("# ").removesuffix(" (add at the end)")
        if header.endswith("(add at the end)"):
            path.write_text(path.read_text() + "\n" + text)
        else:
            path.write_text(text)

    def after_venv(self) -> None:
        """The fresh virtualenv sees this one's packages (its own come first), and the
        shell has it activated from now on."""
        site = Path(sysconfig.get_paths(vars={"base": str(self.venv)})["purelib"])
        ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        (site / "taskqueue-test-deps.pth").write_text("\n".join(sorted(ours)) + "\n")
        self.env |= {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{self.env['PATH']}",
            "VIRTUAL_ENV": str(self.venv),
        }

    def python(self, code: str) -> str:
        done = subprocess.run(
            [self.venv / "bin" / "python", "-c", code],
            cwd=self.site,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory, redis_server):
    """Every step of the page up to and including the task's result (its console block,
    the last, is the console test's)."""
    if not redis_server.url.startswith("redis://"):
        pytest.skip("the page's channel layer needs a plain Redis, not a Cluster")
    done = Project(tmp_path_factory.mktemp("library"), redis_server.url)
    done.copy_checkout()
    try:
        for language, text in doc_blocks()[:-1]:
            if language == "python":
                done.python_block(text)
                continue
            done.bash(text, done.checkout if "pip wheel" in text else done.site)
            if "-m venv .venv" in text:
                done.after_venv()
        yield done
    finally:
        client = redis.Redis.from_url(redis_server.url)
        for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
            client.unlink(key)
        client.close()


@pytest.fixture(scope="module")
def wheel(project) -> zipfile.ZipFile:
    with zipfile.ZipFile(project.checkout / "dist" / WHEEL) as built:
        yield built


def test_the_page_ends_with_its_console_block_and_the_fixture_runs_every_other_block():
    languages = [language for language, _ in doc_blocks()]
    assert set(languages) == {"bash", "python"}
    assert "python manage.py runserver" in doc_blocks()[-1][1]


def test_a_fresh_project_runs_a_task_end_to_end_on_the_installed_wheel(project):
    run = next(o for o in project.outputs if "runworker --burst" in o.args[-1])
    assert run.stdout.splitlines()[-1] == "5"  # add(2, 3), run by the worker, read back
    assert "1 processed, 0 failed" in run.stderr


def test_the_apps_are_imported_from_the_wheel_and_the_repositorys_project_is_absent(project):
    site = Path(sysconfig.get_paths(vars={"base": str(project.venv)})["purelib"])
    files = project.python("import taskqueue, api, dashboard as d; print(d.__file__)")
    assert Path(files.strip()).is_relative_to(site)
    absent = "import importlib.util as u; print([m for m in ('config', 'demo', 'devserver', "
    assert project.python(absent + "'tests') if u.find_spec(m)])") == "[]\n"
    # pip installed the wheel alone: every dependency came from the .pth, none downloaded
    assert sorted(p.name.split("-")[0] for p in site.glob("*.dist-info")) == ["pip", "taskqueue"]


def test_the_wheel_holds_the_three_apps_and_nothing_of_the_repositorys_project(wheel):
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert top == {*APPS, "taskqueue-0.1.0.dist-info"}
    assert not top & {"tests", "config", "demo", "devserver", "templates", "static"}


def test_the_wheel_holds_every_file_of_the_apps_and_the_consoles_templates_and_statics(
    wheel, project
):
    """pyproject.toml lists the packages by name: a new subpackage or file kind that it
    misses fails here."""
    sources = {
        str(path.relative_to(project.checkout))
        for folder in APPS
        for path in (project.checkout / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    for folder, inside in CONSOLE_FILES.items():
        sources |= {
            f"{inside}/{path.relative_to(project.checkout / folder)}"
            for path in (project.checkout / folder).rglob("*")
            if path.is_file()
        }
    packaged = {name for name in wheel.namelist() if ".dist-info/" not in name}
    assert packaged == sources


def test_the_wheel_requires_exactly_the_pins_of_requirements_txt(wheel):
    metadata = wheel.read("taskqueue-0.1.0.dist-info/METADATA").decode()
    required = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert required == [line for line in pins if line and not line.startswith("#")]


def test_the_fresh_project_serves_the_console_from_the_installed_wheel(project):
    """The page's console block: a superuser, then daphne's runserver; the login page,
    a console page listing the task, a static file and the live socket, all from the
    wheel's dashboard app."""
    *setup, serve = doc_blocks()[-1][1].strip().splitlines()
    assert serve == "python manage.py runserver"
    project.bash("\n".join(setup), project.site)
    password = re.search(r"DJANGO_SUPERUSER_PASSWORD=(\S+)", setup[0]).group(1)
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    with open(project.site / "runserver.log", "w") as log:
        server = subprocess.Popen(
            [*serve.split()[:3], f"127.0.0.1:{port}", "--noreload"],
            cwd=project.site,
            env=project.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        browser = Browser(site)
        login = wait_for(lambda: browser.get("/login/"), 30, "runserver", ignoring=(OSError,))
        assert "taskqueue/console.css" in login  # the login page and base.html of the wheel
        assert browser.log_in("admin", password) == f"{site}/taskqueue/"
        assert "shop.tasks.add" in browser.get("/taskqueue/tasks/?status=completed")
        css = browser.get("/static/taskqueue/console.css")
        assert css == (ROOT / "static" / "taskqueue" / "console.css").read_text()
        headers = {"Cookie": f"sessionid={browser.cookie('sessionid')}", "Origin": site}
        with connect(f"ws://127.0.0.1:{port}/ws/dashboard/", additional_headers=headers) as ws:
            assert ws.ping().wait(10)  # accepted: the page's asgi.py routes the socket
    finally:
        server.terminate()
        server.wait(10)


class Browser:
    """Cookies and the CSRF token, as a browser keeps them (urllib, no JavaScript)."""

    def __init__(self, site: str):
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def get(self, path: str) -> str:
        with self.opener.open(self.site + path, timeout=10) as response:
            assert response.status == 200
            return response.read().decode()

    def log_in(self, username: str, password: str) -> str:
        """Where the login lands (after its redirect)."""
        fields = {
            "csrfmiddlewaretoken": self.cookie("csrftoken"),
            "username": username,
            "password": password,
        }
        body = urllib.parse.urlencode(fields).encode()
        with self.opener.open(f"{self.site}/login/", data=body, timeout=10) as response:
            assert response.status == 200
            return response.url
