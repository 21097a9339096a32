"""The TASKQUEUE_API setting: defaults, and system checks (api.E001...) for bad values."""

import pytest
from django.core import checks

from api.conf import DEFAULT_MAX_BODY_BYTES, api_settings


def api_errors() -> list[str]:
    return [e.id for e in checks.run_checks(tags=["api"])]


def test_the_defaults_pass_the_checks(settings):
    del settings.TASKQUEUE_API
    assert api_errors() == []
    assert api_settings().MAX_BODY_BYTES == DEFAULT_MAX_BODY_BYTES
    assert api_settings().METRICS_PUBLIC_NETWORKS == ()


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ([], "api.E001"),
        ({"MAX_BODDY_BYTES": 10}, "api.E002"),
        ({"MAX_BODY_BYTES": 0}, "api.E003"),
        ({"MAX_BODY_BYTES": "1MB"}, "api.E003"),
        ({"METRICS_PUBLIC_NETWORKS": "10.0.0.0/8"}, "api.E004"),
        ({"METRICS_PUBLIC_NETWORKS": ["10.0.0.300/8"]}, "api.E004"),
    ],
)
def test_bad_values_are_reported_and_the_api_runs_on_defaults(settings, value, check_id):
    settings.TASKQUEUE_API = value
    assert check_id in api_errors()
    assert api_settings().METRICS_PUBLIC_NETWORKS == ()  # never open by accident


def test_an_open_network_matches_only_its_addresses(settings):
    settings.TASKQUEUE_API = {"METRICS_PUBLIC_NETWORKS": ["10.0.5.0/24", "::1/128"]}
    opened = api_settings()
    assert opened.metrics_public_for("10.0.5.7") and opened.metrics_public_for("::1")
    assert not opened.metrics_public_for("10.0.6.1")
    assert not opened.metrics_public_for(None) and not opened.metrics_public_for("junk")


def test_a_server_body_cap_below_the_apis_is_warned_about(settings):
    settings.TASKQUEUE_API = {"MAX_BODY_BYTES": 2_000_000}
    settings.WEB_MAX_BODY_BYTES = 1_114_112
    assert "api.W001" in api_errors()
    settings.WEB_MAX_BODY_BYTES = 2_100_000
    assert "api.W001" not in api_errors()
