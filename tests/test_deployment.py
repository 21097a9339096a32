"""The production files (docs/deployment.md) checked as far as this machine allows,
without Docker: compose.yaml parsed (PyYAML) and its Redis command run by a real
redis-server; every variable the compose file, the Dockerfile and the systemd units set
is one the settings read; the Dockerfile's build script run into a temporary virtualenv,
which then passes `manage.py check --deploy` with the compose file's environment. The
units: test_deployment_units.py; the health checks: test_healthchecks.py."""

import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import redis
from daphne.cli import CommandLineInterface

from taskqueue import safety
from taskqueue.embedded_redis import find_binary, free_port
from taskqueue.management.commands.runworker import Command as RunWorker

from .support.deployment import (
    ROOT,
    SAMPLE,
    UNITS,
    app_environment,
    compose,
    dead_knobs,
    dockerfile_instructions,
    env_file_keys,
    interpolate,
    lines_of,
    option,
    seconds,
    service,
    settings_variables,
    unit,
    unit_names,
)
from .support.waits import wait_for

APP_SERVICES = ("migrate", "web", "worker")
# What the interpreter and pip read, not the settings: the only variables the image may
# set that config/ does not read.
TOOL_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR"}
# `manage.py check --deploy` warnings the production settings accept: HSTS for every
# subdomain and the browsers' preload list are the domain owner's decision.
ACCEPTED_DEPLOY_WARNINGS = {"security.W005", "security.W021"}


# --- compose.yaml ---


def test_compose_runs_postgres_redis_web_and_worker_each_with_a_healthcheck():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "migrate"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_compose_redis_runs_with_aof_noeviction_and_a_password(tmp_path):
    """The compose file's own redis-server arguments, run by a real redis-server: the
    settings taskqueue's start-up check reads come out as it wants them."""
    argv = [interpolate(arg) for arg in service("redis")["command"]]
    assert (
        option(argv, "--appendonly") == "yes" and "redis-data:/data" in service("redis")["volumes"]
    )
    port = free_port()
    server = subprocess.Popen(
        [find_binary(), *argv[1:], "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp_path],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://:{SAMPLE['REDIS_PASSWORD']}@127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, decode_responses=True)
        wait_for(client.ping, 10, "redis-server", ignoring=(redis.ConnectionError,))
        config = client.config_get("appendonly", "appendfsync", "maxmemory-policy")
        assert config == {
            "appendonly": "yes",
            "appendfsync": "everysec",
            "maxmemory-policy": "noeviction",
        }
        assert safety.server_warnings(client) == []
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        client.close()
    finally:
        server.terminate()
        server.wait(10)


def test_compose_and_units_set_only_variables_the_settings_read():
    read = settings_variables()
    assert {"REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "WEB_THREADS"} <= read  # the scan works
    for name in APP_SERVICES:
        assert dead_knobs(service(name)["environment"], read) == set(), name
    for name in unit_names():
        assigned = {value.partition("=")[0] for value in unit(name).get("Service.Environment", [])}
        assert dead_knobs(assigned, read) == set(), name
    assert dead_knobs(env_file_keys(UNITS / "taskqueue.env.example"), read) == set()
    image_env = {
        key
        for op, args in dockerfile_instructions()
        if op == "ENV"
        for key in re.findall(r"(\w+)=", args)
    }
    assert dead_knobs(image_env, read | TOOL_VARIABLES) == set()


def test_a_variable_no_setting_reads_is_caught():
    assert dead_knobs({"REDIS_URL", "REDIS_PASSWORD_FILE"}, settings_variables()) == {
        "REDIS_PASSWORD_FILE"
    }


def test_compose_sets_the_production_settings():
    env = app_environment()
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith(f"redis://:{SAMPLE['REDIS_PASSWORD']}@redis:6379/")
    assert safety.insecure_reason(env["REDIS_URL"]) is None  # the web process would refuse it
    assert env["SECRET_KEY"] == SAMPLE["SECRET_KEY"] and env["DEBUG"] == "0"
    assert env["TASKQUEUE_DEMO"] == "0"
    for name in APP_SERVICES:
        assert service(name)["environment"] == service("web")["environment"], name


def test_compose_commands_are_ones_daphne_and_runworker_accept():
    web = CommandLineInterface().parser.parse_args(service("web")["command"][1:])
    assert (web.application, web.port, web.proxy_headers) == ("config.asgi:application", 8000, True)
    argv = service("worker")["command"]
    assert argv[:3] == ["python", "manage.py", "runworker"]
    worker = RunWorker().create_parser("manage.py", "runworker").parse_args(argv[3:])
    assert worker.grace > 0 and worker.processes >= 1


def test_compose_gives_the_worker_its_whole_grace_before_a_kill():
    worker = service("worker")
    grace = float(option(worker["command"], "--grace"))
    assert worker["stop_signal"] == "SIGTERM"
    assert seconds(worker["stop_grace_period"]) >= grace + 10


# --- Dockerfile and the build script ---


def test_the_image_is_multi_stage_non_root_and_built_by_the_build_script():
    steps = dockerfile_instructions()
    stages = [args for op, args in steps if op == "FROM"]
    assert stages == ["python:3.13-slim AS build", "python:3.13-slim"]
    runs = [args for op, args in steps if op == "RUN"]
    assert runs[0] == "sh deploy/build-env.sh /opt/venv"  # the build stage's only RUN
    assert ("COPY", "--from=build /opt/venv /opt/venv") in steps
    assert not any("pip" in args or "apt-get" in args for args in runs[1:])  # run stage
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_the_image_context_keeps_the_app_and_leaves_out_local_state(settings):
    """.dockerignore (its patterns read as top-level names, as ours are written) keeps
    every local app the settings install, the templates, static files and deploy/
    (the build script, the health checks); it drops the venv, var/, .git and tests."""
    patterns = set(lines_of(ROOT / ".dockerignore"))
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}
    needed = local_apps | {
        "config",
        "templates",
        "static",
        "deploy",
        "manage.py",
        "requirements.txt",
    }
    assert {"taskqueue", "api", "dashboard", "devserver"} <= needed
    assert {name for name in needed if any(fnmatch(name, p) for p in patterns)} == set()
    assert {".venv", "var", ".git", "tests", ".env"} <= patterns


def test_the_build_script_builds_an_environment_that_passes_check_deploy(tmp_path):
    """The Dockerfile's build step, run here (pip's cache makes it ~10 s): a virtualenv
    from requirements.txt, wheels only; with the repository's source it is what the
    image holds. `check --deploy` in it, with the compose file's environment."""
    venv = tmp_path / "venv"
    build = subprocess.run(
        ["sh", "deploy/build-env.sh", str(venv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    python = venv / "bin" / "python"
    assert not (venv / "bin" / "pytest").exists()  # run-time dependencies only
    assert deploy_warnings(python, app_environment(), tmp_path / "var") <= ACCEPTED_DEPLOY_WARNINGS


def test_check_deploy_catches_a_debug_production(tmp_path):
    env = app_environment() | {"DEBUG": "1"}
    assert "security.W018" in deploy_warnings(Path(sys.executable), env, tmp_path / "var")


def deploy_warnings(python: Path, env: dict[str, str], var_dir: Path) -> set[str]:
    """The ids `manage.py check --deploy` reports; fails on an error (non-zero exit)."""
    env = env | {"TASKQUEUE_VAR_DIR": str(var_dir), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [python, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return set(re.findall(r"\((\w+\.[EW]\d+)\)", run.stdout + run.stderr))
