"""Tenants at the broker, on the session's real Redis with a fixed clock: fair places in
line, backlog counts and quotas (docs/flow-control.md#tenants)."""

import pytest

from taskqueue.errors import QuotaExceeded
from taskqueue.limits import Limit
from tests.factories import enqueue, make_task

NOW = 1_800_000_000_000


def claim(broker, n=100):
    return [c.id for c in broker.claim("default", "w1", n, now=NOW)]


def tenants_of(broker, ids):
    return [broker.get("default", i).tenant for i in ids]


def test_tenants_take_turns_whatever_their_backlogs(broker):
    enqueue(broker, *[make_task(tenant="big") for _ in range(1000)])
    assert tenants_of(broker, claim(broker, 10)) == ["big"] * 10
    enqueue(broker, *[make_task(tenant="small") for _ in range(3)])
    enqueue(broker, *[make_task(tenant="other") for _ in range(2)])
    got = tenants_of(broker, claim(broker, 9))
    assert sorted(got[:3]) == ["big", "other", "small"]  # one turn each
    assert got.count("small") == 3 and got.count("other") == 2


def test_a_small_burst_goes_ahead_of_the_next_turn_of_a_flood(broker):
    flood = enqueue(broker, *[make_task(tenant="big") for _ in range(1000)])
    assert tenants_of(broker, claim(broker, 100)) == ["big"] * 100
    burst = enqueue(broker, *[make_task(tenant="small") for _ in range(50)])
    got = claim(broker, 51)
    assert [i for i in got if i in burst] == burst  # all 50, in order
    assert tenants_of(broker, got).count("big") == 1  # the turn that was due
    rest = claim(broker, 1000)
    assert [i for i in rest if i in flood] == flood[101:]  # FIFO within the flood


def test_a_tenant_past_the_small_backlog_takes_turns_one_by_one(broker):
    enqueue(broker, *[make_task(tenant="big") for _ in range(1000)])
    claim(broker, 100)
    enqueue(broker, *[make_task(tenant="medium") for _ in range(300)])
    got = tenants_of(broker, claim(broker, 300))
    # its first 100 go at once (a small backlog), then it shares turns equally
    assert got[:101].count("medium") == 100
    assert abs(got[101:].count("medium") - got[101:].count("big")) <= 1


def test_floods_share_equally(broker):
    enqueue(broker, *[make_task(tenant="a") for _ in range(1000)])
    enqueue(broker, *[make_task(tenant="b") for _ in range(1000)])
    got = tenants_of(broker, claim(broker, 400))
    assert got.count("a") == got.count("b") == 200


def test_fifo_holds_within_a_tenant(broker):
    ids = enqueue(broker, *[make_task(tenant="t") for _ in range(5)])
    enqueue(broker, *[make_task(tenant="u") for _ in range(5)])
    assert [i for i in claim(broker) if i in ids] == ids


def test_priority_comes_before_fairness(broker):
    enqueue(broker, *[make_task(tenant="big") for _ in range(50)])
    (urgent,) = enqueue(broker, make_task(tenant="big", priority=9))
    (small,) = enqueue(broker, make_task(tenant="small"))
    got = claim(broker, 3)
    assert got[0] == urgent and small in got[1:3]


def test_tasks_without_a_tenant_keep_their_line_when_tenants_arrive(broker):
    plain = enqueue(broker, *[make_task() for _ in range(3)])
    (tenanted,) = enqueue(broker, make_task(tenant="t"))
    later = enqueue(broker, make_task())
    got = claim(broker)
    assert [i for i in got if i in plain] == plain  # the old line in order
    assert got.index(plain[0]) < got.index(later[0])
    assert tenanted in got[:2]  # its first turn comes at once, not after the line


def test_a_queue_without_tenants_keeps_the_plain_counter(broker, redis_client):
    ids = enqueue(broker, *[make_task() for _ in range(3)])
    q = broker.keys.queue("default")
    assert redis_client.exists(q.fair) == 0
    assert [int(redis_client.hget(q.task(i), "seq")) for i in ids] == [1, 2, 3]


def test_the_backlog_counts_every_unfinished_task_of_a_tenant(broker):
    a, b, c, _ = enqueue(broker, *[make_task(tenant="t") for _ in range(4)])
    claimed = broker.claim("default", "w1", 2, now=NOW)  # a and b: still unfinished
    enqueue(broker, make_task(tenant="u"), make_task())
    assert broker.tenant_backlogs("default").top == [("t", 4), ("u", 1)]
    assert [t.id for t in claimed] == [a, b]
    broker.complete("default", [(a, claimed[0].attempt, "1")])
    broker.cancel("default", c)
    broker.delete("default", [c])  # already out: not counted twice
    assert broker.tenant_backlogs("default").top == [("t", 2), ("u", 1)]
    broker.purge_pending("default")
    assert dict(broker.tenant_backlogs("default").top) == {"t": 1}  # b, processing


def test_a_tenant_quota_refuses_the_enqueue_and_writes_nothing(broker):
    broker.declare_limits("default", Limit(tenant_backlog=3), [])
    enqueue(broker, *[make_task(tenant="t") for _ in range(3)])
    with pytest.raises(QuotaExceeded) as refused:
        enqueue(broker, make_task(tenant="t"), make_task(tenant="u"))
    assert (refused.value.tenant, refused.value.backlog, refused.value.maximum) == ("t", 3, 3)
    assert broker.counts("default").pending == 3
    enqueue(broker, make_task(tenant="u"))  # another tenant is not refused


def test_a_queue_quota_counts_all_unfinished_tasks(broker):
    broker.declare_limits("default", Limit(max_backlog=2), [])
    enqueue(broker, make_task(), make_task(tenant="t"))
    with pytest.raises(QuotaExceeded, match=r"queue 'default'.* 2 unfinished"):
        enqueue(broker, make_task())
    broker.set_quota("default", max_backlog=None)  # the operator lifts it
    enqueue(broker, make_task())


def test_the_same_enqueue_sent_again_is_not_refused_by_a_quota(broker):
    broker.declare_limits("default", Limit(max_backlog=1), [])
    task = make_task(task_id="resent")
    enqueue(broker, task)
    assert enqueue(broker, task) == ["resent"]  # the existing task, not a refusal


def test_each_tenant_has_its_own_concurrency_limit_and_others_are_not_slowed(broker):
    broker.declare_limits("default", Limit(per_tenant=Limit(concurrency=1)), [])
    big = enqueue(broker, *[make_task(tenant="big") for _ in range(5)])
    small = enqueue(broker, *[make_task(tenant="small") for _ in range(2)])
    plain = enqueue(broker, make_task())
    got = claim(broker)
    assert sorted(got) == sorted([big[0], small[0], *plain])  # one each, no tenant: any
    assert claim(broker) == []  # both tenants at their limit; passed over, not held
    assert broker.counts("default").pending == 5
    first = broker.get("default", big[0])
    broker.complete("default", [(big[0], first.attempts, "1")])
    assert claim(broker) == [big[1]]


def test_each_tenant_has_its_own_rate_and_one_tenant_may_have_another(broker):
    from taskqueue.limits import Rate

    broker.declare_limits("default", Limit(per_tenant=Limit(rate=Rate(10, 1000))), [])
    broker.set_limit("default", tenant="vip", rate=Rate(1000, 1000, 5))
    enqueue(broker, *[make_task(tenant="std") for _ in range(3)])
    enqueue(broker, *[make_task(tenant="vip") for _ in range(3)])
    got = broker.claim("default", "w1", 100, now=NOW)
    assert sorted(tenants_of(broker, [c.id for c in got])) == ["std", "vip", "vip", "vip"]
    assert got.next_permit == 100  # std's next permit: 10/s
    later = broker.claim("default", "w1", 100, now=NOW + 100)
    assert tenants_of(broker, [c.id for c in later]) == ["std"]
    limits = broker.limits("default")
    assert set(limits.tenants) == {"*", "vip"}
