"""Every Redis key taskqueue uses is built here (the Lua scripts receive them as KEYS).

A queue's keys all carry the hash tag `{queue}`, so each script touches one cluster
slot. Per-task keys (`<prefix>:{q}:task:<id>`) are built inside the scripts from the
queue's `base` (passed as ARGV[1]) plus the suffixes named below, because a claim only
learns the ids it pops once it runs.

    <prefix>:{q}:pending     ZSET   id -> band * BAND_WIDTH + seq (see priority.py)
    <prefix>:{q}:scheduled   ZSET   id -> run-at, epoch ms (delays and retry backoff)
    <prefix>:{q}:active      ZSET   id -> lease deadline, epoch ms
    <prefix>:{q}:completed   ZSET   id -> finished-at, epoch ms (trimmed at RESULT_TTL)
    <prefix>:{q}:cancelled   ZSET   id -> cancelled-at, epoch ms (trimmed at RESULT_TTL)
    <prefix>:{q}:dead        ZSET   id -> died-at, epoch ms (trimmed at DEAD_TTL / DEAD_MAX)
    <prefix>:{q}:index       ZSET   id -> created-at: every live record, for newest-first lists
    <prefix>:{q}:waiting     ZSET   id -> created-at: workflow nodes waiting for their parents
    <prefix>:{q}:outbox      STREAM workflow notifications not yet applied (docs/workflows.md)
    <prefix>:{q}:limits      HASH   flow-control limits the code and settings declare
    <prefix>:{q}:limitset    HASH   limits an operator set at run time (they win)
    <prefix>:{q}:gcra        HASH   rate limits' state (includes/limits.lua)
    <prefix>:{q}:tenants     HASH   tenant -> its unfinished tasks (quotas, counts)
    <prefix>:{q}:fair        HASH   tenants' fair-share clocks and lanes (common.lua)
    <prefix>:{q}:slots:<scope> ZSET ids holding a concurrency slot of a limit's scope
    <prefix>:{q}:held:<scope>  ZSET ids held back by a limit, by their place in line
    <prefix>:{q}:task:<id>   HASH   the task record (see records.py for its fields)
                                    and, tracing on, `completed_span`: the W3C
                                    traceparent of its completed attempt (trace_ops.py)
    <prefix>:{q}:idem:<key>  STRING idempotency key -> task id, with a TTL
    <prefix>:{q}:confirm:<token> ZSET the tasks an operator was shown before a bulk
                                    action (a purge, a DLQ requeue), with a TTL: the
                                    action takes these and no other (confirm_ops.py)
    <prefix>:{q}:seq         STRING the queue's FIFO counter
    <prefix>:{q}:paused      STRING present while the queue is paused
    <prefix>:{q}:wake        LIST   wake-up tokens that blocked workers BLPOP (bounded)
    <prefix>:{q}:timer       LIST   a token when the scheduled set gained a task (<= 1)
    <prefix>:{q}:events      STREAM state changes (approximately capped)
    <prefix>:{q}:stats       HASH   lifetime counters (enqueued, completed, failed, ...)
    <prefix>:{q}:errors      HASH   exception type -> tasks of that type in the DLQ
    <prefix>:{q}:m:<minute>  HASH   per-minute completed / failed counts (expire after 2 h)
    <prefix>:{q}:h:<hour>    HASH   per-hour completed / failed counts (expire after 8 days)
    <prefix>:{q}:wait:m:<minute>, wait:h:<hour>  HASH  wait (ready -> claim) histograms:
                                    'b<i>' -> n (history.WAIT_BUCKETS)
    <prefix>:{q}:rt:m:<minute>, rt:h:<hour>  HASH  runtime histograms as in `runtime`
                                    (minutes expire after 2 h, hours after 8 days)
    <prefix>:{q}:runtime     HASH   '<task>|b<i>' -> attempts that ran within bucket i
                                    (runtime.BUCKETS), '<task>|sum_ms', '<task>|count'
    <prefix>:queues          SET    known queue names (global; never touched by a script)
    <prefix>:workers         ZSET   worker id -> last heartbeat, epoch ms (global)
    <prefix>:worker:<id>     HASH   a worker's registry entry (global, expires)
    <prefix>:worker-control:<id> HASH an operator's command to a worker: quiet or stop,
                                    by whom, when (global, expires; control_ops.py)
    <prefix>:worker-wake:<id> LIST  tokens the worker BLPOPs: a command, or a cancel of
                                    a task it runs (global, bounded, expires)
    <prefix>:periodic        HASH   schedule name -> JSON {last tick, last task id} (global)
    <prefix>:archive:lock    STRING held (SET NX PX) by the one process archiving (global)
    <prefix>:quarantined     STRING global keys of the wrong type moved aside (global)
    <prefix>:workflows       ZSET   workflow id -> created-at, epoch ms (global index; ties
                                    within a process nudged apart by 1/1024 ms)
    <prefix>:workflow_stats  HASH   lifetime counters: created, completed (global)
    <prefix>:workflow_submissions ZSET workflow id -> started-at, epoch ms: submissions
                                    not yet finished (a crashed submitter's are resumed)

A workflow's own keys carry the hash tag `{wf:<id>}` (WorkflowKeys below; their fields
are listed in lua/includes/workflow.lua), so each workflow script touches one slot.

A key of the wrong type is moved aside (broker/damage.py): a queue's key to
`<prefix>:{q}:quarantine:<its suffix>`, a global key to
`<prefix>:quarantine:{<key>}:<ms>` (the hash tag keeps it in the key's slot).

A queue split into shards (TASKQUEUE["SHARDS"] = {"emails": 4}) is stored as sub-queues
`emails#0` .. `emails#3`, each with all the keys above under its own hash tag
(`<prefix>:{emails#2}:pending`), so the sub-queues land on different cluster slots.
'#' cannot appear in a queue name, so a sub-queue never collides with a user's queue;
sub-queue names are used only inside keys (records, reads and events say `emails`).
"""

import binascii
import functools
import itertools
import string

from redis.crc import key_slot

# Both live in names.py; importable from here too, as reads, inspect, services, the
# worker's options and the API's queue views import them.
from ..names import is_queue_name as is_queue_name
from ..names import validate_queue_name as validate_queue_name

TASK = "task:"  # per-task key suffixes; the Lua scripts use the same literals
IDEMPOTENCY = "idem:"
MINUTE = "m:"
HOUR = "h:"
WAIT = "wait:"  # the history's wait histograms: wait:m:<minute>, wait:h:<hour>
RUNTIMES = "rt:"  # the history's runtime histograms: rt:m:<minute>, rt:h:<hour>
CONFIRM = "confirm:"
SHARD = "#"  # sub-queue names: '<queue>#<n>'


def wire(value):
    """A value as the sync client must send it: text that came from Redis as bytes that
    were not UTF-8 (kept as lone surrogates: see client.py) goes back as those bytes.
    The sync client packs commands with hiredis, which ignores `encoding_errors` and
    would raise UnicodeEncodeError for every command naming such an id or task name."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "surrogateescape")
    return value


def logical_queue(name: str) -> str:
    """The queue a (sub-)queue name belongs to: 'emails#2' -> 'emails'."""
    return name.partition(SHARD)[0]


def shard_names(queue: str, count: int) -> list[str]:
    return [f"{queue}{SHARD}{n}" for n in range(count)] if count > 1 else [queue]


def _valid_storage_name(name: object) -> str:
    if isinstance(name, str) and SHARD in name:
        queue, _, index = name.partition(SHARD)
        if index.isdigit() and index == str(int(index)):
            validate_queue_name(queue)
            return name
    return validate_queue_name(name)


class _Kind:
    """A fixed key of a queue: `QueueKeys(...).pending` is '<prefix>:{q}:pending'."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.suffix = name

    def __get__(self, keys: "QueueKeys", owner: type | None = None) -> str:
        return keys.base + self.suffix


class QueueKeys:
    """The keys of one queue."""

    pending = _Kind()
    scheduled = _Kind()
    active = _Kind()
    completed = _Kind()
    cancelled = _Kind()
    dead = _Kind()
    index = _Kind()
    seq = _Kind()
    paused = _Kind()
    wake = _Kind()
    timer = _Kind()
    events = _Kind()
    stats = _Kind()
    errors = _Kind()
    runtime = _Kind()
    waiting = _Kind()
    outbox = _Kind()
    limits = _Kind()
    limitset = _Kind()
    gcra = _Kind()
    tenants = _Kind()
    fair = _Kind()

    def __init__(self, prefix: str, queue: str):
        self.prefix = prefix
        self.queue = queue
        self.base = f"{prefix}:{{{queue}}}:"

    def task(self, task_id: str) -> str:
        return self.base + TASK + task_id

    def idempotency(self, key: str) -> str:
        return self.base + IDEMPOTENCY + key

    def confirmation(self, token: str) -> str:
        return self.base + CONFIRM + token

    def minute(self, minute: int) -> str:
        return f"{self.base}{MINUTE}{minute}"

    # The history (docs/redis-keys.md#history): minute = epoch ms // 60,000, hour =
    # epoch ms // 3,600,000; the scripts build the same names (common.lua).
    def hour(self, hour: int) -> str:
        return f"{self.base}{HOUR}{hour}"

    def wait_minute(self, minute: int) -> str:
        return f"{self.base}{WAIT}{MINUTE}{minute}"

    def wait_hour(self, hour: int) -> str:
        return f"{self.base}{WAIT}{HOUR}{hour}"

    def runtime_minute(self, minute: int) -> str:
        return f"{self.base}{RUNTIMES}{MINUTE}{minute}"

    def runtime_hour(self, hour: int) -> str:
        return f"{self.base}{RUNTIMES}{HOUR}{hour}"

    def all(self) -> list[str]:
        """Every fixed key of the queue (for tests and for deleting a queue)."""
        return [getattr(self, name) for name, v in vars(QueueKeys).items() if isinstance(v, _Kind)]


class Keys:
    """Key builder for one prefix; `keys.queue(name)` gives a queue's keys."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.queues = f"{prefix}:queues"
        self.workers = f"{prefix}:workers"
        self.periodic = f"{prefix}:periodic"
        self.archive_lock = f"{prefix}:archive:lock"
        self.quarantined = f"{prefix}:quarantined"
        self.workflows = f"{prefix}:workflows"
        self.workflow_stats = f"{prefix}:workflow_stats"
        self.workflow_submissions = f"{prefix}:workflow_submissions"
        self._cache: dict[str, QueueKeys] = {}

    def queue(self, name: str) -> QueueKeys:
        """The keys of a queue, or of one sub-queue of a sharded queue ('emails#2')."""
        keys = self._cache.get(name)
        if keys is None:
            keys = self._cache[name] = QueueKeys(self.prefix, _valid_storage_name(name))
        return keys

    def workflow(self, workflow_id: str) -> "WorkflowKeys":
        return WorkflowKeys(self.prefix, workflow_id)

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    def worker_control(self, worker_id: str) -> str:
        return f"{self.prefix}:worker-control:{worker_id}"

    def worker_wake(self, worker_id: str) -> str:
        return f"{self.prefix}:worker-wake:{worker_id}"

    def quarantine(self, key: str, stamp: int) -> str | None:
        """Where a global key of the wrong type is moved: in its cluster slot, or None
        when no such name exists (a key with braces of its own)."""
        target = f"{self.prefix}:quarantine:{{{key}}}:{stamp}"
        encode = lambda k: k.encode("utf-8", "surrogateescape")  # noqa: E731
        return target if key_slot(encode(target)) == key_slot(encode(key)) else None


WORKFLOW_KINDS = ("info", "spec", "parents", "args", "remaining", "state", "results", "tasks")


class WorkflowKeys:
    """The keys of one workflow, in the order its scripts take them (workflow.lua)."""

    def __init__(self, prefix: str, workflow_id: str):
        self.id = workflow_id
        self.base = f"{prefix}:{{wf:{workflow_id}}}:"

    def all(self) -> list[str]:
        return [self.base + kind for kind in WORKFLOW_KINDS]

    def quarantine(self, key: str, stamp: int) -> str:
        """Where one of its keys of the wrong type is moved: beside it, in its slot."""
        return f"{self.base}quarantine:{key.removeprefix(self.base)}:{stamp}"

    def __getattr__(self, kind: str) -> str:
        if kind in WORKFLOW_KINDS:
            return self.base + kind
        raise AttributeError(kind)


# -- a workflow id in a queue's slot ----------------------------------------------------

SLOTS = 16384
_MATE_CHARS = string.digits + string.ascii_lowercase + string.ascii_uppercase


@functools.cache
def _mate_suffixes() -> dict[int, str]:
    """Slot (14 bits of CRC16) -> three characters whose CRC16 falls in it: 62**3 texts
    reach every slot; the table is built once (~50 ms), by the first workflow sent to
    a cluster."""
    table: dict[int, str] = {}
    for chars in itertools.product(_MATE_CHARS, repeat=3):
        text = "".join(chars)
        table.setdefault(binascii.crc_hqx(text.encode(), 0) % SLOTS, text)
        if len(table) == SLOTS:
            break
    return table


def slot_mate(workflow_id: str, slot: int) -> str:
    """`workflow_id` with '-' and three characters after it, so that the workflow's keys
    ({wf:<id>}: WorkflowKeys) hash to `slot` (a queue's, on a Redis Cluster). A cluster
    hashes a key by the CRC16 (XMODEM) of its tag, and that CRC is linear: the CRC of
    a text ending in three zero bytes, XOR the CRC of three characters, is the CRC of
    the text ending in those characters instead. Deterministic: an idempotency key's id
    gets the same one every time. (Unchanged in the unlikely case that no three
    characters reach that slot.)"""
    head = f"wf:{workflow_id}-".encode()
    base = binascii.crc_hqx(head + b"\0\0\0", 0)
    suffix = _mate_suffixes().get((base ^ slot) % SLOTS)
    return workflow_id if suffix is None else f"{workflow_id}-{suffix}"
