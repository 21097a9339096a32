"""The rig's own parts, without workers: the ledger survives a torn write, the sizes
refuse a typo, the oracle counts what it says it counts."""

import os
import subprocess
import sys

import pytest

from . import ledger as ledger_module
from .ledger import Ledger
from .oracle import check
from .rig import ROOT, Producer


def test_the_ledger_ignores_a_torn_last_line(tmp_path):
    book = Ledger(tmp_path)
    (tmp_path / "ledger-1-aa.jsonl").write_bytes(
        b'{"e":"start","id":"x","a":1,"pid":1,"t":1.0}\n{"e":"end","id":"x","a":1,"pid":1,"t"'
    )
    assert [(e.kind, e.id) for e in book.read()] == [("start", "x")]
    assert book.runs()["x"][0].ended is None


def test_a_malformed_line_before_the_last_is_an_error(tmp_path):
    (tmp_path / "ledger-1-aa.jsonl").write_bytes(b"garbage\n" + b'{"e":"start"}\n')
    with pytest.raises(ValueError, match="malformed ledger line 1"):
        Ledger(tmp_path).read()


def test_the_writer_appends_one_line_per_record(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger_module.ENV, str(tmp_path))
    ledger_module.write("start", "x", 1, "work")
    ledger_module.write("end", "x", 1, "work", ok=True)
    assert Ledger(tmp_path).completions() == {"x": 1}


def test_an_unknown_size_is_refused():
    env = os.environ | {"FAULTS_SIZE": "huge"}
    proc = subprocess.run(
        [sys.executable, "-c", "import tests.faults.sizes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "FAULTS_SIZE='huge' is not a size: use one of ci, full" in proc.stderr


def test_the_oracle_reports_lost_phantom_and_duplicates(tmp_path, fault_redis, tq_prefix):
    producer = Producer()
    producer.acked += ["lost-one", "twice"]
    producer.queues.add("default")
    book = Ledger(tmp_path)
    lines = [
        '{"e":"start","id":"twice","a":1,"pid":1,"t":1.0}',
        '{"e":"end","id":"twice","a":1,"pid":1,"t":2.0,"ok":true}',
        '{"e":"start","id":"twice","a":2,"pid":2,"t":3.0}',
        '{"e":"end","id":"twice","a":2,"pid":2,"t":4.0,"ok":true}',
        '{"e":"start","id":"ghost","a":1,"pid":1,"t":1.0}',
        '{"e":"end","id":"ghost","a":1,"pid":1,"t":2.0,"ok":true}',
    ]
    (tmp_path / "ledger-1-aa.jsonl").write_text("\n".join(lines) + "\n")
    report = check(fault_redis.client(), tq_prefix, producer, book)
    assert (report.lost, report.phantom, report.duplicates) == (
        ["lost-one"],
        ["ghost"],
        {"twice": 2},
    )
    with pytest.raises(AssertionError, match="1 lost, 1 phantom, 1 extra completions"):
        report.assert_clean()
    report.lost, report.phantom = [], []
    report.assert_clean(max_duplicates=1)
