"""Rewriting the stored JSON fields of task records in place: what `manage.py reencrypt`
does after an encryption key rotation (encryption.py).

Each record is changed with an optimistic transaction (WATCH the record, read its
fields, MULTI, HSET, EXEC): a record that changes in between (a worker finished it,
it was deleted) is read again, so nothing a worker wrote is overwritten with an older
copy. One key per transaction: fine on a Redis Cluster too.
"""

from collections.abc import Callable, Iterator

import redis
from redis.exceptions import WatchError

from .errors import translated
from .reads import Entry

FIELDS = ("name", "args", "kwargs", "result", "meta")
MAX_TRIES = 10  # a record rewritten this often in between is left as it is


def every_task(broker) -> Iterator[Entry]:
    """Every task record's place, in every known queue (each sub-queue of a sharded one)."""
    for queue in broker.known_queues():
        yield from broker.entries(queue, None)


def rewrite_record(broker, entry: Entry, change: Callable[[dict], dict | None]) -> bool:
    """Apply `change` (the record's FIELDS as stored -> the fields to set, or None) to
    one record atomically; whether it was rewritten."""
    key = broker.keys.queue(entry.storage).task(entry.id)
    with translated(), broker.client.pipeline(transaction=True) as pipe:
        for _ in range(MAX_TRIES):
            try:
                pipe.watch(key)
                try:
                    values = pipe.hmget(key, FIELDS)
                except redis.ResponseError:  # not a hash: damaged, not ours to mend
                    return False
                if values[0] is None:  # gone (expired, deleted)
                    return False
                new = change({k: v or "" for k, v in zip(FIELDS, values, strict=True)})
                if not new:
                    return False
                pipe.multi()
                pipe.hset(key, mapping=new)
                pipe.execute()
                return True
            except WatchError:
                continue
            finally:
                pipe.reset()
    return False
