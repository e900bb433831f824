"""Per-app files: one line per record, rotation by size and time, retention, compression."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import orjson
import pytest

from otel_logging.record import RecordBatch
from otel_logging.sinks import SinkError
from otel_logging.sinks.files import FileSink, RotationPolicy


def rec(i: int, service: str = "app") -> dict:
    return {"@timestamp": "2026-01-01T00:00:00.000000000Z", "body": f"line {i}", "service": service, "seq": i}


def lines(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return [orjson.loads(line) for line in f]


def test_records_go_to_their_app_file(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    sink.write(
        RecordBatch.from_records({"a": [rec(1, "a"), rec(2, "a")], "b": [rec(3, "b")], "../evil": [rec(4, "../evil")]})
    )
    sink.close()
    assert [r["seq"] for r in lines(tmp_path / "a.jsonl")] == [1, 2]
    assert [r["seq"] for r in lines(tmp_path / "b.jsonl")] == [3]
    created = sorted(p.name for p in tmp_path.iterdir())
    assert len(created) == 3 and all(p.endswith(".jsonl") for p in created)
    assert not (tmp_path.parent / "evil.jsonl").exists()


def test_rotation_by_size_with_retention_count(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, RotationPolicy(max_bytes=200, retain_count=2))
    for i in range(20):
        sink.write(RecordBatch.from_records({"app": [rec(i)]}))
    sink.close()
    rotated = sorted(p for p in tmp_path.iterdir() if p.name != "app.jsonl")
    assert len(rotated) == 2
    assert all(p.name.startswith("app.") and p.name.endswith(".jsonl") for p in rotated)
    kept = [r["seq"] for p in rotated for r in lines(p)] + [r["seq"] for r in lines(tmp_path / "app.jsonl")]
    assert kept == sorted(kept) and kept[-1] == 19  # newest kept, oldest pruned, order preserved


def test_rotation_by_time_and_gzip(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, RotationPolicy(interval_s=3600, compress=True))
    sink.write(RecordBatch.from_records({"app": [rec(1)]}))
    app_file = sink._app_file("app")
    app_file._opened_at -= 7200  # the file has been open for two hours (a fake clock)
    sink.rotate_due()
    sink.write(RecordBatch.from_records({"app": [rec(2)]}))
    from tests.support.procs import wait_for

    gz = wait_for(lambda: [p for p in tmp_path.iterdir() if p.name.endswith(".jsonl.gz")], what="compressed file")
    assert [r["seq"] for r in lines(gz[0])] == [1]
    assert [r["seq"] for r in lines(tmp_path / "app.jsonl")] == [2]
    sink.close()


def test_retention_by_age(tmp_path: Path) -> None:
    old = tmp_path / "app.20200101T000000.000000Z.jsonl"
    old.write_text("{}\n")
    os.utime(old, (time.time() - 10 * 86400,) * 2)
    other_app = tmp_path / "application.20200101T000000.000000Z.jsonl"
    other_app.write_text("{}\n")
    os.utime(other_app, (time.time() - 10 * 86400,) * 2)
    sink = FileSink(tmp_path, RotationPolicy(max_bytes=10, retain_age_s=86400))
    sink.write(RecordBatch.from_records({"app": [rec(1)]}))
    sink.close()
    assert not old.exists()
    assert other_app.exists()  # another app's files are not this app's retention


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_directory_is_a_retryable_error(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="cannot write"):
            sink.write(RecordBatch.from_records({"app": [rec(1)]}))
    finally:
        tmp_path.chmod(0o700)


def test_unwritable_file_is_a_retryable_error(tmp_path: Path) -> None:
    (tmp_path / "app.jsonl").mkdir()  # a directory where the file should be: open() fails even for root
    sink = FileSink(tmp_path)
    with pytest.raises(SinkError, match=r"app\.jsonl"):
        sink.write(RecordBatch.from_records({"app": [rec(1)]}))
    sink.write(RecordBatch.from_records({"other": [rec(2)]}))  # other apps are unaffected
    assert lines(tmp_path / "other.jsonl")[0]["seq"] == 2
