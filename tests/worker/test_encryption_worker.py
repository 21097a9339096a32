"""Encrypted arguments and results through a real worker (issue 21): the function gets
the plain values; Redis's AOF and RDB files and the archive table never hold them; a
worker without the key (or with other keys) dead-letters the task with the reason and
never calls the function; rotation keeps old records readable."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from taskqueue import archive, client, task
from taskqueue.embedded_redis import RedisProcess, free_port
from taskqueue.models import TaskArchive
from taskqueue.status import Status
from tests.support.encryption import CARD, NEW_KEY, OLD_KEY, TOKEN, hidden, registered_only, use
from tests.support.workers import run_burst

pytestmark = pytest.mark.django_db

RESULT = "plaintext-result-of-the-task"
calls: list = []


@task(encrypt=["card_number", "token"])
def charge(order_id: int, card_number: str, token: str = "") -> str:
    calls.append((order_id, card_number, token))
    return f"charged {order_id}"


@task(encrypt=True, encrypt_result=True)
def sealed_echo(value):
    calls.append(value)
    return value


@task
def plain_echo(value):
    calls.append(value)
    return value


TASKS = hidden(charge, sealed_echo, plain_echo)


@pytest.fixture(autouse=True)
def registered():
    calls.clear()
    yield from registered_only(TASKS)


@pytest.fixture
def keys(settings, tq_settings):
    use(settings, tq_settings, ENCRYPTION_KEYS=[OLD_KEY])


# -- a worker with the key --------------------------------------------------------------


def test_the_function_gets_the_plain_values_given_by_position_or_name(keys, broker):
    by_position = charge.enqueue(7, CARD, TOKEN)
    by_name = charge.enqueue(order_id=8, card_number=CARD, token=TOKEN)
    run_burst()
    assert by_position.result(timeout=5) == "charged 7"
    assert by_name.result(timeout=5) == "charged 8"
    assert sorted(calls) == [(7, CARD, TOKEN), (8, CARD, TOKEN)]


def test_an_encrypted_result_is_stored_encrypted_and_read_back_plain(keys, broker, redis_client):
    handle = sealed_echo.enqueue({"pin": RESULT})
    run_burst()
    assert handle.result(timeout=5) == {"pin": RESULT}
    stored = redis_client.hget(broker.keys.queue("default").task(handle.id), "result")
    assert RESULT not in stored and '"$encrypted"' in stored
    assert calls == [{"pin": RESULT}]


def test_a_chain_feeds_an_encrypted_result_to_the_next_task_decrypted(
    keys, broker, background_worker
):
    from taskqueue.workflows import chain

    flow = chain(sealed_echo.s({"pin": RESULT}), plain_echo.s()).enqueue()
    background_worker()
    assert flow.results(timeout=10) == [{"pin": RESULT}]
    assert calls == [{"pin": RESULT}, {"pin": RESULT}]


def test_the_sealed_call_is_trusted_without_a_second_check(keys, broker, monkeypatch):
    from taskqueue.worker import runner

    checks = []
    monkeypatch.setattr(runner, "check_call", lambda *a, **k: checks.append(a))
    handle = charge.enqueue(1, CARD, TOKEN)
    run_burst()
    assert handle.record().status == Status.COMPLETED
    assert checks == []  # the seal covers the stored (encrypted) JSON


def test_an_unsealed_record_is_checked_on_the_decrypted_values(
    keys, broker, redis_client, settings
):
    handle = charge.enqueue(1, CARD, TOKEN)
    key = broker.keys.queue("default").task(handle.id)
    args = json.loads(redis_client.hget(key, "args"))
    args[0] = "one"  # the order id a producer would have refused; its seal no longer fits
    redis_client.hset(key, "args", json.dumps(args))
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert record.error_message == (
        f"Invalid arguments for {charge.name} at args[0] (values not shown: the task's "
        "arguments are encrypted)"
    )
    assert calls == []


# -- a worker that cannot decrypt -------------------------------------------------------


def test_a_worker_without_keys_dead_letters_the_task_and_never_calls_it(
    keys, settings, tq_settings, broker
):
    handle = charge.enqueue(1, CARD, TOKEN)
    use(settings, tq_settings)  # the worker's settings: no ENCRYPTION_KEYS
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert record.error_message == (
        "args[1] is encrypted and this process has no TASKQUEUE['ENCRYPTION_KEYS']: not run"
    )
    assert record.failures == 1  # no retry: it would fail the same way
    assert calls == []


def test_a_worker_with_other_keys_dead_letters_the_task_and_never_calls_it(
    keys, settings, tq_settings, broker
):
    handle = charge.enqueue(1, CARD, token=TOKEN)
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY])
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert record.error_message == (
        "args[1] cannot be decrypted with this process's TASKQUEUE['ENCRYPTION_KEYS'] (the "
        "key that encrypted it is not among them, or the value was altered): not run"
    )
    assert calls == []


def test_an_altered_token_is_dead_lettered_not_run(keys, broker, redis_client):
    handle = charge.enqueue(1, CARD, TOKEN)
    key = broker.keys.queue("default").task(handle.id)
    args = json.loads(redis_client.hget(key, "args"))
    token = args[1]["$encrypted"]
    args[1]["$encrypted"] = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    redis_client.hset(key, "args", json.dumps(args))
    run_burst()
    assert handle.record().status == Status.DEAD
    assert "args[1] cannot be decrypted" in handle.record().error_message
    assert calls == []


def test_a_worker_without_keys_does_not_run_a_task_whose_result_it_must_encrypt(
    keys, settings, tq_settings, broker
):
    handle = sealed_echo.enqueue(RESULT)
    use(settings, tq_settings)
    run_burst()
    record = handle.record()
    assert record.status == Status.DEAD
    assert "encrypt" in record.error_message and "not run" in record.error_message
    assert calls == []


# -- rotation -------------------------------------------------------------------------


def test_after_rotation_old_records_still_run_then_reencrypt_lets_the_old_key_go(
    keys, settings, tq_settings, broker, redis_client
):
    old = charge.enqueue(1, CARD, TOKEN)  # encrypted with OLD_KEY
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY])  # NEW_KEY first
    newer = charge.enqueue(2, CARD, TOKEN)
    call_command("reencrypt")
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY])  # the old key dropped
    run_burst()
    assert old.record().status == newer.record().status == Status.COMPLETED
    assert sorted(calls) == [(1, CARD, TOKEN), (2, CARD, TOKEN)]


def test_without_reencrypt_dropping_the_old_key_dead_letters_its_records(
    keys, settings, tq_settings, broker
):
    old = charge.enqueue(1, CARD, TOKEN)
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY])
    run_burst()
    assert old.record().status == Status.DEAD
    assert calls == []


# -- nothing on disk --------------------------------------------------------------------


@pytest.fixture
def persistent_redis(tmp_path, settings, tq_settings):
    """A redis-server of the test's own with the AOF on (fsync each write) and RDB
    compression off, so a plaintext string in either file is found by a byte search."""
    server = RedisProcess(
        tmp_path / "redis",
        port=free_port(),
        persistent=True,
        extra_args=("--appendfsync", "always", "--rdbcompression", "no"),
    )
    server.start()
    use(
        settings,
        tq_settings,
        REDIS_URL=server.url,
        ENCRYPTION_KEYS=[OLD_KEY],
        ARCHIVE_COMPLETED=True,
    )
    yield server
    server.stop()
    client.reset()


def files_on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_file_on_disk_and_no_archive_row_reveals_an_encrypted_value(persistent_redis, caplog):
    caplog.set_level("DEBUG")
    secret = charge.enqueue(3, CARD, token=TOKEN)
    encrypted_result = sealed_echo.enqueue(RESULT)
    control = plain_echo.enqueue("plaintext-control-value")
    run_burst()
    assert {h.record().status for h in (secret, encrypted_result, control)} == {Status.COMPLETED}
    assert calls.count((3, CARD, TOKEN)) == 1 and RESULT in calls
    assert archive.archive_once() == 3
    broker = client.get_broker()
    broker.client.save()  # dump.rdb next to the AOF
    client.reset()
    persistent_redis.stop()  # the AOF flushed and closed
    aof = files_on_disk(persistent_redis.data_dir / "appendonlydir")
    rdb = (persistent_redis.data_dir / "dump.rdb").read_bytes()
    everything_on_disk = files_on_disk(persistent_redis.data_dir)
    for found in (aof, rdb):
        assert b"plaintext-control-value" in found  # the search finds plain values
        assert b"$encrypted" in found
    for plain in (CARD, TOKEN, RESULT):
        assert plain.encode() not in everything_on_disk
        assert plain not in caplog.text
    rows = {r.task_id: r for r in TaskArchive.objects.all()}
    assert b"plaintext-control-value" in json.dumps(rows[control.id].args).encode()
    everything = json.dumps([[r.args, r.kwargs, r.result] for r in rows.values()])
    for plain in (CARD, TOKEN, RESULT):
        assert plain not in everything
    assert rows[secret.id].args[1] == rows[secret.id].kwargs["token"] == "[encrypted]"
    assert rows[encrypted_result.id].result == "[encrypted]"
