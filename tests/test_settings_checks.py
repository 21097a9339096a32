"""The TASKQUEUE setting is validated by system checks with ids and hints."""

import pytest
from django.core import checks

from taskqueue import conf
from taskqueue.errors import ConfigurationError


def found() -> list:
    """taskqueue's check messages, W003 left out: the test modules and
    tests/support/tasks.py define tasks in this process only (tests/test_task_imports.py
    tests W003)."""
    return [
        e
        for e in checks.run_checks(tags=["taskqueue"])
        if e.id.startswith("taskqueue.") and e.id != "taskqueue.W003"
    ]


def check_ids(settings, value):
    settings.TASKQUEUE = value
    return [e.id for e in found()]


def test_the_default_project_settings_pass_the_checks():
    assert found() == []


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ([], "taskqueue.E001"),
        ({"RETRIES": 3}, "taskqueue.E002"),
        ({"REDIS_URL": "http://x"}, "taskqueue.E003"),
        ({"PREFIX": "a{b}"}, "taskqueue.E004"),
        ({"QUEUES": ["Bad Name"]}, "taskqueue.E005"),
        ({"QUEUES": []}, "taskqueue.E005"),
        ({"QUEUES": ["default\n"]}, "taskqueue.E005"),
        ({"PREFIX": "tq\n"}, "taskqueue.E004"),
        ({"DEFAULT_QUEUE": "../x"}, "taskqueue.E006"),
        ({"DEFAULT_QUEUE": "default\n"}, "taskqueue.E006"),
        ({"DEFAULT_PRIORITY": 11}, "taskqueue.E007"),
        ({"DEFAULT_PRIORITY": True}, "taskqueue.E007"),
        ({"MAX_RETRIES": -1}, "taskqueue.E008"),
        ({"DEAD_MAX": 0}, "taskqueue.E008"),
        ({"LEASE_SECONDS": 0}, "taskqueue.E009"),
        ({"TIMEOUT": "30"}, "taskqueue.E009"),
        ({"PERIODIC": []}, "taskqueue.E010"),
        (
            {"PERIODIC": {"nightly": {"task": "app.tasks.x", "cron": "61 * * * *"}}},
            "taskqueue.E010",
        ),
        ({"PERIODIC": {"nightly": {"task": "app.tasks.x", "cron": 5}}}, "taskqueue.E010"),
        ({"PERIODIC": {"nightly": {"cron": "*/5 * * * *"}}}, "taskqueue.E010"),
    ],
)
def test_a_bad_setting_is_reported_by_a_check_with_its_id(settings, value, check_id):
    assert check_id in check_ids(settings, value)


def test_a_periodic_schedule_with_a_task_and_a_valid_cron_passes_the_checks(settings):
    periodic = {"nightly": {"task": "app.tasks.x", "cron": "*/5 * * * *"}}
    assert check_ids(settings, {"PERIODIC": periodic}) == []


def test_an_unknown_option_check_lists_the_known_ones(settings):
    settings.TASKQUEUE = {"RETRIES": 3}
    (error,) = [e for e in checks.run_checks(tags=["taskqueue"]) if e.id == "taskqueue.E002"]
    assert "RETRIES" in error.msg and "MAX_RETRIES" in error.hint


def test_building_the_config_from_a_bad_setting_raises_a_clear_error():
    with pytest.raises(ConfigurationError, match=r"taskqueue.E007: .* not 0"):
        conf.build({"DEFAULT_PRIORITY": 0})


def test_timeout_none_means_no_limit():
    assert conf.build({"TIMEOUT": None}).TIMEOUT is None
