"""Archiving 100,000 finished tasks holds one batch in memory, not the whole backlog."""

import time
import tracemalloc

import pytest

from taskqueue import archive
from taskqueue.models import TaskArchive

from . import finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
BATCH = 1000


def archive_and_measure() -> tuple[int, int]:
    """(rows written, peak bytes allocated by Python while archiving)."""
    tracemalloc.start()
    try:
        written = archive.archive_once(batch=BATCH)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return written, peak


def test_archiving_100000_tasks_peaks_no_higher_than_archiving_2000(broker):
    an_hour_ago = broker.time_ms() - 3_600_000
    ids = [f"bulk-{i:06d}" for i in range(102_000)]
    finished.write_finished(broker, "default", "dead", ids[:2000], first_score=an_hour_ago)
    small_written, small_peak = archive_and_measure()

    finished.write_finished(broker, "bulk", "dead", ids[2000:], first_score=an_hour_ago)
    started = time.monotonic()
    large_written, large_peak = archive_and_measure()
    elapsed = time.monotonic() - started

    assert (small_written, large_written) == (2000, 100_000)
    assert TaskArchive.objects.count() == 102_000
    # Memory follows the batch, not the backlog: 50 times the tasks, about the same peak
    # (holding all 100,000 rows would take well over 100 MB).
    assert large_peak < small_peak * 1.5 + 1_000_000, (small_peak, large_peak)
    assert large_peak < 20_000_000, large_peak
    print(f"archived 100,000 in {elapsed:.1f} s, peak {large_peak / 1e6:.1f} MB")
