"""A request sent twice (a gateway replaying its queue after a crash) is written once to the app's file."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from otel_logging.record import RecordBatch
from otel_logging.sinks import SinkError
from otel_logging.sinks.files import RECENT_WRITES, FileSink
from otel_logging.sinks.replay_memory import COMPACT_AFTER, RECORD_BYTES
from tests.support.logs import logger_records


def lines(service: str, first: int, count: int) -> bytes:
    return b"".join(
        b'{"@timestamp":"2026-01-01T00:00:00.%09dZ","service":"%s","body":"n %d"}\n' % (i, service.encode(), i)
        for i in range(first, first + count)
    )


def batch(**by_service: bytes) -> RecordBatch:
    return RecordBatch.from_lines(by_service, sum(v.count(b"\n") for v in by_service.values()))


def test_the_same_request_twice_is_written_once_and_counted(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, drop_replays=True)
    sink.write(batch(a=lines("a", 0, 5), b=lines("b", 0, 2)))
    sink.write(batch(a=lines("a", 5, 5)))
    sink.write(batch(a=lines("a", 0, 5), b=lines("b", 0, 2)))  # the first request again
    sink.close()
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 10)
    assert (tmp_path / "b.jsonl").read_bytes() == lines("b", 0, 2)
    assert sink.duplicates_dropped == 7
    assert list(sink.metric_samples()) == [("otel_logging_file_duplicates_dropped_total", {}, 7)]


def test_different_records_and_old_requests_are_written(tmp_path: Path) -> None:
    """Only byte-identical writes among the last RECENT_WRITES of that app are dropped."""
    sink = FileSink(tmp_path, drop_replays=True)
    sink.write(batch(a=lines("a", 0, 1)))
    for k in range(1, RECENT_WRITES + 1):
        sink.write(batch(a=lines("a", k, 1)))
    sink.write(batch(a=lines("a", 0, 1)))  # out of the window now: written again
    sink.write(batch(b=lines("a", 0, 1)))  # the same bytes for another app: its own file
    sink.close()
    assert (tmp_path / "a.jsonl").read_bytes().count(b"\n") == RECENT_WRITES + 2
    assert (tmp_path / "b.jsonl").exists()
    assert sink.duplicates_dropped == 0


@pytest.mark.parametrize("restart", [False, True], ids=["same process", "after a restart"])
def test_a_request_taken_back_is_written_when_it_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restart: bool
) -> None:
    """a's lines are written, b's write fails: a's are taken back, and so is their digest (in the journal too,
    so a retry after a restart is written, not dropped as a duplicate)."""
    sink = FileSink(tmp_path, drop_replays=True)
    request = batch(a=lines("a", 0, 3), b=lines("b", 0, 3))
    real_append = sink._append

    def failing_for_b(service: str, data: bytes | memoryview) -> object:
        if service == "b":
            raise SinkError("disk full")
        return real_append(service, data)

    monkeypatch.setattr(sink, "_append", failing_for_b)
    with pytest.raises(SinkError):
        sink.write(request)
    monkeypatch.undo()
    if restart:
        sink.close()
        sink = FileSink(tmp_path, drop_replays=True)
    sink.write(request)  # the client's retry: not a duplicate, a's lines were taken back
    sink.close()
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 3)
    assert (tmp_path / "b.jsonl").read_bytes() == lines("b", 0, 3)
    assert sink.duplicates_dropped == 0


def test_off_by_default_two_equal_requests_are_both_written(tmp_path: Path) -> None:
    """A sender with a coarse clock can send two genuinely equal records in two requests: both are kept."""
    sink = FileSink(tmp_path)
    sink.write(batch(a=lines("a", 0, 1)))
    sink.write(batch(a=lines("a", 0, 1)))
    sink.close()
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 1) * 2
    assert sink.duplicates_dropped == 0


def test_a_write_another_request_was_skipped_for_is_not_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Request R writes a; while it writes b, its resend R' (a gateway that timed out) arrives: a is skipped as
    R's, b is written, R' is acknowledged. Then R fails on b and is never sent again (R' was acknowledged).
    a must stay written: taking it back would lose it (the code before took it back)."""
    sink = FileSink(tmp_path, drop_replays=True)
    request = batch(a=lines("a", 0, 3), b=lines("b", 0, 3))
    real_append = sink._append
    resent = []

    def resend_then_fail_for_b(service: str, data: bytes | memoryview) -> object:
        if service == "b" and not resent:
            resent.append(True)
            sink.write(request)  # R', whole, acknowledged
            raise SinkError("disk full")  # R's own write of b
        return real_append(service, data)

    monkeypatch.setattr(sink, "_append", resend_then_fail_for_b)
    with pytest.raises(SinkError):
        sink.write(request)
    sink.close()
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 3)
    assert (tmp_path / "b.jsonl").read_bytes() == lines("b", 0, 3)


def test_duplicates_of_apps_written_at_once_are_all_counted(tmp_path: Path) -> None:
    """Each app's write holds only that app's lock: the shared count must not lose the increments that race."""
    sink = FileSink(tmp_path, drop_replays=True)
    apps, resends, per_request = 8, 200, 2000
    requests = [batch(**{f"app{k}": lines(f"app{k}", 0, per_request)}) for k in range(apps)]
    for request in requests:
        sink.write(request)
    start = threading.Barrier(apps)

    def resend(request: RecordBatch) -> None:
        start.wait()
        for _ in range(resends):
            sink.write(request)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: without the lock, counts are lost
    try:
        threads = [threading.Thread(target=resend, args=(request,)) for request in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    sink.close()
    assert sink.duplicates_dropped == apps * resends * per_request


def test_a_request_written_before_a_restart_is_dropped_after_it(tmp_path: Path) -> None:
    """A receiver killed between its write and its reply gets the request again once restarted: the digests
    of its last writes are in ``_replays/<app>.digests`` and read back, so that request is not written twice."""
    killed = FileSink(tmp_path, drop_replays=True)
    killed.write(batch(a=lines("a", 0, 5)))
    killed.write(batch(a=lines("a", 5, 5), b=lines("b", 0, 2)))
    # no close: a kill -9 leaves what the OS has (the journal is appended by the same write path)
    restarted = FileSink(tmp_path, drop_replays=True)
    restarted.write(batch(a=lines("a", 5, 5), b=lines("b", 0, 2)))  # the unanswered request, resent
    restarted.write(batch(a=lines("a", 10, 1)))
    restarted.close()
    killed.close()
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 11)
    assert (tmp_path / "b.jsonl").read_bytes() == lines("b", 0, 2)
    assert restarted.duplicates_dropped == 7
    assert sorted(p.name for p in (tmp_path / "_replays").iterdir()) == ["a.digests", "b.digests"]


def test_the_journal_stays_small_and_keeps_the_last_writes(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, drop_replays=True)
    writes = COMPACT_AFTER + RECENT_WRITES + 7
    for k in range(writes):
        sink.write(batch(a=lines("a", k, 1)))
    sink.close()
    journal = tmp_path / "_replays" / "a.digests"
    assert journal.stat().st_size <= COMPACT_AFTER * RECORD_BYTES
    restarted = FileSink(tmp_path, drop_replays=True)
    restarted.write(batch(a=lines("a", writes - RECENT_WRITES, 1)))  # the oldest still remembered: dropped
    restarted.write(batch(a=lines("a", writes - RECENT_WRITES - 1, 1)))  # one before: forgotten, written
    restarted.close()
    assert restarted.duplicates_dropped == 1
    assert (tmp_path / "a.jsonl").read_bytes().count(b"\n") == writes + 1


def test_a_record_cut_short_in_the_journal_is_ignored(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, drop_replays=True)
    sink.write(batch(a=lines("a", 0, 2)))
    sink.close()
    journal = tmp_path / "_replays" / "a.digests"
    with open(journal, "ab") as f:
        f.write(b"+\x01\x02")  # a machine crash mid-record
    restarted = FileSink(tmp_path, drop_replays=True)
    restarted.write(batch(a=lines("a", 0, 2)))
    restarted.write(batch(a=lines("a", 2, 1)))
    restarted.close()
    assert restarted.duplicates_dropped == 2
    assert journal.stat().st_size == 2 * RECORD_BYTES


def test_an_unusable_journal_leaves_the_memory_in_memory(tmp_path: Path) -> None:
    (tmp_path / "_replays").write_text("not a directory")
    with logger_records("otel_logging.sinks.files", logging.WARNING) as records:
        sink = FileSink(tmp_path, drop_replays=True)
        sink.write(batch(a=lines("a", 0, 2)))
        sink.write(batch(a=lines("a", 0, 2)))
        sink.close()
    assert sink.duplicates_dropped == 2
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 2)
    assert any("remembered in memory only" in r.getMessage() for r in records)


def test_an_app_file_closed_to_open_others_still_drops_its_replays(tmp_path: Path) -> None:
    """More apps than open files: the app's file is closed and opened again, its digests come back."""
    sink = FileSink(tmp_path, drop_replays=True, max_open_files=1)
    sink.write(batch(a=lines("a", 0, 2)))
    sink.write(batch(b=lines("b", 0, 2)))  # closes a's file
    sink.write(batch(a=lines("a", 0, 2)))
    sink.close()
    assert sink.duplicates_dropped == 2
    assert (tmp_path / "a.jsonl").read_bytes() == lines("a", 0, 2)
