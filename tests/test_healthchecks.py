"""deploy/healthcheck.py, the orchestrator's health checks (docs/deployment.md):
the web check against real HTTP answers, daphne as compose runs it included; the
worker check against a real worker registry."""

import http.client
import http.server
import importlib.util
import socket
import subprocess
import sys
import threading

import pytest

from taskqueue.embedded_redis import free_port

from .support.deployment import ROOT, app_environment, service
from .support.records import register_worker
from .support.waits import wait_for


def healthcheck_module():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_healthchecks_call_the_health_check_script():
    assert service("web")["healthcheck"]["test"][1:] == ["python", "deploy/healthcheck.py", "web"]
    assert service("worker")["healthcheck"]["test"][1:] == [
        "python",
        "deploy/healthcheck.py",
        "worker",
    ]


@pytest.mark.parametrize(
    ("status", "alive"), [(200, True), (503, True), (500, False), (301, False)]
)
def test_web_health_check_passes_on_an_answer_from_django(monkeypatch, status, alive):
    """200 and 503 from /api/v1/health both mean the process answers; a redirect (the
    probe missed SECURE_SSL_REDIRECT) or a 500 do not. It sends the proxy's headers."""
    healthcheck = healthcheck_module()
    monkeypatch.setenv("ALLOWED_HOSTS", ".example.org,tq.example.com")
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.update(host=self.headers["Host"], proto=self.headers["X-Forwarded-Proto"])
            self.send_response(status)
            self.send_header("Location", "https://tq.example.com/api/v1/health")
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.handle_request, daemon=True).start()
        got = healthcheck.web_status(f"http://127.0.0.1:{server.server_port}/api/v1/health")
    assert (got in healthcheck.ALIVE_STATUSES) is alive and got == status
    assert seen == {"host": "tq.example.com", "proto": "https"}


def test_web_health_check_passes_on_daphne_run_as_compose_runs_it(
    tmp_path, monkeypatch, redis_server, tq_prefix, broker
):
    """The compose web command and environment, for real: Redis is this session's (on
    loopback) and the database a SQLite file, as /health reads neither PostgreSQL nor
    a table. 503 while no worker is alive and 200 once one is: both pass the probe. A
    plain request without the proxy's header is redirected to HTTPS: the probe's
    X-Forwarded-Proto is what gets it through SECURE_SSL_REDIRECT."""
    healthcheck = healthcheck_module()
    env = app_environment() | {
        "REDIS_URL": redis_server.url,
        "TASKQUEUE_PREFIX": tq_prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TASKQUEUE_VAR_DIR": str(tmp_path / "var"),
        "PATH": "/usr/bin:/bin",
    }
    monkeypatch.setenv("ALLOWED_HOSTS", env["ALLOWED_HOSTS"])
    argv, port = service("web")["command"], free_port()
    argv = [*argv[1:2], "127.0.0.1", argv[3], str(port), *argv[5:]]  # -b 127.0.0.1 -p <free>
    url = f"http://127.0.0.1:{port}/api/v1/health"
    daphne = subprocess.Popen([sys.executable, "-m", "daphne", *argv], cwd=ROOT, env=env)
    try:
        assert wait_for(lambda: healthcheck.web_status(url), 30, "daphne to answer") == 503
        register_worker(broker, "w-1")
        assert healthcheck.web_status(url) == 200
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        plain.request("GET", "/api/v1/health", headers={"Host": "tq.example.com"})
        assert plain.getresponse().status == 301
        plain.close()
    finally:
        daphne.terminate()
        daphne.wait(30)


def test_web_health_check_fails_when_nothing_listens():
    assert healthcheck_module().web_status(f"http://127.0.0.1:{free_port()}/api/v1/health") is None


def test_worker_health_check_wants_a_live_worker_on_this_host(broker):
    healthcheck = healthcheck_module()
    register_worker(broker, "w-here", host="box-1")
    register_worker(broker, "w-silent", host="box-2", silent_for_s=120)
    assert healthcheck.worker_alive("box-1") is True
    assert healthcheck.worker_alive("box-2") is False  # lost: no heartbeat for 60 s
    assert healthcheck.worker_alive("box-3") is False


def test_worker_health_check_command_runs_as_compose_runs_it(
    tmp_path, redis_server, tq_prefix, broker
):
    """`python deploy/healthcheck.py worker`, the compose healthcheck, as a process with
    the production settings (Redis and the database swapped for local ones): exit 1
    until a worker from this host name is registered, 0 after."""
    env = app_environment() | {
        "REDIS_URL": redis_server.url,
        "TASKQUEUE_PREFIX": tq_prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TASKQUEUE_VAR_DIR": str(tmp_path / "var"),
        "PATH": "/usr/bin:/bin",
    }
    argv = [sys.executable, *service("worker")["healthcheck"]["test"][2:]]

    def check() -> int:
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=60).returncode

    assert check() == 1
    register_worker(broker, "w-here", host=socket.gethostname())
    assert check() == 0
