"""The aggregation checkpoint: snapshot + journal, torn commits, only delivered state is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.ingest import checkpoint as checkpoint_module
from otel_logging.ingest.checkpoint import Checkpoints, FileState, OutputWrite, fingerprint_of
from otel_logging.record import RecordBatch
from otel_logging.sinks.files import FileSink


def state(ino: int, offset: int, head: bytes = b"2024-03-01 first line\n") -> FileState:
    return FileState(f"/logs/{ino}.log", 1, ino, fingerprint_of(head), len(head), offset, offset)


def test_commits_survive_a_restart_through_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    checkpoints = Checkpoints(path)
    checkpoints.commit(state(10, 100))
    checkpoints.commit(state(11, 5))
    checkpoints.commit(state(10, 250))
    assert not path.exists() and checkpoints.journal_path.read_bytes().count(b"\n") == 3
    reloaded = Checkpoints(path)  # as after kill -9: no close, no snapshot
    assert reloaded.lookup(1, 10, b"2024-03-01 first line\nmore").offset == 250  # type: ignore[union-attr]
    assert reloaded.lookup(1, 11, b"2024-03-01 first line\n").offset == 5  # type: ignore[union-attr]
    reloaded.close()
    assert path.exists() and checkpoints.journal_path.read_bytes() == b""
    assert Checkpoints(path).files["1:10"].offset == 250


def test_identity_needs_the_same_first_bytes(tmp_path: Path) -> None:
    checkpoints = Checkpoints(tmp_path / "ck.json")
    checkpoints.commit(state(10, 100))
    assert checkpoints.lookup(1, 10, b"2024-03-01 other line\n") is None  # inode reused by another file
    assert checkpoints.lookup(1, 10, b"2024-03") is None  # shorter than the fingerprint: rewritten
    assert checkpoints.lookup(2, 10, b"2024-03-01 first line\n") is None  # another device


def test_a_torn_last_commit_is_ignored_and_the_journal_restarts_clean(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    checkpoints = Checkpoints(path)
    checkpoints.commit(state(10, 100))
    with open(checkpoints.journal_path, "ab") as f:
        f.write(b'{"path": "/logs/10.log", "dev": 1, "ino": 10, "offs')
    reloaded = Checkpoints(path)
    assert reloaded.files["1:10"].offset == 100
    assert reloaded.journal_path.read_bytes() == b""  # compacted into the snapshot


def test_state_not_yet_delivered_is_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    checkpoints = Checkpoints(path)
    checkpoints.commit(state(10, 100))
    in_flight = state(10, 900)
    checkpoints.prepare(in_flight)  # the batch then fails to reach a sink: publish never happens
    checkpoints.close()
    assert Checkpoints(path).files["1:10"].offset == 100


def test_journal_is_compacted_periodically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_module, "COMPACT_EVERY", 10)
    path = tmp_path / "ck.json"
    checkpoints = Checkpoints(path)
    for ino in range(25):
        checkpoints.commit(state(ino, ino))
    assert checkpoints.journal_path.read_bytes().count(b"\n") == 5
    assert len(Checkpoints(path).files) == 25


def test_a_damaged_checkpoint_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="move both aside"):
        Checkpoints(path)


FIRST_LINE = b'{"n":0}\n'


def in_flight(tmp_path: Path) -> tuple[Path, FileSink, Checkpoints]:
    """A checkpoint at offset 100 of a file whose next batch (up to 900) is prepared, and a files sink
    whose ``app.jsonl`` holds one line of an earlier batch."""
    path = tmp_path / "ck.json"
    sink = FileSink(tmp_path / "out")
    sink.write(RecordBatch.from_lines({"app": FIRST_LINE}, 1))
    checkpoints = Checkpoints(path)
    checkpoints.commit(state(10, 100))
    checkpoints.prepare(state(10, 900))
    return path, sink, checkpoints


def intend(checkpoints: Checkpoints, sink: FileSink, batch: dict[str, bytes]) -> None:
    checkpoints.intend([OutputWrite.of(sink.position(service), data) for service, data in batch.items()])


def test_a_crash_after_the_file_append_commits_the_batch_on_restart(tmp_path: Path) -> None:
    path, sink, checkpoints = in_flight(tmp_path)
    batch = {"app": b'{"n":1}\n{"n":2}\n'}
    intend(checkpoints, sink, batch)
    sink.write(RecordBatch.from_lines(batch, 1))
    # kill -9 here: appended, commit not written
    reloaded = Checkpoints(path)
    assert reloaded.files["1:10"].offset == 900
    assert b"intent" not in reloaded.journal_path.read_bytes()  # settled once, into the snapshot
    assert Checkpoints(path).files["1:10"].offset == 900


def test_a_crash_before_the_file_append_keeps_the_checkpoint(tmp_path: Path) -> None:
    path, sink, checkpoints = in_flight(tmp_path)
    intend(checkpoints, sink, {"app": b'{"n":1}\n'})
    # kill -9 here: the append never happened
    assert Checkpoints(path).files["1:10"].offset == 100


def test_an_append_found_in_a_rotated_file_counts(tmp_path: Path) -> None:
    path, sink, checkpoints = in_flight(tmp_path)
    batch = {"app": b'{"n":1}\n'}
    intend(checkpoints, sink, batch)
    sink.write(RecordBatch.from_lines(batch, 1))
    (tmp_path / "out" / "app.jsonl").rename(tmp_path / "out" / "app.20260101T000000.000000Z.jsonl")
    (tmp_path / "out" / "app.jsonl").write_bytes(FIRST_LINE + batch["app"])  # same bytes, another file: not ours
    assert Checkpoints(path).files["1:10"].offset == 900


def test_other_bytes_at_the_intended_place_are_not_taken_for_the_batch(tmp_path: Path) -> None:
    path, sink, checkpoints = in_flight(tmp_path)
    intend(checkpoints, sink, {"app": b'{"n":1}\n'})
    sink.write(RecordBatch.from_lines({"app": b'{"n":7}\n'}, 1))  # someone else appended there
    assert Checkpoints(path).files["1:10"].offset == 100


def test_a_batch_appended_to_some_apps_only_is_taken_back(tmp_path: Path) -> None:
    path, sink, checkpoints = in_flight(tmp_path)
    batch = {"app": b'{"n":1}\n', "b": b'{"n":2}\n'}
    intend(checkpoints, sink, batch)
    sink.write(RecordBatch.from_lines({"app": batch["app"]}, 1))  # kill -9 before app b's append
    assert Checkpoints(path).files["1:10"].offset == 100
    assert (tmp_path / "out" / "app.jsonl").read_bytes() == FIRST_LINE  # the next run appends it once


def test_an_append_cut_short_by_the_kill_is_taken_back(tmp_path: Path) -> None:
    # A large write() can be interrupted by SIGKILL part-way: the file holds the batch's start only.
    path, sink, checkpoints = in_flight(tmp_path)
    batch = b"".join(b'{"n":%d}\n' % i for i in range(1, 1000))
    intend(checkpoints, sink, {"app": batch})
    with open(tmp_path / "out" / "app.jsonl", "ab") as f:
        f.write(batch[:5000])
    assert Checkpoints(path).files["1:10"].offset == 100
    assert (tmp_path / "out" / "app.jsonl").read_bytes() == FIRST_LINE
