"""Flow-control limits in plain Python (taskqueue/limits.py): how a rate and a
concurrency limit are written, parsed and refused, and how @task declares them."""

import pytest

from taskqueue.broker.limit_ops import (
    QUEUE_SCOPE,
    decode_concurrency,
    decode_rate,
    encode_rate,
    limit_fields,
    scope_of,
)
from taskqueue.definition import task
from taskqueue.errors import ValidationError
from taskqueue.limits import (
    MAX_BURST,
    MAX_CONCURRENCY,
    MAX_COUNT,
    Limit,
    Rate,
    check_burst,
    check_concurrency,
    limit_from,
    parse_rate,
    settings_limits,
    task_limit,
)
from taskqueue.registry import registry


@pytest.mark.parametrize(
    ("text", "count", "period_ms"),
    [
        ("100/s", 100, 1000),
        ("3/m", 3, 60_000),
        ("1000/h", 1000, 3_600_000),
        ("10/30s", 10, 30_000),
        ("2/d", 2, 86_400_000),
        (" 5 / 2 m ", 5, 120_000),
        (f"{MAX_COUNT}/s", MAX_COUNT, 1000),
    ],
)
def test_parse_rate_reads_count_and_period(text, count, period_ms):
    assert parse_rate(text) == Rate(count, period_ms, 1)


def test_a_plain_int_is_a_rate_per_second():
    assert parse_rate(10) == Rate(10, 1000, 1)


def test_the_burst_defaults_to_one_and_is_kept_when_given():
    assert parse_rate("10/s").burst == 1
    assert parse_rate("10/s", 7) == Rate(10, 1000, 7)
    assert parse_rate(5, MAX_BURST).burst == MAX_BURST


@pytest.mark.parametrize("text", ["100/s", "3/m", "1000/h", "10/30s", "1/d", "7/90s", "4/2h"])
def test_str_of_a_rate_parses_back_to_the_same_rate(text):
    rate = parse_rate(text, 4)
    assert str(rate) == text
    assert parse_rate(str(rate), 4) == rate


def test_encode_rate_is_what_the_claim_script_reads_and_decode_rate_reads_it_back():
    rate = parse_rate("10/30s", 3)
    assert encode_rate(rate) == "10/30000/3"
    assert decode_rate(encode_rate(rate)) == rate
    assert encode_rate(None) == ""
    assert rate.per_second == pytest.approx(10 / 30)


@pytest.mark.parametrize(
    "text",
    [
        "-1/s",
        "0/s",
        "1/0s",
        "0/0s",
        -5,
        0,
        f"{MAX_COUNT + 1}/s",
        "1/2d",
        "1/25h",
        "9" * 400 + "/s",
        "1/" + "9" * 400 + "s",
        "10/w",
        "10/ms",
        "10/sec",
        "10 per second",
        "10",
        "/s",
        "1.5/s",
        "",
        "10/s/2",
        None,
        1.5,
        b"10/s",
        ["10/s"],
        True,
        False,
    ],
)
def test_parse_rate_refuses_malformed_input_naming_the_rate_field(text):
    with pytest.raises(ValidationError) as caught:
        parse_rate(text)
    assert caught.value.field == "rate"


@pytest.mark.parametrize("burst", [0, -1, MAX_BURST + 1, True, False, 1.0, "3", None])
def test_a_malformed_burst_is_refused_naming_the_burst_field(burst):
    with pytest.raises(ValidationError) as caught:
        check_burst(burst)
    assert caught.value.field == "burst"
    if burst is not None:  # None is parse_rate's "default"
        with pytest.raises(ValidationError) as caught:
            parse_rate("10/s", burst)
        assert caught.value.field == "burst"


@pytest.mark.parametrize("n", [1, 2, MAX_CONCURRENCY])
def test_check_concurrency_accepts_one_to_the_maximum(n):
    assert check_concurrency(n) == n


@pytest.mark.parametrize("n", [0, -1, MAX_CONCURRENCY + 1, True, False, 2.0, "2", None])
def test_check_concurrency_refuses_the_rest_naming_the_concurrency_field(n):
    with pytest.raises(ValidationError) as caught:
        check_concurrency(n)
    assert caught.value.field == "concurrency"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10/1000/1", Rate(10, 1000, 1)),
        ("", None),
        (None, None),
        ("abc", None),
        ("0/0/0", None),
        ("10/0/1", None),
        ("10/1000", None),
        ("-5/1000/1", None),
        ("1/1000/1/1", None),
    ],
)
def test_decode_rate_reads_none_for_missing_or_malformed_values(value, expected):
    assert decode_rate(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3), ("", None), (None, None), ("0", None), ("-5", None)]
)
def test_decode_concurrency_reads_none_for_missing_or_malformed_values(value, expected):
    assert decode_concurrency(value) == expected


def test_limit_fields_are_what_redis_keeps_with_empty_for_no_limit():
    assert limit_fields(scope_of("app.send"), Limit(parse_rate("3/m", 2), 4)) == {
        "rate:task:app.send": "3/60000/2",
        "conc:task:app.send": "4",
    }
    assert limit_fields(scope_of(None), Limit(max_backlog=9)) == {
        "rate:queue": "",
        "conc:queue": "",
        "quota:queue": "9",
        "quota:tenant": "",
    }
    assert scope_of(None) == QUEUE_SCOPE


def test_limit_from_reads_every_part_and_allows_any_to_be_missing():
    assert limit_from({"rate": "100/s", "burst": 10, "concurrency": 5}, "here") == Limit(
        Rate(100, 1000, 10), 5
    )
    assert limit_from({}, "here") == Limit()
    assert limit_from({"rate": None, "concurrency": None}, "here") == Limit()
    assert limit_from({"concurrency": 2}, "here") == Limit(None, 2)


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (["rate"], None, "must be a dict"),
        ({"rate": "1/s", "speed": 3}, None, "unknown key(s) speed"),
        ({"burst": 3}, "burst", "a burst needs a rate"),
        ({"rate": "fast"}, "rate", "not a rate"),
        ({"rate": "1/s", "burst": 0}, "burst", "burst must be"),
        ({"concurrency": 0}, "concurrency", "concurrency limit must be"),
    ],
)
def test_limit_from_refuses_a_malformed_spec_and_names_where(spec, field, words):
    with pytest.raises(ValidationError) as caught:
        limit_from(spec, "LIMITS['x']")
    assert caught.value.field == field
    assert words in str(caught.value)
    if field is None:
        assert "LIMITS['x']" in str(caught.value)


def test_settings_limits_reads_each_queue_as_its_queue_scope():
    assert settings_limits({"emails": {"rate": "100/m", "concurrency": 5}}) == {
        "emails": Limit(Rate(100, 60_000, 1), 5)
    }
    assert settings_limits({}) == {}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (["emails"], 'TASKQUEUE["LIMITS"] must be a dict'),
        ({"emails": "100/m"}, "TASKQUEUE[\"LIMITS\"]['emails'] must be a dict"),
        ({"emails": {"rate": "x"}}, "not a rate"),
        ({"Bad Queue!": {"rate": "1/s"}}, "Bad Queue!"),
    ],
)
def test_settings_limits_refuses_malformed_settings(raw, words):
    with pytest.raises(ValidationError) as caught:
        settings_limits(raw)
    assert words in str(caught.value)


# -- @task(rate_limit=..., rate_burst=..., concurrency_limit=...) ----------------------


@pytest.fixture
def declare():
    """Declare a test task with options; unregistered afterwards."""
    names = []

    def make(name, **options):
        t = task(name=name, **options)(lambda: None)
        names.append(name)
        return t

    yield make
    for name in names:
        if name in registry:
            registry.unregister(name)


def test_task_limits_are_read_from_the_task_options(declare):
    t = declare("tests.units.limited", rate_limit="3/m", rate_burst=2, concurrency_limit=4)
    assert task_limit(t) == Limit(Rate(3, 60_000, 2), 4)
    free = declare("tests.units.free")
    assert task_limit(free) == Limit()
    per_second = declare("tests.units.celery_style", rate_limit=10)
    assert task_limit(per_second).rate == Rate(10, 1000, 1)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rate_burst": 3}, "rate_burst"),
        ({"rate_limit": "often"}, "rate"),
        ({"rate_limit": 0}, "rate"),
        ({"rate_limit": True}, "rate"),
        ({"rate_limit": "1/0s"}, "rate"),
        ({"rate_limit": "10/s", "rate_burst": 0}, "burst"),
        ({"rate_limit": "10/s", "rate_burst": MAX_BURST + 1}, "burst"),
        ({"concurrency_limit": 0}, "concurrency"),
        ({"concurrency_limit": MAX_CONCURRENCY + 1}, "concurrency"),
        ({"concurrency_limit": "2"}, "concurrency"),
    ],
)
def test_task_refuses_malformed_limit_options_and_registers_nothing(declare, options, field):
    with pytest.raises(ValidationError) as caught:
        declare("tests.units.refused", **options)
    assert caught.value.field == field
    assert "tests.units.refused" not in registry
