"""The documented examples, run as written against the live product, so the docs and
the product cannot disagree (issue 14).

The curl blocks of README.md and docs/api.md run, command by command, in a real bash
with the real `curl`, against `make run`'s product: `manage.py migrate` then
`manage.py runall --no-demo` (daphne serving the console and the API, and a worker
started as `make run` starts it), on the session's private redis-server under a key
prefix of its own. Each command's documented reply (tests/support/doc_examples.py
says how a reply is written) is compared with the real one; a command without one
must answer 2xx with JSON. The substitutions, and nothing else:

- `make run` is not run: the fixture is what it starts (`--no-demo`: no demo traffic,
  whose tasks would change the figures; the demo tasks stay registered);
- `http://127.0.0.1:8000` gets the fixture's free port;
- `<id>` is, in order, the ids the test prepares for that block (`PREPARED`), else the
  id of the block's previous reply;
- `curl` is a shell function that also writes the status code after the body (the
  command line itself is unchanged);
- a GET whose reply shows what a worker does later (`"status": "completed"`) is asked
  again until it matches, for up to 20 s.

The Python snippets of README.md, docs/tasks.md and docs/migrating.md run in order,
as a reader would run them, in a test project (a temporary folder on the path, the test
settings on the session's Redis under the test's prefix):

- README "Define a task, enqueue it": `startapp yourapp`, its INSTALLED_APPS, both
  yourapp/tasks.py blocks, a worker started without --queues, and the two shell
  snippets in `manage.py shell`;
- docs/tasks.md: its first block is the module `app/tasks.py` (its by-name example
  says "app.tasks.resize"), imported by the burst worker through TASKQUEUE["IMPORTS"];
  the settings lines are executed on a settings dict; the Enqueuing block, a burst
  worker, then the Results block run in one namespace;
- docs/migrating.md: the import line; the beat → cron block's Celery column converted
  by beat_schedule_to_periodic is its taskqueue column; the settings lines that convert
  a whole schedule, on that Celery column as proj/celery_schedule.py.

A block marked `<!-- not run: why -->` is left out; `NOT_RUN` lists each with its reason
and the test fails if the pages and the list disagree. Not run at all: README's `make
run` / `make test` (the fixture above is `make run`; `make test` is this suite), and
docs/api.md's blocks other than curl (token commands for other users, the benchmark, a
settings line)."""

import contextlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jsonschema_rs
import pytest
import redis

from taskqueue.embedded_redis import free_port

from .support.doc_examples import blocks, commands, mismatches, parse_reply
from .support.waits import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README, API_DOC = ROOT / "README.md", ROOT / "docs" / "api.md"
DOC_PORT = "http://127.0.0.1:8000"
# curl as written, plus the status code on a line of its own after the body
CURL = "curl() { command curl \"$@\" -w '\\n@@status %{http_code}'; }\n"


class Live:
    """`make run`'s product on a free port, with a token of the test's own for the
    preparations (the documented commands make theirs)."""

    def __init__(self, workdir: Path, redis_url: str):
        self.port = free_port()
        self.prefix = f"docs{uuid.uuid4().hex[:8]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TASKQUEUE", "DJANGO"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": redis_url,
            "TASKQUEUE_PREFIX": self.prefix,
            "CHANNELS_PREFIX": f"{self.prefix}-channels:",
            "TASKQUEUE_VAR_DIR": str(workdir),
            "LOG_LEVEL": "WARNING",
        }
        self.token = ""
        self.log = workdir / "runall.log"

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip

    def start(self) -> None:
        self.manage("migrate", "--noinput")  # make run's first step
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runall", "--port", str(self.port), "--no-demo"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        health = lambda: self.call("GET", "health", auth=False)[1].get("status") == "ok"  # noqa: E731
        wait_for(health, 60, "runall's web server and worker", every=0.2)
        scopes = "read,enqueue,operate"
        self.token = self.manage(
            "createapitoken", "--user", "admin", "--scopes", scopes, "--name", "docs-test"
        ).strip()

    def stop(self) -> None:
        self.process.terminate()  # runall stops its children on SIGTERM
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def call(self, method: str, path: str, body=None, *, auth: bool = True) -> tuple[int, dict]:
        """The test's own request (to prepare a state), not a documented one."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if auth else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except OSError:
            return 0, {}

    def enqueue(self, **body) -> str:
        status, task = self.call("POST", "tasks", body)
        assert status == 201, task
        return task["id"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, redis_server):
    if not redis_server.url.startswith("redis://"):
        pytest.skip("make run's channel layer needs a plain Redis, not a Cluster")
    stack = Live(tmp_path_factory.mktemp("docs-live"), redis_server.url)
    try:
        stack.start()
        yield stack
    finally:
        if hasattr(stack, "process"):
            stack.stop()
        client = redis.Redis.from_url(redis_server.url)
        for key in client.scan_iter(match=f"{stack.prefix}*", count=1000):
            client.unlink(key)
        client.close()


class Shell:
    """A reader's terminal: commands run one by one in bash, from the repository's
    root, keeping the variables they set (TOKEN, API)."""

    def __init__(self, live: Live):
        self.live = live
        self.variables: dict[str, str] = {}
        self.last_id = ""

    def substitute(self, text: str, ids: list[str]) -> str:
        text = text.replace(DOC_PORT, f"http://127.0.0.1:{self.live.port}")
        for _ in range(text.count("<id>")):
            text = text.replace("<id>", ids.pop(0) if ids else self.last_id, 1)
        return text

    def bash(self, script: str) -> str:
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=self.live.env | self.variables,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def assign(self, text: str) -> None:
        name = text.partition("=")[0]
        self.variables[name] = self.bash(f'{text}\nprintf %s "${name}"')

    def curl(self, text: str) -> tuple[int, object]:
        out = self.bash(CURL + text)
        body, _, status = out.rpartition("\n@@status ")
        reply = json.loads(body) if body.strip() else None
        if isinstance(reply, dict) and isinstance(reply.get("id"), str):
            self.last_id = reply["id"]
        return int(status), reply


def check_block(shell: Shell, block, ids: list[str]) -> list[str]:
    """Run a shell block's commands; every way a reply differs from the page."""
    problems = []
    shape = "reply: keys and types" in (block.reply_block.marker if block.reply_block else "")
    for command in commands(block.text):
        first = command.text.split("#")[0].strip()
        if first == "make run":
            continue  # the fixture is what it starts
        text = shell.substitute(command.text, list(ids))
        if re.match(r"^[A-Z_]+=", text):
            shell.assign(text)
            continue
        assert text.startswith("curl "), f"line {block.line}: not a curl command: {text}"
        documented = command.reply or (block.reply_block.text if block.reply_block else "")
        expected_status, expected = parse_reply(documented) if documented else (None, None)
        is_get = " -X " not in text

        def differences(text=text, expected=expected, expected_status=expected_status):
            status, reply = shell.curl(text)
            found = []
            if expected_status is not None and status != expected_status:
                found.append(f"status {status}, the doc shows {expected_status}")
            if expected_status is None and not 200 <= status < 300:
                found.append(f"status {status}: {reply}")
            if expected is not None:
                found += mismatches(expected, reply, shape=shape)
            return found

        found = differences()
        if found and is_get and expected is not None:  # it may show what a worker does later
            found = asked_again(differences)
        problems += [f"line {block.line}: {first[:60]}…: {p}" for p in found]
    return problems


def asked_again(differences, timeout: float = 20.0) -> list[str]:
    """A GET asked again until its reply is the documented one; else the last
    differences."""
    last: list[str] = []

    def matches() -> bool:
        last[:] = differences()
        return not last

    with contextlib.suppress(AssertionError):
        wait_for(matches, timeout, "the documented reply", every=0.3)
    return last


def curl_blocks(path: Path):
    return [block for block in blocks(path) if "curl " in block.text]


def test_the_reply_checker_finds_each_kind_of_disagreement():
    """The notation of tests/support/doc_examples.py: a checker that passes everything
    would prove nothing."""
    status, shown = parse_reply(
        '201 {"id": "0b6e…", "status": "pending" | "processing", "n": 1, "more": {…}, …} — prose'
    )
    assert status == 201
    good = {"id": "x1", "status": "processing", "n": 1, "more": {"a": 1}, "extra": None}
    assert mismatches(shown, good) == []
    assert mismatches(shown, good | {"status": "dead"}) == [
        ".status: 'dead' is none of ['pending', 'processing']"
    ]
    assert mismatches(shown, good | {"n": 1.0}) == [".n: 1.0, the doc shows 1"]
    assert mismatches(shown, {k: v for k, v in good.items() if k != "id"}) == [".id: missing"]
    _, closed = parse_reply('{"count": 3, "list": [1, …], "groups": {}}')
    assert mismatches(closed, {"count": 3, "list": [1, 2], "groups": {}, "x": 0}) == [
        ".x: not documented"
    ]
    assert mismatches(closed, {"count": 3, "list": [], "groups": {"a": 1}}) == [
        ".list: 0 items, the doc shows 1",
        ".groups.a: not documented",
    ]
    assert mismatches(closed, {"count": 7, "list": [2], "groups": {}}, shape=True) == []
    assert mismatches(closed, {"count": "7", "list": [2], "groups": {}}, shape=True) != []


def test_a_shell_block_splits_into_commands_with_their_replies():
    script = (
        "# prose before\nX=1\ncurl -s $API/a \\\n     -d '{\"a\":\n 1}'\n"
        '# 201 {"a": 1,\n#  "b": [2]}\n# prose after\ncurl -s $API/b\n'
    )
    found = commands(script)
    assert [c.text.splitlines()[0] for c in found] == ["X=1", "curl -s $API/a \\", "curl -s $API/b"]
    assert found[1].reply == '201 {"a": 1, "b": [2]}'
    assert (found[1].prose, found[2].reply) == (["prose after"], "")


def test_the_readme_curl_block_enqueues_a_task_over_http(live):
    shell = Shell(live)
    (block,) = curl_blocks(README)
    assert check_block(shell, block, []) == []
    assert shell.variables["TOKEN"].startswith("tq_")  # the documented token command
    status, task = live.call("GET", f"tasks/{shell.last_id}")
    assert (status, task["name"], task["args"]) == (200, "demo.tasks.fast", [21])


def dead_letters(live: Live, count: int) -> list[str]:
    """`count` tasks of demo.tasks.always_fails (queue low, ValueError), dead-lettered."""
    ids = [live.enqueue(task="demo.tasks.always_fails") for _ in range(count)]
    dead = lambda: all(live.call("GET", f"tasks/{i}")[1].get("status") == "dead" for i in ids)  # noqa: E731
    wait_for(dead, 30, "the tasks to die", every=0.2)
    return ids


def scheduled(live: Live, count: int) -> list[str]:
    return [live.enqueue(task="demo.tasks.fast", delay_seconds=3600) for _ in range(count)]


def override_emails_send(live: Live) -> list[str]:
    """The page's queues in use (else a 404, as a queue never used), and an operator's
    limit on emails.send."""
    for queue in ("emails", "imports"):
        live.enqueue(task="demo.tasks.fast", queue=queue, delay_seconds=3600)
    body = {"task": "emails.send", "rate": "10/m", "burst": 2}
    assert live.call("PUT", "queues/emails/limits", body)[0] == 200
    return []


def imports_backlog(live: Live) -> list[str]:
    for tenant in ("customer-42", "customer-42", "customer-7"):
        live.enqueue(task="demo.tasks.fast", queue="imports", tenant=tenant, delay_seconds=3600)
    return []


# What a block's example needs that the page does not make, prepared through the API
# before the block runs (keyed by a line of the block): the ids its `<id>`s stand for.
# The dead letters are made before the first block (the page pauses queue low later).
PREPARED = {
    "$API/tasks/<id>/cancel": lambda live, dead: scheduled(live, 1),  # cancellable
    '"ids": ["<id>"]': lambda live, dead: dead[:1],  # "count": 3 dead ValueErrors in low
    '"depends_on": ["<id>", "<id>"]': lambda live, dead: scheduled(live, 2),  # "waiting"
    "$API/queues/emails/limits -H": lambda live, dead: override_emails_send(live),
    "$API/queues/imports/tenants": lambda live, dead: imports_backlog(live),
}


def test_every_curl_block_of_the_api_page_answers_as_documented(live):
    shell = Shell(live)
    dead = dead_letters(live, 3)
    done, problems = set(), []
    for block in curl_blocks(API_DOC):
        ids = []
        for line, prepare in PREPARED.items():
            if line in block.text:
                ids += prepare(live, dead)
                done.add(line)
        problems += check_block(shell, block, ids)
    assert done == set(PREPARED), "a prepared example is no longer in docs/api.md"
    assert not problems, "\n".join(problems)


def test_the_api_pages_enqueue_body_is_accepted_and_its_error_example_is_the_real_one(live):
    """The two ```json blocks that are not replies: the `POST /tasks` body (every
    field, as shown) creates a task; the error shown under Errors is what that body with
    `"priority": 99` gets, word for word."""
    error, body = [b for b in blocks(API_DOC) if b.language == "json" and not b.marker]
    assert error.text.startswith('{"error"') and body.text.startswith('{"task"')
    status, task = live.call("POST", "tasks", json.loads(body.text))
    assert (status, task["status"], task["priority"], task["max_retries"]) == (
        201, "scheduled", 8, 3,
    )  # fmt: skip
    assert live.call("POST", "tasks", json.loads(body.text) | {"priority": 99}) == (
        422, json.loads(error.text),
    )  # fmt: skip


def test_a_schema_driven_client_enqueues_over_http(live):
    """Issue 21: a client that knows only /api/v1/openapi.json, served by the live
    product, checks each body against its task's payload schema before sending it; the
    server agrees with it on every body (201 where the schema accepts, 422 where not)."""
    status, doc = live.call("GET", "openapi.json")
    assert status == 200
    target = doc["components"]["schemas"]["TaskPayloads"]["discriminator"]["mapping"]
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": target["demo.tasks.fast"], "components": doc["components"]}
    )
    bodies = [{"args": [2]}, {"kwargs": {"n": 5}}, {"args": ["2"]}, {"kwargs": {"n": 1.5}}]
    verdicts = []
    for body in bodies:
        request = {"task": "demo.tasks.fast", **body}
        valid = validator.is_valid(request)
        status, reply = live.call("POST", "tasks", request)
        assert status == (201 if valid else 422), (body, reply)
        verdicts.append(valid)
    assert verdicts == [True, True, False, False]


# -- the Python snippets of docs/tasks.md and docs/migrating.md ------------------------

TASKS_DOC, MIGRATING_DOC = ROOT / "docs" / "tasks.md", ROOT / "docs" / "migrating.md"
# Every Python block a page marks `<!-- not run: ... -->` (page, index among the page's
# Python blocks), and why.
NOT_RUN = {
    ("README.md", 5): "the workflow lines name tasks and handles that are the reader's",
}


def python_blocks(path: Path):
    return [b for b in blocks(path) if b.language == "python"]


def runnable(path: Path):
    """The page's Python blocks that run; the ones marked `not run` are NOT_RUN's."""
    found = python_blocks(path)
    marked = {(path.name, n) for n, b in enumerate(found) if b.marker.startswith("not run:")}
    assert marked == {key for key in NOT_RUN if key[0] == path.name}
    return [b for n, b in enumerate(found) if (path.name, n) not in marked]


@pytest.fixture
def project(tmp_path, monkeypatch, redis_server, tq_prefix):
    """A test project's folder on sys.path (its modules importable here and by the
    workers), whose tasks leave the registry again afterwards."""
    from taskqueue.registry import registry

    monkeypatch.syspath_prepend(str(tmp_path))
    before = {t.name for t in registry}
    yield Project(tmp_path, redis_server.url, tq_prefix)
    for name in {t.name for t in registry} - before:
        registry.unregister(name)
    for module in [m for m in sys.modules if m.split(".")[0] in ("app", "proj")]:
        del sys.modules[module]


class Project:
    def __init__(self, folder: Path, redis_url: str, prefix: str):
        self.folder, self.redis_url, self.prefix = folder, redis_url, prefix
        self.imports: list[str] = []

    def module(self, dotted: str, text: str):
        """Write `text` as module `dotted` (packages made as needed), import it, and have
        the workers import it too (TASKQUEUE["IMPORTS"], docs/tasks.md)."""
        import importlib

        path = self.folder.joinpath(*dotted.split("."))
        for package in [path.parent, *path.parent.parents]:
            if package == self.folder:
                break
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch()
        path.with_suffix(".py").write_text(text)
        self.imports.append(dotted)
        return importlib.import_module(dotted)

    def env(self) -> dict[str, str]:
        """The project's processes: the test settings on the session's Redis under the
        test's prefix, this folder importable, its modules imported by workers."""
        here = Path(sys.executable).parent  # `python` is this virtualenv's
        return {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE")} | {
            "PATH": f"{here}{os.pathsep}{os.environ['PATH']}",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "REDIS_URL": self.redis_url,
            "TASKQUEUE_PREFIX": self.prefix,
            "TASKQUEUE_EXTRA": json.dumps({"IMPORTS": self.imports}),
            "PYTHONPATH": os.pathsep.join([str(self.folder), str(ROOT)]),
        }

    def burst_worker(self, *queues: str) -> str:
        """`manage.py runworker --burst --queues ...`, as a process; its output."""
        argv = [sys.executable, "manage.py", "runworker", "--burst", "--queues", ",".join(queues)]
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    def bash(self, script: str, env: dict) -> str:
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=self.folder, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def shell(self, manage: str, env: dict, snippet: str, epilogue: str) -> str:
        """A snippet run in `manage.py shell`, then the test's `epilogue`, which prints
        what the test checks on a line starting with `@@`."""
        out = self.bash(f"python {manage} shell -c \"$SNIPPET\"", env | {
            "SNIPPET": f"{snippet}\n{epilogue}\n"
        })  # fmt: skip
        return next(line for line in out.splitlines() if line.startswith("@@ "))[3:]


def names_of(module) -> dict:
    """What `from module import *` gives a shell."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_")}


def test_the_tasks_page_snippets_run_and_a_worker_runs_what_they_enqueue(project):
    """Declaring (the module app/tasks.py: its by-name example says "app.tasks.resize"),
    the settings lines, Enqueuing, a burst worker, then Results, in one shell."""
    from taskqueue.inspect import queue_counts
    from taskqueue.status import Status

    declaring, settings_lines, enqueuing, results = runnable(TASKS_DOC)
    shell = names_of(project.module("app.tasks", declaring.text))
    assert {shell["resize"].name, shell["send_email"].name} == {"app.tasks.resize", "emails.send"}

    conf = {"INSTALLED_APPS": ["taskqueue", "api"], "TASKQUEUE": {"PREFIX": "tq"}}
    assert settings_lines.text.startswith("# config/settings.py (add at the end)\n")
    exec(settings_lines.text, conf)  # noqa: S102 - the page's own lines
    assert conf["INSTALLED_APPS"] == ["taskqueue", "api", "myapp"]
    assert conf["TASKQUEUE"] == {"PREFIX": "tq", "IMPORTS": ["myapp.jobs", "myapp.services.email"]}

    exec(enqueuing.text, shell)  # noqa: S102
    ran = project.burst_worker("default", "bulk")
    assert "1005 processed, 0 failed" in ran  # all but the delayed two (1000 in one call)
    exec(results.text, shell)  # noqa: S102 - waits for `handle`, reads it back by id
    assert shell["handle"].status == Status.COMPLETED
    default, bulk = queue_counts("default"), queue_counts("bulk")
    assert (default.completed, default.scheduled, bulk.completed) == (1004, 2, 1)


def columns(block) -> tuple[str, str]:
    """A side-by-side block (`# Celery   # taskqueue` on its first line): the two
    programs, split where the second heading starts."""
    heading, *lines = block.text.splitlines()
    cut = heading.index("# taskqueue")
    left, right = [], []
    for line in lines:
        if not line[:cut].strip():  # the right column only
            right.append(line.strip())
            continue
        mine, _, theirs = re.match(r"^(\s*\S.*?)(\s{3,}|$)(.*)$", line).groups()
        left.append(mine)
        right.append(theirs)  # within brackets, Python ignores the indentation
    return "\n".join(left), "\n".join(right)


def test_the_migration_pages_snippets_run_and_its_beat_schedule_converts_as_shown(project):
    """The import line, then the beat → cron block: its Celery column converted by
    beat_schedule_to_periodic is its taskqueue column; then the settings lines that do
    the conversion, on that Celery schedule as proj/celery_schedule.py."""
    from taskqueue.celery_compat import beat_schedule_to_periodic
    from taskqueue.periodic import Schedule, schedules

    imports, side_by_side, settings_lines = runnable(MIGRATING_DOC)
    shell: dict = {}
    exec(imports.text, shell)  # noqa: S102 - the page's own lines
    assert {"chain", "chord", "crontab", "group", "shared_task"} <= set(shell)

    assert side_by_side.text.startswith("# Celery ")
    celery, ours = columns(side_by_side)
    app = type("CeleryApp", (), {"conf": type("Conf", (), {})()})()  # only app.conf is used
    exec(celery, shell | {"app": app})  # noqa: S102
    taskqueue_side: dict = {}
    exec(ours, taskqueue_side)  # noqa: S102
    periodic = taskqueue_side["TASKQUEUE"]["PERIODIC"]
    converted = beat_schedule_to_periodic(app.conf.beat_schedule)  # adds "kwargs": {}
    setting = lambda p: [s for s in schedules(p) if s.name in p]  # noqa: E731 - not @task(cron=)
    assert (
        setting(converted)
        == setting(periodic)
        == [Schedule("nightly", "proj.tasks.report", "30 3 * * *", "low", ["yesterday"], {})]
    )

    module = "from taskqueue.celery_compat import crontab\n\n" + celery.replace(
        "app.conf.beat_schedule = ", "beat_schedule = "
    )
    project.module("proj.celery_schedule", module)
    conf = {"TASKQUEUE": {"PREFIX": "tq"}}
    assert settings_lines.text.startswith("# config/settings.py (add at the end)\n")
    exec(settings_lines.text, conf)  # noqa: S102
    assert conf["TASKQUEUE"] == {"PREFIX": "tq", "PERIODIC": converted}


# -- the README's own task, from `startapp` to its result ------------------------------

APPS_ABOVE = '    *[app for app in INSTALLED_APPS if app != "taskqueue"],  # the README\'s `...`'


def test_the_readmes_own_task_runs_from_startapp_to_its_result(project):
    """README "Define a task, enqueue it", as written: `startapp yourapp`, the app added
    to INSTALLED_APPS (its `...` is the apps already there), both yourapp/tasks.py
    blocks (the second adds to the file), a worker started as `make run` starts it (no
    --queues: it serves "emails" because a task declares it), then each shell snippet
    in `manage.py shell`; `manage.py` is the repository's, the project's settings are the
    test settings with the README's INSTALLED_APPS."""
    from taskqueue.inspect import workers

    settings_lines, tasks_module, enqueue, django_tasks, view = runnable(README)
    (shell_command,) = [b for b in blocks(README) if "startapp" in b.text]
    manage = f"{ROOT / 'manage.py'}"
    assert shell_command.text == "python manage.py startapp yourapp\n"
    project.bash(shell_command.text.replace("manage.py", manage), project.env())
    assert (project.folder / "yourapp" / "apps.py").exists()

    assert settings_lines.text.startswith("# config/settings.py\n")
    body = settings_lines.text.replace("    ...,", APPS_ABOVE)
    (project.folder / "docsite.py").write_text("from tests.settings import *  # noqa\n" + body)
    for block in (tasks_module, django_tasks):
        assert block.text.startswith("# yourapp/tasks.py")
    definitions = "\n\n".join((tasks_module.text, django_tasks.text))
    (project.folder / "yourapp" / "tasks.py").write_text(definitions)
    env = project.env() | {"DJANGO_SETTINGS_MODULE": "docsite"}  # with yourapp

    log = project.folder / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, manage, "runworker"], cwd=project.folder, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: workers(), 30, "the worker to start", every=0.1)
        (live,) = workers()
        assert {"default", "emails"} <= set(live.queues)  # emails: send_email declares it
        first = project.shell(manage, env, enqueue.text, "print('@@', handle.status)")
        assert first == "completed"
        wait = "from tests.support.results import finished\nprint('@@', finished(result).status)"
        assert project.shell(manage, env, view.text, wait) == "SUCCESSFUL"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert " ERROR " not in log.read_text(), log.read_text()  # e.g. an unknown task's name
