"""The oracle: after the drain, compare what the producer was told, what the task
bodies wrote in the ledger and what Redis holds.

- lost:        acknowledged, never finished (no successful end in the ledger: a task
               Redis calls completed that never ran is lost too, see
               `completed_unrun`) and not in the dead-letter queue. Must be 0. The
               tasks must be ledger-writing ones (tests/taskapp/fault_tasks.py).
- phantom:     finished per the ledger, but never enqueued by the producer (acked or
               ambiguous).
- duplicates:  ids that ran to a successful end more than once (`completions` counts
               every successful end; `extra_completions` the ones beyond the first).
- overlaps:    two attempts of one id running at the same time (ledger times) where the
               earlier attempt's lease had not expired: its history entry `h:<n>`
               (`worker|started|ended|outcome`, Redis's clock) must say the reaper took
               it ('lost'), no sooner than a whole lease after its claim.
- early_reclaims: any attempt reaped ('lost') less than a lease after it was claimed.
- stale_completions: a record completed as attempt n before attempt n's body had ended
               (per the ledger): the completion came from another, stale attempt -
               fencing failed.
- inconsistencies: an id in a state set without a record, a record in no state set or
               in two, a status that does not match its set, the index out of step,
               anything left in `active` / `pending`, keys outside the prefix that were
               not there at the start.

    drain = wait_drained(r, prefix, producer, ledger, timeout=60)
    report = check(r, prefix, producer, ledger, lease=2.0)
    report.assert_clean()            # or, in a broken twin: assert report.lost
"""

import time
from collections import defaultdict
from dataclasses import dataclass, field

import redis

from .ledger import Ledger

STATE_SETS = {
    "pending": "pending",
    "scheduled": "scheduled",
    "active": "processing",
    "completed": "completed",
    "cancelled": "cancelled",
    "dead": "dead",
}
TOLERANCE_MS = 250  # clock granularity between the ledger (time.time) and Redis TIME


@dataclass
class Report:
    acked: int = 0
    ambiguous: int = 0
    finished: int = 0  # acked ids that finished (a successful end in the ledger)
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # id -> successful ends (> 1)
    completions: int = 0  # successful ends in the ledger
    starts: int = 0  # start records in the ledger
    redis_completed: int = 0
    completed_unrun: list[str] = field(default_factory=list)  # completed, no ledger end
    dead: dict[str, str] = field(default_factory=dict)  # id -> dead_reason
    overlaps: list[str] = field(default_factory=list)
    justified_overlaps: list[str] = field(default_factory=list)  # lease had expired: fine
    early_reclaims: list[str] = field(default_factory=list)
    stale_completions: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)
    records: dict[str, dict] = field(default_factory=dict)  # id -> Redis record (HGETALL)

    @property
    def extra_completions(self) -> int:
        return sum(n - 1 for n in self.duplicates.values())

    def summary(self) -> str:
        def few(items) -> str:
            items = list(items)
            return "" if not items else f" e.g. {items[:3]}"

        return "\n".join(
            [
                f"acked {self.acked}, ambiguous {self.ambiguous}, finished {self.finished}, "
                f"dead {len(self.dead)}, ledger starts {self.starts}, "
                f"completions {self.completions}, completed in Redis {self.redis_completed}",
                f"lost {len(self.lost)}{few(self.lost)} (completed in Redis without "
                f"running: {len(self.completed_unrun)})",
                f"phantom {len(self.phantom)}{few(self.phantom)}",
                f"duplicated ids {len(self.duplicates)} (extra completions "
                f"{self.extra_completions}){few(self.duplicates.items())}",
                f"overlaps {len(self.overlaps)}{few(self.overlaps)} "
                f"(justified: {len(self.justified_overlaps)})",
                f"early reclaims {len(self.early_reclaims)}{few(self.early_reclaims)}",
                f"stale completions {len(self.stale_completions)}{few(self.stale_completions)}",
                f"inconsistencies {len(self.inconsistencies)}{few(self.inconsistencies)}",
            ]
        )

    def problems(self, max_duplicates: int = 0) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} lost")
        if self.phantom:
            found.append(f"{len(self.phantom)} phantom")
        if self.extra_completions > max_duplicates:
            found.append(f"{self.extra_completions} extra completions (> {max_duplicates})")
        if self.overlaps:
            found.append(f"{len(self.overlaps)} overlaps")
        if self.early_reclaims:
            found.append(f"{len(self.early_reclaims)} early reclaims")
        if self.stale_completions:
            found.append(f"{len(self.stale_completions)} stale completions")
        if self.inconsistencies:
            found.append(f"{len(self.inconsistencies)} inconsistencies")
        return found

    def assert_clean(self, max_duplicates: int = 0) -> "Report":
        found = self.problems(max_duplicates)
        if found:
            raise AssertionError(f"oracle: {', '.join(found)}\n{self.summary()}")
        return self


# -- reading Redis ------------------------------------------------------------------------


def queues_of(r: redis.Redis, prefix: str, producer=None) -> list[str]:
    """The queues to check: those the producer sent tasks to, else every known queue.
    (Other queues may hold tasks nobody in the test asked for: e.g. the demo app's
    periodic task, which any worker enqueues to queue `low` once a minute.)"""
    used = getattr(producer, "queues", None)
    return sorted(used) if used else sorted(r.smembers(f"{prefix}:queues"))


def _base(prefix: str, queue: str) -> str:
    return f"{prefix}:{{{queue}}}:"


def state_sets(r: redis.Redis, prefix: str, queue: str) -> dict[str, dict[str, float]]:
    base = _base(prefix, queue)
    with r.pipeline(transaction=False) as pipe:
        for name in (*STATE_SETS, "index"):
            pipe.zrange(base + name, 0, -1, withscores=True)
        replies = pipe.execute()
    return {name: dict(reply) for name, reply in zip((*STATE_SETS, "index"), replies, strict=True)}


def records(r: redis.Redis, prefix: str, queue: str) -> dict[str, dict]:
    base = _base(prefix, queue) + "task:"
    keys = list(r.scan_iter(match=base.replace("{", "\\{").replace("}", "\\}") + "*", count=2000))
    out = {}
    for i in range(0, len(keys), 1000):
        chunk = keys[i : i + 1000]
        with r.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.hgetall(key)
            for key, rec in zip(chunk, pipe.execute(), strict=True):
                out[key[len(base) :]] = rec
    return out


def history(record: dict) -> dict[int, tuple]:
    """attempt -> (worker, started ms, ended ms or None, outcome or None)."""
    out = {}
    for name, value in record.items():
        if not name.startswith("h:"):
            continue
        parts = value.split("|")
        try:
            n = int(name[2:])
            started = int(parts[1])
            ended = int(parts[2]) if len(parts) > 2 and parts[2] else None
        except (ValueError, IndexError):
            out[name] = (value, None, None, "malformed")
            continue
        out[n] = (parts[0], started, ended, parts[3] if len(parts) > 3 else None)
    return out


# -- the check ------------------------------------------------------------------------------


def check(
    r: redis.Redis,
    prefix: str,
    producer,
    ledger: Ledger,
    *,
    lease: float | None = 30.0,
    baseline_keys: set[str] | frozenset = frozenset(),
    extra_ids: set[str] | frozenset = frozenset(),
) -> Report:
    """Everything the module docstring lists. `lease` (seconds) judges overlaps and early
    reclaims (None: skip the lease-length part); `extra_ids` are tasks enqueued by other
    means (not phantom)."""
    rep = Report(acked=len(producer.acked_ids), ambiguous=len(producer.ambiguous_ids))
    sets_by_id: dict[str, list[str]] = defaultdict(list)
    for queue in queues_of(r, prefix, producer):
        sets = state_sets(r, prefix, queue)
        recs = records(r, prefix, queue)
        rep.records.update(recs)
        _consistency(rep, queue, sets, recs, sets_by_id)
    _outside_keys(rep, r, prefix, baseline_keys)
    runs = ledger.runs()
    completions = ledger.completions()
    rep.completions = sum(completions.values())
    rep.starts = sum(len(v) for v in runs.values())
    rep.duplicates = {i: n for i, n in completions.items() if n > 1}
    for task_id, rec in rep.records.items():
        if rec.get("status") == "dead" or "dead" in sets_by_id.get(task_id, ()):
            rep.dead[task_id] = rec.get("dead_reason", "")
        if rec.get("status") == "completed":
            rep.redis_completed += 1
    finished = {i for i, n in completions.items() if n}
    rep.completed_unrun = sorted(
        i for i, rec in rep.records.items() if rec.get("status") == "completed"
    )
    rep.completed_unrun = [i for i in rep.completed_unrun if i not in finished]
    acked = producer.acked_ids
    rep.finished = len(acked & finished)
    rep.lost = sorted(acked - finished - set(rep.dead))
    rep.phantom = sorted(set(completions) - producer.enqueued_ids - set(extra_ids))
    lease_ms = None if lease is None else lease * 1000
    for task_id, task_runs in runs.items():
        _overlaps(rep, task_id, task_runs, rep.records.get(task_id), lease_ms)
    if lease_ms is not None:
        _early_reclaims(rep, lease_ms)
    _stale_completions(rep, runs)
    return rep


def _stale_completions(rep: Report, runs: dict) -> None:
    for task_id, rec in rep.records.items():
        if rec.get("status") != "completed":
            continue
        try:
            attempt, finished = int(rec.get("attempts", "")), int(rec.get("finished_at", ""))
        except ValueError:
            continue
        for run in runs.get(task_id, []):
            if run.attempt == attempt and (
                run.ended is None or run.ended * 1000 > finished + TOLERANCE_MS
            ):
                rep.stale_completions.append(
                    f"{task_id}: completed as attempt {attempt} at {finished}, "
                    f"but that attempt's body ended at {run.ended}"
                )


def _consistency(rep: Report, queue: str, sets: dict, recs: dict, sets_by_id: dict) -> None:
    where = f"queue {queue}"
    for name in STATE_SETS:
        for task_id in sets[name]:
            sets_by_id[task_id].append(name)
            if task_id not in recs:
                rep.inconsistencies.append(f"{where}: {task_id} in {name} without a record")
    for name in ("active", "pending"):
        if sets[name]:
            rep.inconsistencies.append(f"{where}: {len(sets[name])} left in {name}")
    for task_id in sets["index"]:
        if task_id not in recs:
            rep.inconsistencies.append(f"{where}: {task_id} in index without a record")
    for task_id, rec in recs.items():
        member_of = sets_by_id.get(task_id, [])
        status = rec.get("status")
        if len(member_of) != 1:
            rep.inconsistencies.append(
                f"{where}: record {task_id} ({status}) in {len(member_of)} state sets {member_of}"
            )
        elif STATE_SETS[member_of[0]] != status:
            rep.inconsistencies.append(
                f"{where}: record {task_id} has status {status} but is in {member_of[0]}"
            )
        if task_id not in sets["index"]:
            rep.inconsistencies.append(f"{where}: record {task_id} missing from the index")
        attempts = rec.get("attempts", "0")
        numbers = [k for k in history(rec) if isinstance(k, int)]
        if numbers and str(max(numbers)) != attempts:
            rep.inconsistencies.append(
                f"{where}: record {task_id} attempts={attempts} but history {sorted(numbers)}"
            )


def _outside_keys(rep: Report, r: redis.Redis, prefix: str, baseline: set) -> None:
    outside = [
        k for k in r.scan_iter(count=5000) if not k.startswith(prefix + ":") and k not in baseline
    ]
    if outside:
        rep.inconsistencies.append(f"{len(outside)} keys outside the prefix: {sorted(outside)[:5]}")


def _overlaps(rep: Report, task_id: str, runs: list, rec: dict | None, lease_ms) -> None:
    hist = history(rec or {})
    for i, a in enumerate(runs):
        a_until = a.ended if a.ended is not None else a.last_seen
        for b in runs[i + 1 :]:
            if b.started >= a_until:
                continue
            what = f"{task_id} attempts {a.attempt} (pid {a.pid}) and {b.attempt} (pid {b.pid})"
            if a.attempt == b.attempt:
                rep.overlaps.append(f"{what}: one attempt ran twice at once")
                continue
            earlier = a if a.attempt < b.attempt else b
            h = hist.get(earlier.attempt)
            if h is None:
                rep.overlaps.append(f"{what}: no history entry to judge it by")
            elif h[3] != "lost":
                rep.overlaps.append(f"{what}: attempt {earlier.attempt} ended {h[3]!r}, not lost")
            elif lease_ms is not None and h[2] - h[1] < lease_ms - TOLERANCE_MS:
                rep.overlaps.append(f"{what}: reaped {h[2] - h[1]} ms after its claim")
            else:
                rep.justified_overlaps.append(f"{what}: lease expired, reaped at {h[2]}")


def _early_reclaims(rep: Report, lease_ms: float) -> None:
    for task_id, rec in rep.records.items():
        for n, (_, started, ended, outcome) in history(rec).items():
            if (
                outcome == "lost"
                and ended is not None
                and ended - started < lease_ms - TOLERANCE_MS
            ):
                rep.early_reclaims.append(
                    f"{task_id} attempt {n}: reaped {ended - started} ms after its claim"
                )


# -- waiting for the drain ------------------------------------------------------------------


@dataclass
class Drain:
    done: bool  # every acked id finished or dead
    seconds: float  # waited
    at: float  # time.monotonic() when the wait ended
    missing: int = 0  # acked ids neither finished nor dead when the wait ended
    reason: str = ""


def wait_drained(
    r: redis.Redis,
    prefix: str,
    producer,
    ledger: Ledger | None = None,
    *,
    timeout: float = 60.0,
    idle: float = 5.0,
) -> Drain:
    """Wait until every acknowledged id is finished (a successful end in the ledger, or
    completed in Redis) or dead. Gives up early when nothing is pending, scheduled or
    active for `idle` s while some are still missing (they are lost: the oracle will
    say so), and at `timeout`. Redis errors (a restart) only make it try again."""
    start = time.monotonic()
    idle_since = None
    missing = -1
    while True:
        now = time.monotonic()
        try:
            in_queues = _in_queues(r, prefix, producer)
            if in_queues == 0:
                missing = len(producer.acked_ids - _done(r, prefix, producer, ledger))
                if missing == 0:
                    return Drain(True, now - start, now)
                idle_since = idle_since or now
                if now - idle_since > idle:
                    return Drain(False, now - start, now, missing, "queues empty, tasks missing")
            else:
                idle_since = None
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            idle_since = None
        if now - start > timeout:
            return Drain(False, now - start, now, missing, f"timed out after {timeout} s")
        time.sleep(0.2)


def _in_queues(r: redis.Redis, prefix: str, producer) -> int:
    queues = queues_of(r, prefix, producer)
    with r.pipeline(transaction=False) as pipe:
        for queue in queues:
            for name in ("pending", "scheduled", "active"):
                pipe.zcard(_base(prefix, queue) + name)
        return sum(pipe.execute())


def _done(r: redis.Redis, prefix: str, producer, ledger: Ledger | None) -> set[str]:
    done = set()
    for queue in queues_of(r, prefix, producer):
        done |= set(r.zrange(_base(prefix, queue) + "completed", 0, -1))
        done |= set(r.zrange(_base(prefix, queue) + "dead", 0, -1))
    if ledger is not None:
        done |= {i for i, n in ledger.completions().items() if n}
    return done


# -- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handover:
    """An attempt that ended without an outcome of its own (lost or released) and the
    next attempt of the same task."""

    id: str
    attempt: int
    worker: str
    pid: int | None
    outcome: str  # lost, released
    ended_ms: int  # when Redis took it back (reaped or released)
    next_started_ms: int | None  # the next attempt's claim (None: never claimed again)


def handovers(records: dict[str, dict]) -> list[Handover]:
    """Every lost or released attempt in the records' histories (Report.records)."""
    out = []
    for task_id, rec in records.items():
        hist = history(rec)
        for n, (worker, _, ended, outcome) in hist.items():
            if outcome not in ("lost", "released") or not isinstance(n, int):
                continue
            nxt = hist.get(n + 1)
            out.append(
                Handover(task_id, n, worker, _pid_of(worker), outcome, ended, nxt and nxt[1])
            )
    return out


def _pid_of(worker_id: str) -> int | None:
    """Worker ids are '<name>:<pid>:<random>' (taskqueue/worker/options.py)."""
    parts = worker_id.split(":")
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None
