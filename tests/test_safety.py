"""Start-up safety (taskqueue/safety.py): an unprotected network Redis is refused by
runworker, runall and the web process unless ALLOW_INSECURE_REDIS is set, and a Redis
that evicts keys or persists nothing gets one loud warning per process."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.core.management import call_command

from taskqueue import checks, conf, safety
from taskqueue.embedded_redis import RedisProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
NOWHERE = "redis://192.0.2.1:6379/0"  # TEST-NET-1: never answers, and is never asked


# -- the URL rules -------------------------------------------------------------------

ACCEPTED = [
    "redis://127.0.0.1:6379/0",
    "redis://127.5.6.7:6379/0",
    "redis://localhost:6379/0",
    "redis://[::1]:6379/0",
    "unix:///run/redis/redis.sock",
    "unix://:pw@/run/redis/redis.sock?db=2",
    "rediss://redis.example.com:6380/0",
    "redis://:s3cret@10.0.0.5:6379/0",
    "redis://app:s3cret@redis.internal:6379/0",
    "redis://redis.internal:6379/0?password=s3cret",
    "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
    "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7000",
    "redis+cluster://10.0.0.1:7000,10.0.0.2:7000?ssl=true",
    "redis+sentinel://127.0.0.1:26379,[::1]:26380/mymaster",
    "redis+sentinel://:s3cret@10.0.0.1:26379/mymaster?sentinel_password=other",
]
REFUSED = [
    ("redis://10.0.0.5:6379/0", "host 10.0.0.5"),
    ("redis://redis:6379/0", "host redis"),
    ("redis://app@10.0.0.5:6379/0", "neither a password nor TLS"),  # a user, no password
    ("redis://:@10.0.0.5:6379/0", "neither a password nor TLS"),  # an empty password
    ("redis://127.0.0.1.example.com:6379/0", "host 127.0.0.1.example.com"),
    ("redis://0.0.0.0:6379/0", "host 0.0.0.0"),  # names no host: not loopback by our rules
    ("redis+cluster://127.0.0.1:7000,10.0.0.2:7000", "cluster node(s) 10.0.0.2:7000 "),
    ("redis+cluster://10.0.0.1:7000?ssl=false", "neither a password nor ssl=true"),
    ("redis+sentinel://10.0.0.1:26379/mymaster", "the master's password is not set"),
    ("redis+sentinel://:s3cret@10.0.0.1:26379/mymaster", "10.0.0.1:26379 have no sentinel_"),
    ("redis+sentinel://10.0.0.1:26379/mymaster?sentinel_password=x", "master's password"),
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_protected_or_local_urls_are_accepted(url):
    assert safety.insecure_reason(url) is None


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_unprotected_network_urls_are_refused_with_the_reason(url, reason):
    assert reason in (safety.insecure_reason(url) or "")


def test_a_url_that_does_not_parse_is_left_to_the_system_checks():
    assert safety.insecure_reason("http://10.0.0.1/") is None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@h:1/0", "redis://:****@h:1/0"),
        ("redis://app:s3cret@h:1/0", "redis://app:****@h:1/0"),
        ("redis://app@h:1/0", "redis://app@h:1/0"),
        ("redis://h:1/0?password=s3cret&db=1", "redis://h:1/0?password=****&db=1"),
        (
            "redis+sentinel://u:p%40ss@a:1,b:2/m?sentinel_password=s3cret",
            "redis+sentinel://u:****@a:1,b:2/m?sentinel_password=****",
        ),
    ],
)
def test_passwords_are_masked(url, masked):
    assert safety.mask_url(url) == masked


def test_refusal_names_the_masked_url_and_the_way_out():
    url = "redis+sentinel://:s3cret@10.0.0.1:26379/mymaster"
    with pytest.raises(safety.InsecureRedis) as caught:
        safety.refuse_insecure(conf.build({"REDIS_URL": url}))
    message = str(caught.value)
    assert "s3cret" not in message
    assert "redis+sentinel://:****@10.0.0.1:26379/mymaster" in message
    assert 'TASKQUEUE["ALLOW_INSECURE_REDIS"] = True' in message
    assert "password" in message and "rediss://" in message


def test_the_override_lets_it_pass():
    safety.refuse_insecure(conf.build({"REDIS_URL": NOWHERE, "ALLOW_INSECURE_REDIS": True}))


def test_the_option_is_validated_like_the_others():
    found = conf.problems({"ALLOW_INSECURE_REDIS": "yes"})
    assert [(i, m) for i, m, _ in found] == [
        ("E011", "TASKQUEUE['ALLOW_INSECURE_REDIS'] must be True or False, not 'yes'.")
    ]
    assert conf.build({"ALLOW_INSECURE_REDIS": True}).ALLOW_INSECURE_REDIS is True
    assert conf.build({}).ALLOW_INSECURE_REDIS is False


def test_manage_check_warns_about_an_unprotected_url(settings):
    settings.TASKQUEUE = {"REDIS_URL": NOWHERE}
    (warning,) = checks.check_redis_protection()
    assert warning.id == "taskqueue.W002" and "192.0.2.1" in warning.msg
    assert "ALLOW_INSECURE_REDIS" in warning.hint
    settings.TASKQUEUE = {"REDIS_URL": NOWHERE, "ALLOW_INSECURE_REDIS": True}
    assert checks.check_redis_protection() == []
    settings.TASKQUEUE = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert checks.check_redis_protection() == []


# -- what the server says ------------------------------------------------------------


@pytest.fixture
def careless_redis(tmp_path):
    """A Redis that evicts keys and persists nothing."""
    server = RedisProcess(
        tmp_path / "careless",
        port=free_port(),
        persistent=False,
        extra_args=("--maxmemory-policy", "allkeys-lru", "--appendonly", "no", "--save", ""),
    )
    with server:
        yield server


def client_of(server) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def test_eviction_and_no_persistence_are_both_reported(careless_redis):
    found = safety.server_warnings(client_of(careless_redis))
    assert len(found) == 2
    assert found[0].startswith("maxmemory-policy is allkeys-lru: ")
    assert "evicted task record is a lost task" in found[0]
    assert found[1].startswith("persistence is off (appendonly no and no save points)")


def test_a_careful_redis_gets_no_warning(tmp_path):
    with RedisProcess(tmp_path / "careful", port=free_port(), persistent=True) as server:
        assert safety.server_warnings(client_of(server)) == []


def test_rdb_save_points_alone_count_as_persistence(tmp_path):
    extra = ("--save", "900 1")
    with RedisProcess(tmp_path / "rdb", port=free_port(), persistent=False, extra_args=extra) as s:
        assert safety.server_warnings(client_of(s)) == []


def test_without_config_it_reads_info_and_says_what_it_could_not_check(tmp_path):
    extra = ("--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "")
    with RedisProcess(
        tmp_path / "managed", port=free_port(), persistent=False, extra_args=extra
    ) as s:
        found = safety.server_warnings(client_of(s))
    assert found[0].startswith("maxmemory-policy is allkeys-lru")  # INFO memory tells
    assert found[1].startswith("could not check persistence (CONFIG GET is not allowed)")


def test_a_redis_that_answers_nothing_is_reported_not_raised():
    class Broken:
        def config_get(self, name):
            raise redis.ConnectionError("connection reset")

    found = safety.warn_about_server(Broken(), "redis://:pw@127.0.0.1:1/0")
    assert found == ["could not check eviction and persistence settings: connection reset"]


def test_each_warning_is_logged_once_per_process(careless_redis, caplog):
    client = client_of(careless_redis)
    url = careless_redis.url + "?password=s3cret"  # the log shows it masked
    with caplog.at_level(logging.WARNING, logger="taskqueue.safety"):
        first = safety.warn_about_server(client, url)
        again = safety.warn_about_server(client, url)
    assert first == again and len(first) == 2
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert all("password=****" in r.getMessage() for r in caplog.records)
    assert "s3cret" not in caplog.text


# -- the commands --------------------------------------------------------------------


def manage(*argv: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TASKQUEUE_EXTRA",)}
    full_env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"} | env
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_runworker_refuses_an_unprotected_network_redis(tq_prefix):
    url = "redis+sentinel://:s3cret@192.0.2.1:26379/mymaster"
    ran = manage("manage.py", "runworker", "--burst", env={"REDIS_URL": url})
    assert ran.returncode == 1
    assert "CommandError: Refusing to use the Redis at redis+sentinel://:****@192.0.2.1" in (
        ran.stderr
    )
    assert "sentinel_password" in ran.stderr and "ALLOW_INSECURE_REDIS" in ran.stderr
    assert "s3cret" not in ran.stderr + ran.stdout


def test_runworker_runs_with_the_override_and_warns_once(careless_redis, tq_prefix):
    # 0.0.0.0 reaches the loopback Redis on Linux, yet is not loopback by the URL rules
    url = f"redis://0.0.0.0:{careless_redis.port}/0"
    env = {"REDIS_URL": url, "TASKQUEUE_PREFIX": tq_prefix}
    refused = manage("manage.py", "runworker", "--burst", env=env)
    assert refused.returncode == 1 and "host 0.0.0.0 is not on loopback" in refused.stderr
    allowed = env | {"TASKQUEUE_EXTRA": json.dumps({"ALLOW_INSECURE_REDIS": True})}
    ran = manage("manage.py", "runworker", "--burst", env=allowed)
    assert ran.returncode == 0, ran.stderr
    lines = [line for line in ran.stderr.splitlines() if "taskqueue.safety" in line]
    assert len(lines) == 2, ran.stderr
    assert all(" WARNING taskqueue.safety " in line for line in lines)
    assert "maxmemory-policy is allkeys-lru" in lines[0]
    assert "persistence is off" in lines[1]


def test_runall_refuses_before_starting_anything(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": NOWHERE,
        "TASKQUEUE_VAR_DIR": str(tmp_path),
    }
    ran = manage("manage.py", "runall", "--no-demo", "--port", str(free_port()), env=env)
    assert ran.returncode == 1
    assert "Refusing to use the Redis at redis://192.0.2.1:6379/0" in ran.stderr
    assert "Console:" not in ran.stdout
    ok = env | {"TASKQUEUE_ALLOW_INSECURE_REDIS": "1"}
    checked = manage("manage.py", "check", env=ok)
    assert checked.returncode == 0 and "W002" not in checked.stderr


@pytest.mark.parametrize("entry_point", ["config.asgi", "config.wsgi"])
def test_the_web_process_refuses_too(entry_point):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": NOWHERE}
    ran = manage("-c", f"import {entry_point}", env=env)
    assert ran.returncode == 1
    assert "InsecureRedis: Refusing to use the Redis at redis://192.0.2.1:6379/0" in ran.stderr


def test_the_checks_command_shows_the_warning(settings, capsys):
    settings.TASKQUEUE = {"REDIS_URL": NOWHERE}
    call_command("check", tags=["taskqueue"])
    assert "taskqueue.W002" in capsys.readouterr().err


def test_every_primary_of_a_cluster_is_checked(tmp_path):
    from taskqueue.client import connect

    from .topologies import LocalCluster

    cluster = LocalCluster(tmp_path / "cluster", masters=3).start()
    try:
        client = connect(cluster.url)
        found = safety.server_warnings(client)
        client.disconnect_connection_pools()
    finally:
        cluster.stop()
    ports = sorted(n.port for n in cluster.nodes)
    assert sorted(int(w.split(":")[1]) for w in found) == ports  # persistence off on each
    assert all("persistence is off" in w and w.startswith("127.0.0.1:") for w in found)
