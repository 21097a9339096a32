"""REDIS_URL forms: one Redis, a Redis Cluster, a Sentinel-watched master. Parsed in
one place (taskqueue/redis_urls.py), reported by the system checks with the forms."""

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from django.core import checks

from taskqueue import checks as taskqueue_checks
from taskqueue import client, redis_urls
from taskqueue.conf import build
from taskqueue.embedded_redis import free_port
from taskqueue.errors import BrokerUnavailable


def test_single_node_urls_are_handed_to_redis_py_as_they_are():
    for url in ("redis://h:6379/2", "rediss://u:p@h:6380/0", "unix:///tmp/r.sock?db=1"):
        target = redis_urls.parse(url)
        assert (target.kind, target.url, target.single_node) == ("single", url, True)


def test_a_cluster_url_lists_its_startup_nodes_and_credentials():
    target = redis_urls.parse("redis+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001,node3/")
    assert target.kind == "cluster"
    assert target.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("node3", 6379))
    assert (target.username, target.password) == ("app", "s@cret")


def test_a_sentinel_url_names_the_service_and_the_database():
    target = redis_urls.parse("redis+sentinel://:pw@s1:26379,s2/mymaster/3?sentinel_password=sp")
    assert target.kind == "sentinel"
    assert target.nodes == (("s1", 26379), ("s2", 26379))
    assert (target.service, target.db, target.password) == ("mymaster", 3, "pw")
    assert target.options == {"sentinel_password": "sp"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://x", "not a Redis URL"),
        ("redis+cluster://h:70000", "not a host:port"),
        ("redis+cluster://h:7000/1", "only database 0"),
        ("redis+cluster://h:7000?colour=red", "unknown option"),
        ("redis+cluster://h:7000?ssl=maybe", "not true or false"),
        ("redis+sentinel://s1:26379", "names its service"),
        ("redis+sentinel://s1:26379/svc/x", "not a number"),
        ("redis+sentinel://:26379/svc", "not a host:port"),
    ],
)
def test_a_malformed_url_says_what_is_wrong(url, reason):
    assert reason in redis_urls.problem(url)


def test_the_check_reports_a_bad_url_with_the_forms_as_hint(settings):
    settings.TASKQUEUE = {"REDIS_URL": "redis+sentinel://s1:26379"}
    (error,) = [e for e in checks.run_checks(tags=["taskqueue"]) if e.id == "taskqueue.E003"]
    assert "names its service" in error.msg and "redis+cluster://" in error.hint


@pytest.mark.parametrize(
    "shards", [{"emails": 0}, {"emails": 65}, {"Bad Name": 2}, {"emails": "4"}, ["emails"]]
)
def test_a_bad_shards_setting_is_reported(settings, shards):
    settings.TASKQUEUE = {"SHARDS": shards}
    assert "taskqueue.E012" in [e.id for e in checks.run_checks(tags=["taskqueue"])]


def test_a_queue_of_one_shard_is_not_sharded():
    assert build({"SHARDS": {"emails": 1, "reports": 3}}).SHARDS == {"reports": 3}


def test_each_url_form_builds_its_redis_py_client(redis_server):
    if redis_server.url.startswith("redis+cluster://"):
        assert isinstance(client.connect(redis_server.url), redis.cluster.RedisCluster)
    sentinel = client.connect("redis+sentinel://127.0.0.1:1/svc/2", socket_timeout=1.0)
    assert sentinel.connection_pool.service_name == "svc"
    assert sentinel.connection_pool.connection_kwargs["db"] == 2
    assert isinstance(client.connect("redis://127.0.0.1:1/0"), redis.Redis)


def test_an_unreachable_cluster_is_broker_unavailable():
    with pytest.raises(BrokerUnavailable, match="Redis is unavailable"):
        client.connect(f"redis+cluster://127.0.0.1:{free_port()}", socket_timeout=0.5)


def test_the_async_clients_follow_the_url_form():
    cluster = client.connect_async(build({"REDIS_URL": "redis+cluster://127.0.0.1:7000"}))
    sentinel = client.connect_async(build({"REDIS_URL": "redis+sentinel://127.0.0.1:1/svc"}))
    assert isinstance(cluster, redis.asyncio.cluster.RedisCluster)
    assert sentinel.connection_pool.service_name == "svc"


def channel_checks(settings, broker_url, layers):
    settings.TASKQUEUE = {"REDIS_URL": broker_url}
    settings.CHANNEL_LAYERS = layers
    return [e.id for e in taskqueue_checks.check_channel_layer()]


@pytest.mark.parametrize("host", ["redis+cluster://h:7000", {"address": "redis+cluster://h:7000"}])
def test_a_cluster_url_for_the_channel_layer_is_an_error(settings, host):
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                          "CONFIG": {"hosts": [host]}}}  # fmt: skip
    assert channel_checks(settings, "redis+cluster://h:7000", layers) == ["taskqueue.E013"]


def test_the_in_memory_fallback_beside_a_cluster_is_a_warning(settings):
    layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert channel_checks(settings, "redis+sentinel://s:26379/m", layers) == ["taskqueue.W001"]
    assert channel_checks(settings, "redis://h:6379/0", layers) == []


def test_the_project_settings_keep_channels_off_a_cluster(monkeypatch):
    import importlib

    import config.settings

    monkeypatch.setenv("REDIS_URL", "redis+cluster://h:7000,h:7001")
    monkeypatch.delenv("CHANNELS_REDIS_URL", raising=False)
    fallback = importlib.reload(config.settings).CHANNEL_LAYERS["default"]["BACKEND"]
    monkeypatch.setenv("CHANNELS_REDIS_URL", "redis://chan:6379/0")
    own = importlib.reload(config.settings).CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    monkeypatch.undo()
    importlib.reload(config.settings)
    assert (fallback, own) == (
        "channels.layers.InMemoryChannelLayer",
        [{"address": "redis://chan:6379/0", "socket_timeout": 30}],
    )
