"""Per-app files under faults: a failed write leaves no torn line, a torn tail is repaired on open."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import orjson
import pytest

from otel_logging.record import RecordBatch
from otel_logging.sinks import SinkError, files
from otel_logging.sinks.files import FileSink, RotationPolicy


def rec(i: int) -> dict:
    return {"@timestamp": "2026-01-01T00:00:00.000000000Z", "body": f"line {i} " + "x" * 200, "seq": i}


def seqs(path: Path) -> list[int]:
    return [orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()]


def disk_fills_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """os.write writes at most ``budget`` more bytes in total, then fails with ENOSPC (a full disk)."""
    real_write = os.write
    left = [budget]

    def write(fd: int, data: bytes | memoryview) -> int:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = real_write(fd, bytes(data[: left[0]]))
        left[0] -= written
        return written

    monkeypatch.setattr(files.os, "write", write)


def test_a_write_that_fails_part_way_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = FileSink(tmp_path)
    sink.write(RecordBatch.from_records({"app": [rec(0), rec(1)]}))
    before = (tmp_path / "app.jsonl").read_bytes()
    disk_fills_after(monkeypatch, 300)  # the next request's lines fit only in part
    with pytest.raises(SinkError, match=r"app\.jsonl.*No space left"):
        sink.write(RecordBatch.from_records({"app": [rec(2), rec(3), rec(4)]}))
    assert (tmp_path / "app.jsonl").read_bytes() == before  # no partial line left behind
    monkeypatch.undo()  # space returns: the same sink goes on without a restart
    sink.write(RecordBatch.from_records({"app": [rec(2), rec(3), rec(4)]}))
    sink.close()
    assert seqs(tmp_path / "app.jsonl") == [0, 1, 2, 3, 4]


def test_a_torn_last_line_is_removed_when_the_file_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    complete = orjson.dumps(rec(0)) + b"\n" + orjson.dumps(rec(1)) + b"\n"
    path.write_bytes(complete + orjson.dumps(rec(2))[:50])  # a crash in the middle of a write
    sink = FileSink(tmp_path)
    sink.write(RecordBatch.from_records({"app": [rec(3)]}))
    sink.close()
    assert seqs(path) == [0, 1, 3]


def test_a_file_that_is_one_torn_line_becomes_empty_then_grows(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_bytes(b'{"seq": 1, "body": "' + b"y" * 200_000)  # longer than one block of the backward scan
    sink = FileSink(tmp_path)
    sink.write(RecordBatch.from_records({"app": [rec(7)]}))
    sink.close()
    assert seqs(path) == [7]


def test_complete_files_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_bytes(orjson.dumps(rec(0)) + b"\n")
    sink = FileSink(tmp_path)
    sink.write(RecordBatch.from_records({"app": [rec(1)]}))
    sink.close()
    assert seqs(path) == [0, 1]


def test_a_failed_rotation_does_not_fail_the_records_already_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileSink(tmp_path, RotationPolicy(max_bytes=100))

    def no_rename(src: object, dst: object) -> None:
        raise OSError(errno.EACCES, "permission denied")

    monkeypatch.setattr(files.os, "replace", no_rename)
    sink.write(RecordBatch.from_records({"app": [rec(0)]}))  # written, rotation fails: the write still succeeds
    monkeypatch.undo()
    sink.write(RecordBatch.from_records({"app": [rec(1)]}))  # the file is reopened and rotation works again
    sink.close()
    written = [s for p in sorted(tmp_path.iterdir()) for s in seqs(p)]
    assert sorted(written) == [0, 1]


def test_a_request_failing_on_its_second_app_leaves_the_first_apps_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileSink(tmp_path)
    sink.write(RecordBatch.from_records({"a": [rec(0)], "b": [rec(1)]}))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    disk_fills_after(monkeypatch, 400)  # room for app a's lines, not for app b's
    with pytest.raises(SinkError, match=r"b\.jsonl"):
        sink.write(RecordBatch.from_records({"a": [rec(2)], "b": [rec(3), rec(4)]}))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    sink.write(RecordBatch.from_records({"a": [rec(2)], "b": [rec(3), rec(4)]}))  # the client's retry: each record once
    sink.close()
    assert seqs(tmp_path / "a.jsonl") == [0, 2] and seqs(tmp_path / "b.jsonl") == [1, 3, 4]


def test_lines_that_others_appended_after_are_not_taken_back(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    app_file = sink._app_file("app")
    with app_file.lock:
        before = app_file.write(orjson.dumps(rec(0)) + b"\n")
        app_file.write(orjson.dumps(rec(1)) + b"\n")  # another request's lines, acknowledged
        assert not app_file.take_back(before, len(orjson.dumps(rec(0))) + 1)
    sink.close()
    assert seqs(tmp_path / "app.jsonl") == [0, 1]
