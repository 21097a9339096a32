"""Rate and concurrency limits held by real worker processes (`manage.py runworker`),
for all of them together (docs/flow-control.md)."""

from taskqueue.limits import Rate
from tests.support.runs import most_at_once, most_in_a_window
from tests.support.waits import wait_for
from tests.taskapp.limit_tasks import flow_fragile, flow_free, flow_hang, flow_limited


def test_a_rate_limit_holds_for_two_workers_while_other_tasks_flow(spawn_worker, runs):
    limited = [flow_limited.enqueue(f"l{i}") for i in range(30)]
    free = [flow_free.enqueue(f"f{i}") for i in range(10)]
    for _ in range(2):
        spawn_worker("--queues", "flow", "--concurrency", "4")
    for h in limited + free:
        h.result(timeout=30)
    assert len([n for n in runs("limited") if n[0] == "start"]) == 30
    # the claims are what the limit spaces out (a body starts a moment after its claim)
    starts = sorted(h.record().started_at.timestamp() for h in limited)
    assert most_in_a_window(starts) <= 20 + 1  # limit + burst
    assert starts[-1] - starts[0] >= 29 / 20 - 0.05  # 20/s: 30 starts take ~1.45 s
    free_ends = [at for edge, _, _, at in runs("free") if edge == "end"]
    last_limited = max(at for edge, _, _, at in runs("limited") if edge == "start")
    assert max(free_ends) < last_limited  # the unlimited tasks did not wait for the limited


def test_a_concurrency_limit_holds_across_workers(spawn_worker, runs):
    handles = [flow_fragile.enqueue(f"c{i}", 0.3) for i in range(8)]
    for _ in range(2):
        spawn_worker("--queues", "flow", "--concurrency", "4")
    for h in handles:
        h.result(timeout=30)
    assert most_at_once(runs("fragile")) == 2


def test_a_limit_changed_at_run_time_takes_effect_within_a_second(broker, spawn_worker, runs):
    handles = [flow_limited.enqueue(f"r{i}") for i in range(200)]  # 10 s at 20/s
    spawn_worker("--queues", "flow", "--concurrency", "8")
    wait_for(lambda: len(runs("limited")) >= 4, 15, "the first limited tasks")
    broker.set_limit("flow", flow_limited.name, rate=Rate(1000, 1000))
    changed = wait_for(lambda: runs("limited")[-1][3], 5, "a run after the change")
    for h in handles:
        h.result(timeout=5)  # 200 at 1,000/s: well within 5 s
    assert broker.limits("flow").tasks[flow_limited.name].rate == Rate(1000, 1000)
    assert changed


def test_a_killed_workers_slot_frees_when_its_lease_expires_and_not_before(
    broker, spawn_worker, runs
):
    doomed = spawn_worker("--queues", "flow", lease=2.0)
    first = flow_hang.enqueue("h1", 60)
    wait_for(lambda: [n for n in runs("hang") if n[0] == "start"], 15, "h1 to start")
    second = flow_hang.enqueue("h2")
    doomed.kill()
    doomed.wait(10)
    # the last renewal the dead worker made: its slot is held until then
    lease_until = first.record().lease_until.timestamp()
    spawn_worker("--queues", "flow", lease=2.0)
    second.result(timeout=30)
    h2_start = next(at for edge, _, tag, at in runs("hang") if edge == "start" and tag == "h2")
    assert h2_start >= lease_until
    assert h2_start < lease_until + 10  # reaped and taken soon after, not forgotten
