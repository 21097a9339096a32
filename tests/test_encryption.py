"""Encrypted arguments at the producer (issue 21): what reaches Redis, the declaration's
checks, the settings' checks, what the API and the console show, and `reencrypt`
(docs/tasks.md#encrypted-arguments). The worker's side: tests/worker/test_encryption_worker.py."""

import doctest
import io
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from taskqueue import client, task
from taskqueue.conf import problems
from taskqueue.encryption import SHOWN, reencrypted
from taskqueue.errors import ConfigurationError, PayloadInvalid, ValidationError
from taskqueue.payloads import checked_at_enqueue
from taskqueue.registry import registry
from tests.support.encryption import CARD, NEW_KEY, OLD_KEY, TOKEN, hidden, registered_only, use
from tests.support.web import Api, logged_in, make_token, make_user

pytestmark = pytest.mark.django_db


@task(encrypt=["card_number", "token"])
def charge(order_id: int, card_number: str, token: str = "") -> str:
    return f"charged {order_id}"


@task(encrypt=True)
def everything(a, *rest, b=None, **more):
    return None


@task(encrypt=["rest", "more"])
def variadic(a, *rest, b=None, **more):
    return None


@task
def order_number() -> int:
    return 7


TASKS = hidden(charge, everything, variadic, order_number)


@pytest.fixture(autouse=True)
def registered():
    yield from registered_only(TASKS)


@pytest.fixture
def keys(settings, tq_settings):
    use(settings, tq_settings, ENCRYPTION_KEYS=[OLD_KEY])


def stored(broker, handle) -> dict:
    return broker.client.hgetall(broker.keys.queue(handle.queue).task(handle.id))


def opened(value: dict, key: str = OLD_KEY):
    assert set(value) == {"$encrypted"}
    return json.loads(Fernet(key).decrypt(value["$encrypted"].encode()))


# -- the producer ---------------------------------------------------------------------


def test_the_chosen_arguments_are_stored_encrypted_by_position_or_by_name(keys, broker):
    record = stored(broker, charge.enqueue(7, CARD, token=TOKEN))
    args, kwargs = json.loads(record["args"]), json.loads(record["kwargs"])
    assert args[0] == 7  # not chosen: plain
    assert opened(args[1]) == CARD and opened(kwargs["token"]) == TOKEN
    assert CARD not in str(record) and TOKEN not in str(record)


def test_encrypt_true_encrypts_every_argument_and_keyword(keys, broker):
    record = stored(broker, everything.enqueue({"x": [1]}, "r", b=2, extra="e"))
    args, kwargs = json.loads(record["args"]), json.loads(record["kwargs"])
    assert [opened(v) for v in args] == [{"x": [1]}, "r"]
    assert {k: opened(v) for k, v in kwargs.items()} == {"b": 2, "extra": "e"}


def test_naming_star_args_and_star_kwargs_encrypts_the_extra_arguments(keys, broker):
    record = stored(broker, variadic.enqueue(1, "r1", "r2", b=3, extra="e"))
    args, kwargs = json.loads(record["args"]), json.loads(record["kwargs"])
    assert args[0] == 1 and [opened(v) for v in args[1:]] == ["r1", "r2"]
    assert kwargs["b"] == 3 and opened(kwargs["extra"]) == "e"


def test_arguments_after_a_workflows_fed_results_are_found_by_their_position(keys):
    from taskqueue.encryption import encrypt_call

    args, _ = encrypt_call(charge, [CARD, TOKEN], {}, fed=1)  # order_id: the parent's result
    assert [opened(v) for v in args] == [CARD, TOKEN]


def test_an_enqueue_over_the_api_is_stored_encrypted(keys, broker):
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks")))
    created = api.post(
        "tasks", {"task": charge.name, "args": [7, CARD], "kwargs": {"token": TOKEN}}
    )
    assert created.status_code == 201, created.content
    assert CARD not in created.content.decode()
    raw = broker.client.hgetall(broker.keys.queue("default").task(created.json()["id"]))
    assert opened(json.loads(raw["args"])[1]) == CARD
    assert opened(json.loads(raw["kwargs"])["token"]) == TOKEN


def test_every_call_of_a_workflow_group_is_stored_encrypted(keys, broker):
    from taskqueue.workflows import group

    handle = group(charge.s(1, CARD), charge.s(2, CARD), charge.s(3, token=TOKEN)).enqueue()
    assert len(handle.tasks) == 3
    text = everything_in_redis(broker)
    assert text.count("$encrypted") >= 3
    assert CARD not in text and TOKEN not in text


def test_a_chained_tasks_positional_secret_is_stored_encrypted(keys, broker):
    # the chain feeds charge its parent's result as order_id: CARD is parameter 1
    from taskqueue.workflows import chain

    chain(order_number.s(), charge.s(CARD)).enqueue()
    text = everything_in_redis(broker)
    assert CARD not in text and "$encrypted" in text


def test_the_enqueue_check_sees_the_plain_values(keys, broker):
    with pytest.raises(PayloadInvalid) as caught:
        charge.enqueue(7, 4111, token=TOKEN)
    assert "args[1] (card_number) should be a valid string" in str(caught.value)


def test_the_seal_covers_the_stored_encrypted_text(keys, broker):
    record = stored(broker, charge.enqueue(7, CARD, TOKEN))
    assert checked_at_enqueue(charge, record["args"], record["kwargs"], record["meta"])


def test_without_keys_an_encrypting_task_is_refused_and_nothing_is_written(broker, redis_client):
    with pytest.raises(ConfigurationError, match=r"ENCRYPTION_KEYS'\] is empty"):
        charge.enqueue(7, CARD, TOKEN)
    assert not list(redis_client.scan_iter(match=f"{broker.config.PREFIX}:*"))


def test_nothing_anywhere_in_redis_holds_the_plain_value(keys, broker):
    charge.enqueue(7, CARD, token=TOKEN)
    text = everything_in_redis(broker)
    assert "$encrypted" in text and CARD not in text and TOKEN not in text


def everything_in_redis(broker) -> str:
    """Every value under the test's prefix, as text: hashes, streams (events), sets..."""
    read = {
        "hash": lambda r, k: r.hgetall(k),
        "stream": lambda r, k: r.xrange(k),
        "zset": lambda r, k: r.zrange(k, 0, -1),
        "list": lambda r, k: r.lrange(k, 0, -1),
        "set": lambda r, k: r.smembers(k),
        "string": lambda r, k: r.get(k),
    }
    r = broker.client
    keys = r.scan_iter(match=f"{broker.config.PREFIX}:*")
    return str([read.get(r.type(k), lambda r, k: None)(r, k) for k in keys])


# -- the declaration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encrypt": ["cvv"]}, "encrypt names 'cvv', not a parameter of"),
        ({"encrypt": "card"}, "encrypt must be True, False or a list of parameter names"),
        ({"encrypt_result": "yes"}, "encrypt_result must be True or False"),
    ],
)
def test_a_wrong_declaration_is_refused_when_the_task_is_defined(options, message):
    with pytest.raises(ValidationError, match=message):

        @task(name="tests.encryption.wrong", **options)
        def wrong(card):
            return None

    assert "tests.encryption.wrong" not in registry


# -- settings -------------------------------------------------------------------------


def test_a_malformed_key_is_a_system_check_error_that_does_not_show_the_key():
    found = problems({"ENCRYPTION_KEYS": [OLD_KEY, "not-a-key-but-a-secret", 5]})
    assert [(i, m) for i, m, _ in found] == [
        ("E018", "TASKQUEUE['ENCRYPTION_KEYS'][1] is not a Fernet key."),
        ("E018", "TASKQUEUE['ENCRYPTION_KEYS'][2] is not a Fernet key."),
    ]
    assert problems({"ENCRYPTION_KEYS": OLD_KEY})[0][0] == "E018"  # a string, not a list


def test_a_task_that_encrypts_with_no_keys_configured_fails_the_checks():
    with pytest.raises(SystemCheckError, match=r"taskqueue\.E019.*tests\.test_encryption\.charge"):
        call_command("check")


def test_with_keys_configured_the_encrypting_tasks_pass_the_checks(keys):
    call_command("check")


# -- what people see ------------------------------------------------------------------


def test_the_api_shows_encrypted_not_the_value(keys, broker):
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks"), ("read",)))
    handle = charge.enqueue(7, CARD, token=TOKEN)
    body = api.get(f"tasks/{handle.id}").json()
    assert (body["args"], body["kwargs"]) == ([7, SHOWN], {"token": SHOWN})
    listing = api.get("tasks").content.decode()
    assert CARD not in listing and TOKEN not in listing and "$encrypted" not in listing


def test_the_console_shows_encrypted_not_the_value(keys, broker):
    console = logged_in(make_user("vera", "view_console"))
    handle = charge.enqueue(7, CARD, token=TOKEN)
    page = console.get(f"/tasks/{handle.id}/").content.decode()
    assert SHOWN in page
    assert CARD not in page and TOKEN not in page and "$encrypted" not in page


# -- rotation -------------------------------------------------------------------------


def test_reencrypt_rewrites_every_value_with_the_first_key_and_keeps_the_seal(
    keys, settings, tq_settings, broker
):
    handle = charge.enqueue(7, CARD, token=TOKEN)
    before = stored(broker, handle)
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY])
    call_command("reencrypt", stdout=io.StringIO())
    after = stored(client.get_broker(), handle)
    args, kwargs = json.loads(after["args"]), json.loads(after["kwargs"])
    assert opened(args[1], NEW_KEY) == CARD and opened(kwargs["token"], NEW_KEY) == TOKEN
    assert after["args"] != before["args"]
    assert checked_at_enqueue(charge, after["args"], after["kwargs"], after["meta"])


def test_reencrypt_without_keys_is_refused(broker):
    with pytest.raises(CommandError, match="ENCRYPTION_KEYS'] is empty"):
        call_command("reencrypt")


def test_reencrypt_reports_records_no_key_decrypts_and_leaves_them(
    keys, settings, tq_settings, broker
):
    handle = charge.enqueue(7, CARD, TOKEN)
    before = stored(broker, handle)
    use(settings, tq_settings, ENCRYPTION_KEYS=[NEW_KEY])
    with pytest.raises(CommandError, match="1 record"):
        call_command("reencrypt", stdout=io.StringIO())
    assert stored(client.get_broker(), handle) == before


def test_reencrypted_leaves_json_without_encrypted_values_alone():
    from cryptography.fernet import MultiFernet

    ring = MultiFernet([Fernet(NEW_KEY)])
    assert reencrypted('[1, "$encrypted"]', ring) is None
    assert reencrypted("", ring) is None


def test_the_example_in_docs_tasks_md_shows_what_is_stored(keys, broker):
    text = (Path(__file__).resolve().parents[1] / "docs" / "tasks.md").read_text()
    section = text.split("## Encrypted arguments", 1)[1]
    example = section.split("```pycon\n", 1)[1].split("```", 1)[0]
    test = doctest.DocTestParser().get_doctest(
        example, {"task": task, "__name__": "docs_tasks_md"}, "tasks.md", "docs/tasks.md", 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        runner.run(test, out=lambda text: pytest.fail(text))
    finally:
        registry.unregister("app.tasks.charge")
    assert runner.summarize(verbose=False).attempted == len(test.examples) > 0
