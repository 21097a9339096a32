def test_enqueue_then_claim_round_trip(broker):
    from taskqueue.records import NewTask

    t = NewTask(
        id="a",
        name="n",
        queue="default",
        args="[]",
        kwargs="{}",
        priority=5,
        band=100,
        max_retries=3,
        timeout=None,
    )
    assert broker.enqueue([t]) == [("a", True)]
    claimed = broker.claim("default", "w1", 10)
    assert [c.id for c in claimed] == ["a"]
    assert broker.complete("default", [("a", 1, "42")]) == [True]
    assert broker.get("default", "a").result == 42
