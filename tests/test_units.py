"""Fast unit tests of the pure helpers: priority scale, JSON, records, cron schedules."""

import json
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from taskqueue.broker.codec import task_record
from taskqueue.building import new_task_id
from taskqueue.errors import ConfigurationError, InvalidPriority, SerializationError
from taskqueue.periodic import Schedule, schedules
from taskqueue.priority import (
    BAND_WIDTH,
    MAX_LEVEL,
    band_of,
    level_of,
    score_of,
    validate_priority,
)
from taskqueue.serialization import dumps


def test_native_priorities_map_to_levels_with_the_default_in_the_middle():
    assert [level_of(p) for p in (1, 5, 10)] == [20, 100, 200]


def test_a_higher_priority_always_scores_lower_whatever_the_sequence():
    assert score_of(band_of(level_of(10)), BAND_WIDTH - 1) < score_of(band_of(level_of(9)), 0)


def test_the_largest_score_is_exact_in_a_double():
    biggest = score_of(band_of(0), BAND_WIDTH - 1)
    assert biggest < 2**53 and float(biggest) == biggest


def test_a_band_holds_2_to_the_45_sequence_numbers():
    assert BAND_WIDTH == 2**45
    assert score_of(1, 0) - score_of(0, 0) == BAND_WIDTH


@pytest.mark.parametrize("bad", [True, 0, 11, 5.0, "5", None])
def test_validate_priority_refuses_non_int_and_out_of_range(bad):
    with pytest.raises(InvalidPriority):
        validate_priority(bad)


def test_band_of_refuses_levels_outside_the_scale():
    with pytest.raises(InvalidPriority):
        band_of(MAX_LEVEL + 1)


def test_dumps_is_compact_and_keeps_unicode():
    assert dumps({"a": ["é", 1]}) == '{"a":["é",1]}'


def test_dumps_refuses_non_string_keys_by_naming_the_argument():
    with pytest.raises(SerializationError, match="kwargs"):
        dumps({("a",): 1}, what="kwargs")


@pytest.mark.parametrize(
    "value",
    [None, 'é\n"', 1.5, -0.0, 2**70, [], {}, [1, "a", None, True], {"k": [{"x": [1.25]}]}],
)
def test_dumps_gives_what_the_json_module_gives(value):
    assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_dumps_refuses_a_circular_value_and_the_refusal_leaves_nothing_behind():
    shared = [1]
    loop = [shared]
    loop.append(loop)
    with pytest.raises(SerializationError, match="Circular reference"):
        dumps(loop, what="args")
    assert dumps([shared, shared]) == "[[1],[1]]"  # not taken for a loop afterwards
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        dumps([shared, float("nan")], what="args")
    assert dumps(shared) == "[1]"


def test_a_record_with_garbage_fields_still_reads():
    record = task_record(
        {
            "id": "x",
            "status": "weird",
            "attempts": "NaNx",
            "args": "{bad",
            "created_at": "soon",
            "h:1": "w",
            "h:x": "w|1",
        }
    )
    assert (record.status, record.attempts, record.args, record.created_at, record.history) == (
        "weird",
        0,
        None,
        None,
        (),
    )
    assert record.unreadable == {"args": "not valid JSON (Expecting property name enclosed "
                                 "in double quotes): '{bad'"}  # fmt: skip


def test_dumps_refuses_a_lone_surrogate_by_naming_the_argument():
    with pytest.raises(SerializationError, match="args contains a lone surrogate"):
        dumps(["\ud800"], what="args")


@pytest.mark.parametrize("cursor", ["nan:x", "inf:x", "-inf:y", "abc:z"])
def test_a_non_finite_or_garbage_cursor_is_a_validation_error(cursor):
    from taskqueue.broker.reads import parse_cursor
    from taskqueue.errors import ValidationError

    with pytest.raises(ValidationError, match="cursor"):
        parse_cursor(cursor)


def test_redis_refusals_become_broker_unavailable():
    import redis

    from taskqueue.broker.errors import translating
    from taskqueue.errors import BrokerUnavailable, DamagedKey

    @translating
    def refuse(message):
        raise redis.ResponseError(message)

    for message in (
        "OOM command not allowed when used memory > 'maxmemory'.",
        "LOADING Redis is loading",
    ):
        with pytest.raises(BrokerUnavailable, match=message.split()[0]):
            refuse(message)
    with pytest.raises(DamagedKey, match="wrong type"):  # a clear error, not a crash
        refuse("WRONGTYPE Operation against a key holding the wrong kind of value")
    with pytest.raises(redis.ResponseError, match="syntax"):
        refuse("ERR syntax error")


def test_a_schedules_next_tick_reads_its_cron_in_the_given_time_zone():
    nightly = Schedule("nightly", "app.tasks.report", "0 3 * * *")
    noon_utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    tick = nightly.next_after(noon_utc, ZoneInfo("Europe/Paris"))
    assert tick == datetime(2026, 1, 2, 2, tzinfo=UTC)  # 03:00 in Paris, winter time


@pytest.mark.parametrize(
    "spec", [{"task": "app.tasks.x", "cron": "61 * * * *"}, {"cron": "* * * * *"}, "0 3 * * *"]
)
def test_a_periodic_setting_without_a_task_and_a_valid_cron_is_refused(spec):
    with pytest.raises(ConfigurationError, match=r"'nightly'.* needs 'task' and a valid 'cron'"):
        schedules({"nightly": spec})


def test_a_periodic_setting_becomes_a_schedule_with_its_arguments():
    spec = {"task": "app.tasks.x", "cron": "*/5 * * * *", "args": [1], "queue": "low"}
    (found,) = [s for s in schedules({"every5": spec}) if s.name == "every5"]
    assert found == Schedule("every5", "app.tasks.x", "*/5 * * * *", "low", [1], {})


def test_a_new_task_id_is_a_random_version_4_uuid_in_its_usual_text():
    ids = [new_task_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text  # lower-case hex, 8-4-4-4-12
    assert {text[14] for text in ids} == {"4"}
    assert {text[19] for text in ids} == set("89ab")  # every variant value occurs
