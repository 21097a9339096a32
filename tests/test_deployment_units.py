"""The systemd units (deploy/systemd/): the keys a graceful stop needs, and
`systemd-analyze verify` where the machine has it (docs/deployment.md)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from .support.deployment import UNITS, option, seconds, service, unit, unit_names


@pytest.mark.parametrize("name", ["taskqueue-web@.service", "taskqueue-worker@.service"])
def test_unit_runs_from_the_venv_as_a_user_and_stops_with_sigterm(name):
    service_ = unit(name)
    assert service_["Service.ExecStart"][0].startswith("/opt/taskqueue/venv/bin/")
    assert service_["Service.KillSignal"] == ["SIGTERM"]
    assert service_["Service.Restart"] == ["always"]
    assert service_["Service.User"] == ["taskqueue"]
    assert service_["Service.EnvironmentFile"] == ["/etc/taskqueue/taskqueue.env"]


def test_worker_unit_outlasts_the_grace_and_signals_only_the_supervisor():
    service_ = unit("taskqueue-worker@.service")
    argv = service_["Service.ExecStart"][0].split()
    grace = float(option(argv, "--grace"))
    assert seconds(service_["Service.TimeoutStopSec"][0]) >= grace + 10
    # control-group would SIGTERM the children too; with the supervisor's forward that
    # is a second signal, which skips the grace
    assert service_["Service.KillMode"] == ["mixed"]
    assert option(argv, "--grace") == option(service("worker")["command"], "--grace")


def test_units_pass_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed: the units are only parsed")
    assert verify_units(tmp_path, {}) == ""


def test_systemd_analyze_verify_catches_a_bad_unit(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    bad = (
        (UNITS / "taskqueue-worker@.service")
        .read_text()
        .replace("KillMode=mixed", "KillMode=gentle")
    )
    assert "KillMode=gentle" in bad and "kill mode" in verify_units(
        tmp_path, {"taskqueue-worker@.service": bad}
    )


def verify_units(root: Path, replaced: dict[str, str]) -> str:
    """`systemd-analyze verify --root` on one instance of each unit, in a root holding
    the units, the system's targets and a stub for each ExecStart program; the output
    (verify exits 0 on a key it ignores, so any output is a finding)."""
    system = root / "etc/systemd/system"
    system.mkdir(parents=True)
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    for target in [
        *Path("/usr/lib/systemd/system").glob("*.target"),
        *Path("/usr/lib/systemd/system").glob("*.slice"),
    ]:
        shutil.copy(target, root / "usr/lib/systemd/system" / target.name)  # not symlinks
    for name in unit_names():
        (system / name).write_text(replaced.get(name) or (UNITS / name).read_text())
        program = root / unit(name)["Service.ExecStart"][0].split()[0].lstrip("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    instances = [name.replace("@.", "@8001.") for name in unit_names()]
    run = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *instances],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return (run.stdout + run.stderr).strip() or (
        "" if run.returncode == 0 else f"exit {run.returncode}"
    )
