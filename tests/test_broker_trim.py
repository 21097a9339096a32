"""trim_expired: finished records past their retention are deleted even when nothing
else finishes in their queue (completing and dead-lettering trim only as they go)."""

from taskqueue import client, conf

from .factories import NOW, fail, make_task, start

HOUR = 3_600_000


def test_an_idle_queue_is_trimmed_after_the_ttls(broker, redis_client, settings):
    settings.TASKQUEUE = settings.TASKQUEUE | {"RESULT_TTL": 60, "DEAD_TTL": 120}
    conf.reset_config()
    client.reset()
    broker = client.get_broker()
    done, attempt = start(broker, make_task())
    broker.complete("default", [(done, attempt, "1")], now=NOW)
    dead, attempt = start(broker, make_task(max_retries=0))
    fail(broker, dead, attempt, delay=None)
    keys = broker.keys.queue("default")

    assert broker.trim("default", now=NOW + 59_000) == (0, 0, 0)
    assert broker.trim("default", now=NOW + 61_000) == (1, 0, 0)
    assert not redis_client.exists(keys.task(done))
    assert redis_client.zscore(keys.index, done) is None
    assert broker.trim("default", now=NOW + 121_000) == (0, 0, 1)
    assert not redis_client.exists(keys.task(dead))
    assert redis_client.zcard(keys.dead) == 0 and redis_client.hlen(keys.errors) == 0
    assert redis_client.hget(keys.stats, "dead_trimmed") == "1"
    assert broker.trim("default", now=NOW + HOUR) == (0, 0, 0)


def test_dead_letters_beyond_the_cap_are_trimmed_oldest_first(broker, redis_client, settings):
    settings.TASKQUEUE = settings.TASKQUEUE | {"DEAD_MAX": 2}
    conf.reset_config()
    client.reset()
    broker = client.get_broker()
    ids = []
    for i in range(3):
        task_id, attempt = start(broker, make_task(max_retries=0), now=NOW + i)
        fail(broker, task_id, attempt, delay=None, now=NOW + i)
        ids.append(task_id)
    keys = broker.keys.queue("default")
    assert redis_client.zrange(keys.dead, 0, -1) == ids[1:]  # trimmed as the third died
    assert broker.trim("default", now=NOW + 10) == (0, 0, 0)
