"""The queues' history (docs/redis-keys.md#history, docs/console.md#charts): the scripts
write minute and hour buckets (completed / failed counts, wait and runtime histograms)
with TTLs and a bounded number of fields, in the same call as the change they count;
the broker reads them back; taskqueue.history computes percentiles from them.

Broker tests run on the session's private redis-server and pass `now` (epoch ms)."""

import re
from pathlib import Path

import pytest

from taskqueue import history as hist
from taskqueue import inspect
from taskqueue.broker import WAIT_BUCKETS, BucketCounts
from taskqueue.runtime import BUCKETS as RUNTIME_BUCKETS
from taskqueue.runtime import bucket_of
from tests.factories import LEASE, NOW, enqueue, fail, make_task, start
from tests.support.tasks import add
from tests.support.workers import run_burst

ROOT = Path(__file__).resolve().parents[1]
MINUTE = NOW // 60_000
HOUR = NOW // 3_600_000
MINUTE_TTL, HOUR_TTL = 7200, 8 * 86400


def keys(broker, queue="default"):
    return broker.keys.queue(queue)


def ttl_of(redis_client, key) -> int:
    return redis_client.ttl(key)


def ran(seconds: float, times: int = 1) -> BucketCounts:
    """What `times` attempts of `seconds` add to their task's runtime histogram."""
    one = BucketCounts.observation(bucket_of(seconds), int(seconds * 1000))
    return sum([one] * times, BucketCounts())


def histogram(counts: dict[int, int], size: int, **sums) -> BucketCounts:
    """Bucket index -> n, as `size` buckets (as the broker reads them back)."""
    return BucketCounts(tuple(counts.get(i, 0) for i in range(size)), **sums)


WAITS, RUNTIMES = len(WAIT_BUCKETS) + 1, len(RUNTIME_BUCKETS) + 1


# -- written by the scripts ----------------------------------------------------------


def test_completions_count_in_this_minute_and_this_hour_with_their_ttls(broker, redis_client):
    done = []
    for _ in range(3):
        task_id, attempt = start(broker, make_task())
        done.append((task_id, attempt, "null"))
    broker.complete("default", done, now=NOW + 5)
    q = keys(broker)
    assert redis_client.hgetall(q.minute(MINUTE)) == {"completed": "3"}
    assert redis_client.hgetall(q.hour(HOUR)) == {"completed": "3"}
    assert 0 < ttl_of(redis_client, q.minute(MINUTE)) <= MINUTE_TTL
    assert HOUR_TTL - 60 < ttl_of(redis_client, q.hour(HOUR)) <= HOUR_TTL


def test_failures_count_in_this_hour_too(broker, redis_client):
    task_id, attempt = start(broker, make_task())
    fail(broker, task_id, attempt, now=NOW + 10)
    assert redis_client.hgetall(keys(broker).hour(HOUR)) == {"failed": "1"}


def test_a_claim_adds_each_tasks_wait_to_this_minutes_and_hours_wait_histogram(
    broker, redis_client
):
    enqueue(broker, make_task(), make_task(), now=NOW)
    enqueue(broker, make_task(), now=NOW + 1_000)  # 1,000 ms later: waits less
    claimed = broker.claim("default", "w1", 3, lease_ms=LEASE, now=NOW + 1_300)
    assert len(claimed) == 3
    q = keys(broker)
    # 1,300 ms: the bucket of 2.5 s (b8); 300 ms: the bucket of 0.5 s (b6)
    expected = {"b8": "2", "b6": "1"}
    assert redis_client.hgetall(q.wait_minute(MINUTE)) == expected
    assert redis_client.hgetall(q.wait_hour(HOUR)) == expected
    assert 0 < ttl_of(redis_client, q.wait_minute(MINUTE)) <= MINUTE_TTL
    assert HOUR_TTL - 60 < ttl_of(redis_client, q.wait_hour(HOUR)) <= HOUR_TTL


def test_the_wait_of_a_delayed_task_counts_from_when_it_was_due(broker, redis_client):
    enqueue(broker, make_task(delay_ms=60_000), now=NOW - 60_000)  # due at NOW
    broker.promote("default", now=NOW)
    broker.claim("default", "w1", 1, lease_ms=LEASE, now=NOW + 40)
    assert redis_client.hgetall(keys(broker).wait_minute(MINUTE)) == {"b3": "1"}  # not 60 s


def test_a_wait_beyond_the_last_bound_counts_in_the_open_bucket(broker, redis_client):
    enqueue(broker, make_task(), now=NOW - 2 * 3_600_000)
    broker.claim("default", "w1", 1, lease_ms=LEASE, now=NOW)
    assert redis_client.hgetall(keys(broker).wait_minute(MINUTE)) == {"b16": "1"}


def test_an_empty_claim_writes_no_history(broker, redis_client):
    assert broker.claim("default", "w1", 5, lease_ms=LEASE, now=NOW) == []
    q = keys(broker)
    assert not redis_client.exists(q.wait_minute(MINUTE), q.wait_hour(HOUR))


def test_runtimes_flushed_by_a_worker_count_in_this_minute_and_hour_as_well(broker, redis_client):
    counts = {"app.report": ran(0.003) + ran(0.2, 2) + ran(7.0)}
    assert broker.record_runtimes("default", counts, now=NOW) == 5
    q = keys(broker)
    expected = {
        "app.report|b0": "1",
        "app.report|b5": "2",
        "app.report|b10": "1",
        "app.report|sum_ms": str(3 + 200 + 200 + 7000),
        "app.report|count": "4",
    }
    assert redis_client.hgetall(q.runtime_minute(MINUTE)) == expected
    assert redis_client.hgetall(q.runtime_hour(HOUR)) == expected
    assert redis_client.hgetall(q.runtime) == expected  # the lifetime histogram as before
    assert 0 < ttl_of(redis_client, q.runtime_minute(MINUTE)) <= MINUTE_TTL
    assert HOUR_TTL - 60 < ttl_of(redis_client, q.runtime_hour(HOUR)) <= HOUR_TTL


def test_history_keys_stay_bounded_in_fields_and_all_expire(broker, redis_client):
    """A day of traffic, one claim and completion every 7 minutes with waits of every
    size: each wait bucket holds at most its 17 histogram buckets' fields, and every
    history key carries a TTL no longer than its bound."""
    for step in range(24 * 60 // 7):
        now = NOW + step * 7 * 60_000
        enqueue(broker, make_task(), now=now - (step * 997_001) % 7_200_000)
        (c,) = broker.claim("default", "w1", 1, lease_ms=LEASE, now=now)
        broker.complete("default", [(c.id, c.attempt, "null")], now=now + 1)
    q = keys(broker)
    found = list(redis_client.scan_iter(match=q.base.replace("{", "[{]") + "*", count=1000))
    wait = [k for k in found if ":wait:" in k]
    hours = [k for k in found if ":h:" in k and ":wait:" not in k and ":rt:" not in k]
    assert len(hours) == 24 and len(wait) > 24
    for key in wait:
        assert redis_client.hlen(key) <= len(WAIT_BUCKETS) + 1
    for key in wait + hours:
        bound = MINUTE_TTL if ":m:" in key else HOUR_TTL
        assert 0 < redis_client.ttl(key) <= bound, key


def test_a_history_key_of_the_wrong_type_does_not_stop_a_claim_or_a_completion(
    broker, redis_client
):
    q = keys(broker)
    redis_client.set(q.wait_minute(MINUTE), "garbage")
    redis_client.set(q.hour(HOUR), "garbage")
    redis_client.hset(q.wait_hour(HOUR), "b0", "not a number")
    task_id, attempt = start(broker, make_task())
    assert broker.complete("default", [(task_id, attempt, "null")], now=NOW)[0]
    assert redis_client.get(q.wait_minute(MINUTE)) == "garbage"  # left as it was
    assert redis_client.hget(q.wait_hour(HOUR), "b0") == "1"  # restarted
    assert redis_client.hget(q.minute(MINUTE), "completed") == "1"
    assert broker.counts("default").stats.quarantined == 0


# -- read back by the broker --------------------------------------------------------


def test_the_broker_reads_minutes_and_hours_back_oldest_first(broker):
    enqueue(broker, make_task(), now=NOW - 120_000)
    (c,) = broker.claim("default", "w1", 1, lease_ms=LEASE, now=NOW - 60_000)
    broker.complete("default", [(c.id, c.attempt, "null")], now=NOW - 60_000)
    broker.record_runtimes("default", {"t": histogram({3: 1}, 4, count=1)}, now=NOW)
    minutes = broker.history("default", 3, hourly=False, now_ms=NOW)
    assert [b.start_ms for b in minutes] == [(MINUTE - 2 + i) * 60_000 for i in range(3)]
    assert [b.completed for b in minutes] == [0, 1, 0]
    assert minutes[1].waits == histogram({12: 1}, WAITS)
    assert minutes[2].runtimes == {"t": histogram({3: 1}, RUNTIMES, count=1)}
    before, this = broker.history("default", 2, hourly=True, now_ms=NOW)  # NOW starts an hour
    assert (before.start_ms, this.start_ms) == ((HOUR - 1) * 3_600_000, HOUR * 3_600_000)
    assert (before.completed, this.completed) == (1, 0)
    assert this.runtimes == minutes[2].runtimes and not before.runtimes


def test_a_read_of_more_buckets_than_are_kept_is_refused(broker):
    with pytest.raises(ValueError, match="buckets must be"):
        broker.history("default", 24 * 8 + 1, hourly=True)
    with pytest.raises(ValueError, match="buckets must be"):
        broker.history("default", 0, hourly=False)


def test_history_keys_of_the_wrong_type_read_as_nothing(broker, redis_client):
    redis_client.set(keys(broker).hour(HOUR), "garbage")
    redis_client.hset(keys(broker).wait_hour(HOUR), mapping={"b1": "x", "b2": "2"})
    (hour,) = broker.history("default", 1, hourly=True, now_ms=NOW)
    assert hour.completed == 0 and hour.waits == histogram({2: 2}, WAITS)


def test_fields_that_are_none_of_a_histograms_own_are_ignored(broker, redis_client):
    q = keys(broker)
    redis_client.hset(q.wait_hour(HOUR), mapping={"b2": 2, "b17": 5, "b02": 7, "sum": 1})
    redis_client.hset(q.runtime_hour(HOUR), mapping={"t|b1": 1, "t|b15": 4, "u|bogus": 1})
    (hour,) = broker.history("default", 1, hourly=True, now_ms=NOW)
    assert hour.waits == histogram({2: 2}, WAITS)
    assert hour.runtimes == {"t": histogram({1: 1}, RUNTIMES), "u": histogram({}, RUNTIMES)}


def test_histograms_add_up_bucket_by_bucket_with_a_sum_where_one_was_kept():
    short, timed = BucketCounts((1, 2)), BucketCounts((0, 1, 0, 4), sum_ms=10, count=5)
    assert short + timed == BucketCounts((1, 3, 0, 4), sum_ms=10, count=5)
    assert (short + short).sum_ms is None
    assert sum([timed, timed], BucketCounts()) == BucketCounts((0, 2, 0, 8), sum_ms=20, count=10)


# -- percentiles (taskqueue/history.py) ---------------------------------------------


def test_a_percentile_interpolates_inside_the_bucket_where_its_rank_falls():
    bounds = (1.0, 2.0, 4.0)
    # 10 at most 1 s, 10 in (1, 2], 0 in (2, 4], 0 above
    assert hist.percentile(bounds, [10, 10, 0, 0], 0.5) == 1.0
    assert hist.percentile(bounds, [10, 10, 0, 0], 0.75) == 1.5
    assert hist.percentile(bounds, [10, 10, 0, 0], 0.95) == pytest.approx(1.9)
    assert hist.percentile(bounds, [0, 0, 4, 0], 0.5) == 3.0
    assert hist.percentile(bounds, [0, 0, 0, 0], 0.5) is None
    assert hist.percentile(bounds, [1, 0, 0, 9], 0.95) == 4.0  # open bucket: its lower bound


def test_percentiles_of_a_histogram_as_the_scripts_store_it():
    waits = histogram({5: 50, 6: 50}, WAITS)  # 50 in (0.1, 0.25], 50 in (0.25, 0.5]
    p = hist.percentiles(WAIT_BUCKETS, waits)
    assert p.count == 100 and p.mean is None  # the wait histograms keep no sum
    timed = hist.percentiles(RUNTIME_BUCKETS, histogram({5: 2}, RUNTIMES, sum_ms=300))
    assert timed.count == 2 and timed.mean == pytest.approx(0.15)
    assert p.p50 == pytest.approx(0.25)
    assert p.p95 == pytest.approx(0.25 + 0.25 * 45 / 50)
    assert not p.above
    late = hist.percentiles(WAIT_BUCKETS, histogram({16: 10, 0: 1}, WAITS))
    assert late.p95 == 3600.0 and late.above
    assert hist.percentiles(WAIT_BUCKETS, histogram({2: -5}, WAITS, sum_ms=3)) == hist.EMPTY


def test_runtime_percentiles_per_task_over_each_span(broker):
    """Runtimes flushed now, 2 hours ago and 3 days ago: the hour sees the first, 24 h
    the first two, 7 days all three."""

    def flush(task, seconds, n, now):
        broker.record_runtimes("default", {task: ran(seconds, n)}, now=now)

    flush("app.fast", 0.02, 19, NOW)
    flush("app.fast", 0.02, 1, NOW - 2 * 3_600_000)
    flush("app.slow", 20.0, 5, NOW - 3 * 86_400_000)
    assert len(inspect.history(["default"], "1h").points) == 60  # on Redis's clock
    spans = {key: hist.history(["default"], hist.SPANS[key], now_ms=NOW) for key in hist.SPANS}
    counts = {k: {(r.task): r.runtime.count for r in h.runtimes} for k, h in spans.items()}
    assert counts == {
        "1h": {"app.fast": 19},
        "24h": {"app.fast": 20},
        "7d": {"app.fast": 20, "app.slow": 5},
    }
    fast = spans["7d"].runtimes[0].runtime
    # every attempt in (0.01, 0.025]: p50 and p95 interpolate inside it
    assert fast.p50 == pytest.approx(0.01 + 0.015 * 0.5)
    assert fast.p95 == pytest.approx(0.01 + 0.015 * 0.95)
    slow = spans["7d"].runtimes[1].runtime
    assert RUNTIME_BUCKETS[10] < slow.p50 <= RUNTIME_BUCKETS[11]
    assert slow.mean == pytest.approx(20.0)


def test_a_history_has_one_point_per_bucket_and_adds_the_queues_up(broker, tq_settings):
    for queue in ("default", "mail"):
        enqueue(broker, make_task(queue), now=NOW - 500)
        (c,) = broker.claim(queue, "w1", 1, lease_ms=LEASE, now=NOW)
        broker.complete(queue, [(c.id, c.attempt, "null")], now=NOW)
    spans = {k: hist.history(["default", "mail"], s, now_ms=NOW) for k, s in hist.SPANS.items()}
    assert {k: len(h.points) for k, h in spans.items()} == {"1h": 60, "24h": 24, "7d": 168}
    for h in spans.values():
        assert h.points[-1].completed == 2 and h.completed == 2 and h.failed == 0
        assert h.points[-1].start.timestamp() * 1000 <= NOW
        assert set(h.waits) == {"default", "mail"}
        assert h.wait.count == 2 and h.waits["mail"].count == 1
        assert h.wait.p50 == pytest.approx(0.375)  # two waits of 500 ms: in (0.25, 0.5]


@pytest.mark.parametrize("span", ["1h", "24h", "7d", "", "bogus", None, 7, "1H", "x" * 10_000])
def test_a_span_that_is_not_offered_reads_as_the_last_hour(span):
    expected = span if span in ("1h", "24h", "7d") else "1h"
    assert hist.check_span(span).key == expected


# -- end to end -------------------------------------------------------------------------


def test_a_workers_tasks_show_in_the_history_with_their_waits_and_runtimes(broker):
    """An in-process worker runs 5 tasks until the queue is empty: the last hour counts
    them completed, their waits and (flushed when it stops) their runtimes."""
    for i in range(5):
        add.enqueue(i, 1)
    run_burst()
    h = inspect.history(["default"], "1h")
    assert h.completed == 5 and h.failed == 0
    assert h.waits["default"].count == 5 and h.wait.p95 is not None
    (row,) = h.runtimes
    assert (row.queue, row.task, row.runtime.count) == ("default", add.name, 5)
    assert 0 <= row.runtime.p50 <= row.runtime.p95 <= RUNTIME_BUCKETS[-1]


def test_the_scripts_and_the_reads_use_the_same_wait_buckets():
    common = (ROOT / "taskqueue/broker/lua/includes/common.lua").read_text()
    found = re.search(r"local WAIT_BOUNDS = \{([^}]*)\}", common).group(1)
    assert [int(n) for n in found.replace("\n", " ").split(",")] == [
        round(s * 1000) for s in WAIT_BUCKETS
    ]


@pytest.mark.parametrize(
    ("run_at", "bucket"),
    [("garbage", None), ("", None), ("nan", "b0"), ("inf", "b0"), ("-inf", "b16"),
     ("1e300", "b0"), (str(NOW + 60_000), "b0"), ("0x10", "b16")],
)  # fmt: skip
def test_a_hostile_ready_time_neither_stops_the_claim_nor_leaves_the_histogram(
    broker, redis_client, run_at, bucket
):
    (task_id,) = enqueue(broker, make_task(), now=NOW)
    redis_client.hset(keys(broker).task(task_id), "run_at", run_at)
    (c,) = broker.claim("default", "w1", 1, lease_ms=LEASE, now=NOW)
    assert c.id == task_id
    found = redis_client.hgetall(keys(broker).wait_minute(MINUTE))
    assert found == ({bucket: "1"} if bucket else {})
