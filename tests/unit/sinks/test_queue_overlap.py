"""Overlapped delivery: reading ahead of the acknowledged position, several batches delivered at once,
acknowledged only in order (a batch is acknowledged once it and every batch before it are delivered)."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from otel_logging.record import RecordBatch
from otel_logging.sinks.queue import DeliveryResult, DurableQueue, Position, QueuedSink
from otel_logging.worker import live_threads
from tests.support.procs import wait_for


def _lines(start: int, stop: int, pad: int = 0) -> bytes:
    return b"".join(b'{"n":%d,"p":"%s"}\n' % (i, b"x" * pad) for i in range(start, stop))


def _numbers(lines: list[bytes]) -> list[int]:
    return [orjson.loads(line)["n"] for line in lines]


def test_reading_ahead_gives_the_next_lines_and_leaves_the_position_where_it_was(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    q.append(_lines(0, 10))
    first = q.read(4, timeout=0)
    assert first is not None
    second = q.read(4, timeout=0, after=first.end)
    third = q.read(4, timeout=0, after=second.end if second else None)
    assert second is not None and third is not None
    assert [_numbers(b.lines) for b in (first, second, third)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert q.read(4, timeout=0, after=third.end) is None  # nothing past the end
    assert q.position == first.start  # reading ahead acknowledges nothing
    with pytest.raises(ValueError):
        q.ack(second)  # not before the batch read before it
    q.ack(first)
    q.ack(second)
    q.ack(third)
    assert q.pending_bytes == 0 and q.read(4, timeout=0) is None


def test_reading_ahead_crosses_into_the_next_segment_and_acknowledges_across_it(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q", segment_bytes=64 << 10)
    q.append(_lines(0, 100, pad=700))  # over 64 KiB: the next append starts a new segment
    q.append(_lines(100, 110))
    assert len(q.segments()) == 2
    first = q.read(1000, 1 << 20, timeout=0)
    assert first is not None and _numbers(first.lines) == list(range(100))
    second = q.read(1000, 1 << 20, timeout=0, after=first.end)
    assert second is not None and _numbers(second.lines) == list(range(100, 110))
    assert second.start == Position(first.start.segment + 1, 0)
    with pytest.raises(ValueError):
        q.ack(second)
    q.ack(first)
    q.ack(second)
    assert q.pending_bytes == 0 and len(q.segments()) == 1  # the first segment was deleted
    q.close()
    again = DurableQueue(tmp_path / "q")
    assert again.read(timeout=0) is None  # the position survived: nothing is read twice
    again.close()


def _write(sink: QueuedSink, start: int, stop: int) -> None:
    sink.write(RecordBatch.from_records({"svc": [{"n": i} for i in range(start, stop)]}))


class _HeldDeliveries:
    """A ``deliver`` that holds the batch holding ``held`` until ``release`` is set; records every call."""

    def __init__(self, held: int, *, held_fails: bool = False) -> None:
        self.held = held
        self.held_fails = held_fails  # the held batch is answered "retry" when released
        self.release = threading.Event()
        self.calls: list[list[int]] = []
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        numbers = _numbers(lines)
        with self._lock:
            self.calls.append(numbers)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.held in numbers:
                self.release.wait(30)
                if self.held_fails:
                    return DeliveryResult.retry_all(len(lines), "not stored")
        finally:
            with self._lock:
                self.running -= 1
        return DeliveryResult()

    def delivered(self) -> list[int]:
        with self._lock:
            return sorted(n for call in self.calls for n in call)


def test_a_later_batch_is_delivered_while_an_earlier_one_is_held_but_acknowledged_only_after_it(
    tmp_path: Path,
) -> None:
    deliver = _HeldDeliveries(held=0)
    sink = QueuedSink("ov", tmp_path, deliver, batch_lines=5, overlap=3)
    try:
        _write(sink, 0, 20)  # batches [0-4] (held), [5-9], [10-14], [15-19]
        written = sink.queue.pending_bytes  # nothing can be acknowledged before [0-4] is
        wait_for(lambda: len(deliver.calls) == 3, 10, what="three batches delivered at once")
        assert deliver.calls[0] == [0, 1, 2, 3, 4] and deliver.peak == 2  # [0-4] held, the other two returned
        assert sink.queue.pending_bytes == written > 0  # [5-9] and [10-14] are delivered, [0-4] not: nothing acked
        assert not sink.wait_idle(0.2)
        assert len(deliver.calls) == 3  # at most 3 batches unacknowledged: [15-19] waits for [0-4]
        deliver.release.set()
        assert sink.wait_idle(10)
        assert deliver.delivered() == list(range(20)) and sink.counters.sent == 20
    finally:
        deliver.release.set()
        sink.close()


def test_batches_delivered_after_a_held_one_are_delivered_again_after_a_restart(tmp_path: Path) -> None:
    deliver = _HeldDeliveries(held=0, held_fails=True)
    sink = QueuedSink("ov", tmp_path, deliver, batch_lines=5, overlap=2)
    _write(sink, 0, 10)
    wait_for(lambda: len(deliver.calls) == 2 and deliver.running == 1, 10, what="[5-9] delivered, [0-4] held")
    # [5-9] is delivered, [0-4] is not stored (and is not retried: the sink is stopping): both stay queued
    sink._worker.stop()
    deliver.release.set()
    sink.close()
    assert deliver.delivered() == list(range(10))
    again: list[list[int]] = []

    def record(lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        again.append(_numbers(lines))
        return DeliveryResult()

    restarted = QueuedSink("ov", tmp_path, record, batch_lines=5)
    try:
        assert restarted.wait_idle(10)
    finally:
        restarted.close()
    # everything from the oldest batch not stored, in order: [5-9] again too (a destination with ids stores it once)
    assert [n for call in again for n in call] == list(range(10))


def test_a_retried_batch_holds_the_acknowledgement_of_later_ones_and_nothing_is_lost(tmp_path: Path) -> None:
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    def flaky(lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        numbers = _numbers(lines)
        with lock:
            attempts[numbers[0]] = attempts.get(numbers[0], 0) + 1
            first_try = attempts[numbers[0]] == 1
        if numbers[0] == 0 and first_try:  # the first batch fails once, entirely
            return DeliveryResult.retry_all(len(lines), "node busy")
        return DeliveryResult()

    sink = QueuedSink("ov", tmp_path, flaky, batch_lines=4, overlap=2, backoff_initial_s=0.05)
    try:
        _write(sink, 0, 16)
        assert sink.wait_idle(10)
        c = sink.counters
        assert (c.sent, c.retried, c.dead_lettered) == (16, 4, 0)
        assert attempts[0] == 2 and all(attempts[k] == 1 for k in (4, 8, 12))
        assert sink.queue.pending_bytes == 0
    finally:
        sink.close()


def test_close_joins_the_batch_threads_of_an_overlapped_sink(tmp_path: Path) -> None:
    deliver = _HeldDeliveries(held=-1)
    sink = QueuedSink("ovj", tmp_path, deliver, batch_lines=3, overlap=2)
    _write(sink, 0, 12)
    assert sink.wait_idle(10) and deliver.delivered() == list(range(12))
    sink.close(timeout=10)
    assert live_threads("sink-ovj") == [] and live_threads("sink-ovj-batch") == []


def test_overlap_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        QueuedSink("bad", tmp_path, _HeldDeliveries(held=-1), overlap=0, start=False)
