"""The durable queue and QueuedSink: order, acknowledgement, segments, bound, crash recovery."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_logging.record import RecordBatch
from otel_logging.sinks import SinkError
from otel_logging.sinks.queue import DeliveryResult, DurableQueue, QueuedSink, QueueFull
from tests.support.procs import REPO, child_env, wait_for


def lines(start: int, stop: int) -> bytes:
    return b"".join(b'{"n":%d}\n' % i for i in range(start, stop))


def numbers(batch_lines: list[bytes]) -> list[int]:
    return [orjson.loads(line)["n"] for line in batch_lines]


def drain(queue: DurableQueue, max_lines: int = 7) -> list[int]:
    seen: list[int] = []
    while (batch := queue.read(max_lines, timeout=0)) is not None:
        seen += numbers(batch.lines)
        queue.ack(batch)
    return seen


def test_lines_come_out_in_order_and_reading_without_ack_repeats(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    for i in range(0, 100, 10):
        q.append(lines(i, i + 10))
    first = q.read(max_lines=25, timeout=0)
    assert first is not None and numbers(first.lines) == list(range(25))
    again = q.read(max_lines=25, timeout=0)
    assert again is not None and again.lines == first.lines
    q.ack(first)
    assert drain(q) == list(range(25, 100))
    assert q.pending_bytes == 0
    assert q.read(timeout=0) is None


def test_acknowledged_segments_are_deleted_and_position_survives_reopen(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q", segment_bytes=64 << 10, max_bytes=64 << 20)
    big = 30_000
    for i in range(0, big, 500):
        q.append(lines(i, i + 500))
    assert len(q.segments()) > 2, "the test needs several segments"
    seen: list[int] = []
    while len(seen) < 20_000:
        batch = q.read(max_lines=1000, timeout=0)
        assert batch is not None
        seen += numbers(batch.lines)
        q.ack(batch)
    remaining_segments = q.segments()
    assert min(remaining_segments) > 1, "fully acknowledged segments must be gone"
    files = sorted(p.name for p in (tmp_path / "q").glob("*.seg"))
    assert len(files) == len(remaining_segments)
    q.close()
    reopened = DurableQueue(tmp_path / "q", segment_bytes=64 << 10, max_bytes=64 << 20)
    assert seen + drain(reopened) == list(range(big))


def test_a_full_queue_refuses_with_a_retryable_error_and_takes_again_after_ack(tmp_path: Path) -> None:
    chunk = lines(0, 10)
    q = DurableQueue(tmp_path / "q", max_bytes=10 * len(chunk))
    for _ in range(10):
        q.append(chunk)
    with pytest.raises(QueueFull) as info:
        q.append(chunk)
    assert isinstance(info.value, SinkError)
    assert "--queue-max-bytes" in str(info.value)
    batch = q.read(max_lines=10, timeout=0)
    assert batch is not None
    q.ack(batch)
    q.append(chunk)  # room again
    assert q.pending_bytes == 10 * len(chunk)


def test_a_torn_last_line_is_cut_and_the_rest_is_kept(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    q.append(lines(0, 5))
    q.close()
    (segment,) = sorted((tmp_path / "q").glob("*.seg"))
    with open(segment, "ab") as f:
        f.write(b'{"n":5, "half')  # a write interrupted by a crash
    reopened = DurableQueue(tmp_path / "q")
    assert reopened.torn_bytes == len(b'{"n":5, "half')
    reopened.append(lines(6, 8))
    assert drain(reopened) == [0, 1, 2, 3, 4, 6, 7]


def test_read_waits_for_an_append(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    timer = threading.Timer(0.2, q.append, args=(lines(0, 1),))
    timer.start()
    batch = q.read(timeout=10)
    timer.join()
    assert batch is not None and numbers(batch.lines) == [0]


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from otel_logging.sinks.queue import DurableQueue

    q = DurableQueue(Path(sys.argv[1]), segment_bytes=64 << 10, max_bytes=1 << 30)
    n = 0
    acked = -1
    while True:
        q.append(b"".join(b'{"n":%d}\\n' % i for i in range(n, n + 50)))
        n += 50
        print("appended", n - 1, flush=True)
        batch = q.read(max_lines=30, timeout=0)
        if batch is not None:
            print("delivered", int(batch.lines[-1][5:-1]), flush=True)  # delivered first, then acknowledged
            q.ack(batch)
    """
)


def test_kill_9_while_appending_and_acking_resumes_without_gaps(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env=child_env(),
    )
    assert proc.stdout is not None
    last = {"appended": -1, "delivered": -1}

    def note(raw: bytes) -> None:
        kind, value = raw.decode().split()
        last[kind] = int(value)

    for raw in proc.stdout:
        note(raw)
        if last["appended"] >= 20_000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for raw in proc.stdout.read().splitlines(keepends=True):  # what it printed before the kill landed
        if raw.endswith(b"\n"):
            note(raw)
    reopened = DurableQueue(directory, segment_bytes=64 << 10, max_bytes=1 << 30)
    rest = drain(reopened, max_lines=1000)
    # At least once: reading resumes at or before the first record not yet delivered; nothing appended is lost.
    assert last["delivered"] > 0, "the child must have consumed some records"
    assert rest, "records appended before the kill must still be queued"
    assert rest[0] <= last["delivered"] + 1, "a gap: records after the last delivered one were skipped"
    assert rest == list(range(rest[0], rest[-1] + 1)), "records out of order or missing"
    assert rest[-1] >= last["appended"], "a record reported as appended was lost"
    assert len(list(directory.glob("*.seg"))) <= 2


def test_queued_sink_retries_dead_letters_and_counts(tmp_path: Path) -> None:
    calls: list[list[int]] = []
    delivered: list[int] = []

    def deliver(batch: list[bytes], services: list[str | None]) -> DeliveryResult:
        assert services == ["a"] * len(batch)
        ns = numbers(batch)
        calls.append(ns)
        result = DeliveryResult()
        for i, n in enumerate(ns):
            if n == 3:
                result.dead_letters.append((i, "mapper_parsing_exception: n=3 is not allowed"))
            elif n % 2 and len(calls) == 1:
                result.retry.append(i)  # odd numbers fail the first time
            else:
                delivered.append(n)
        return result

    sink = QueuedSink("test-sink", tmp_path, deliver, backoff_initial_s=0.01)
    try:
        sink.write(RecordBatch.from_records({"a": [{"n": i} for i in range(6)]}))
        assert sink.wait_idle(10)
    finally:
        sink.close()
    assert calls[0] == [0, 1, 2, 3, 4, 5]
    assert calls[1] == [1, 5]
    assert sorted(delivered) == [0, 1, 2, 4, 5]
    dead = [orjson.loads(line) for line in (tmp_path / "_deadletter" / "test-sink.jsonl").read_bytes().splitlines()]
    assert [d["record"] for d in dead] == [{"n": 3}]
    assert "mapper_parsing_exception" in dead[0]["reason"]
    c = sink.counters
    assert (c.queued, c.sent, c.retried, c.dead_lettered) == (6, 5, 2, 1)
    samples = {name: value for name, _labels, value in sink.metric_samples()}
    assert samples["otel_logging_sink_queue_bytes"] == 0


def test_queued_sink_keeps_undelivered_records_for_the_next_start(tmp_path: Path) -> None:
    def down(batch: list[bytes], services: list[str | None]) -> DeliveryResult:
        raise SinkError("destination down")

    sink = QueuedSink("s", tmp_path, down, backoff_initial_s=0.01)
    sink.write(RecordBatch.from_records({"a": [{"n": i} for i in range(4)]}))
    wait_for(lambda: sink.counters.retried >= 8, 10, what="retries")
    sink.close()
    got: list[int] = []

    def up(batch: list[bytes], services: list[str | None]) -> DeliveryResult:
        got.extend(numbers(batch))
        return DeliveryResult.delivered()

    again = QueuedSink("s", tmp_path, up)
    try:
        assert again.wait_idle(10)
    finally:
        again.close()
    assert got == [0, 1, 2, 3]


def test_a_batch_keeps_its_services_through_the_queue_even_when_a_read_cuts_a_run(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    q.append(lines(0, 2))  # queued without framing (an older version): no service known
    q.append_framed([("shop", lines(2, 5)), ('bill\n"ing', lines(5, 6))])
    q.append_framed([("shop", lines(6, 7))])
    seen: list[tuple[int, str | None]] = []
    while (batch := q.read(max_lines=2, timeout=0)) is not None:  # cuts the runs
        assert len(batch.services) == len(batch.lines)
        seen += zip(numbers(batch.lines), batch.services, strict=True)
        again = q.read(max_lines=2, timeout=0)  # a read again before the ack: the same services
        assert again is not None and again.services == batch.services
        q.ack(batch)
    assert seen == [(0, None), (1, None), (2, "shop"), (3, "shop"), (4, "shop"), (5, 'bill\n"ing'), (6, "shop")]
    q.close()
    reopened = DurableQueue(tmp_path / "q")
    reopened.append_framed([("shop", lines(7, 9))])
    last = reopened.read(timeout=0)
    assert last is not None and numbers(last.lines) == [7, 8] and last.services == ["shop", "shop"]


def test_a_position_past_the_end_of_its_segment_does_not_block_the_queue(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q")
    q.append(lines(0, 10))
    assert drain(q) == list(range(10))
    q.close()
    (segment,) = sorted((tmp_path / "q").glob("*.seg"))
    with open(segment, "rb+") as f:
        f.truncate(20)  # the data was lost but the position file was kept (power loss without fsync)
    reopened = DurableQueue(tmp_path / "q")
    reopened.append(lines(10, 12))
    assert drain(reopened) == [10, 11]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(1, 400)),
            st.tuples(st.just("consume"), st.integers(1, 300)),
            st.tuples(st.just("peek"), st.integers(1, 50)),
            st.tuples(st.just("reopen"), st.just(0)),
            st.tuples(st.just("torn"), st.just(0)),
        ),
        max_size=40,
    )
)
def test_any_mix_of_appends_consumes_reopens_and_torn_tails_keeps_order_without_loss(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]
) -> None:
    directory = tmp_path_factory.mktemp("q")

    def open_queue() -> DurableQueue:
        return DurableQueue(directory, segment_bytes=1, max_bytes=1 << 30)  # the smallest segments (64 KiB)

    q = open_queue()
    expected: list[int] = []  # appended, not yet acknowledged, in order
    n = 0
    for op, k in ops:
        if op == "append":
            q.append(lines(n, n + k))
            expected += range(n, n + k)
            n += k
        elif op in ("consume", "peek"):
            batch = q.read(max_lines=k, timeout=0)
            if not expected:
                assert batch is None
                continue
            assert batch is not None
            got = numbers(batch.lines)
            assert got == expected[: len(got)] and got
            if op == "consume":
                q.ack(batch)
                del expected[: len(got)]
        elif op == "reopen":
            q.close()
            q = open_queue()
        else:  # a crash in the middle of a write: half a line at the end of the newest segment
            q.close()
            newest = max(directory.glob("*.seg"))
            with open(newest, "ab") as f:
                f.write(b'{"n":-1,"to')
            q = open_queue()
        assert q.pending_bytes == sum(len(b'{"n":%d}\n' % i) for i in expected)
    assert drain(q, max_lines=1000) == expected


def test_close_joins_the_delivery_thread(tmp_path: Path) -> None:
    from otel_logging.worker import live_threads

    sent: list[int] = []

    def deliver(batch_lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        sent.extend(numbers(batch_lines))
        return DeliveryResult()

    sink = QueuedSink("joined", tmp_path, deliver)
    assert len(live_threads("sink-joined")) == 1
    sink.write(RecordBatch.from_records({"svc": [{"n": i} for i in range(5)]}))
    assert sink.wait_idle(10) and sent == [0, 1, 2, 3, 4]
    sink.close(timeout=10)
    assert live_threads("sink-joined") == []


def test_close_does_not_hang_on_a_stuck_delivery_and_names_it(tmp_path: Path) -> None:
    import logging

    from otel_logging.worker import live_threads
    from tests.support.logs import logger_records

    entered, release = threading.Event(), threading.Event()

    def stuck(batch_lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        entered.set()
        release.wait(30)  # a delivery that ignores the stop (a hung connection)
        return DeliveryResult.retry_all(len(batch_lines), "stuck")

    closed: list[str] = []
    sink = QueuedSink("stuck", tmp_path, stuck, on_close=lambda: closed.append("on_close"))
    # on the worker's logger itself (tests.support.logs: not through caplog)
    with logger_records("otel_logging.worker", logging.WARNING) as records:
        try:
            sink.write(RecordBatch.from_records({"svc": [{"n": i} for i in range(3)]}))
            wait_for(entered.is_set, timeout=10, what="the delivery to start")
            sink.close(timeout=0.2)
        finally:
            release.set()
    assert closed == ["on_close"]
    assert any("sink-stuck" in r.getMessage() for r in records)
    wait_for(lambda: not live_threads("sink-stuck"), timeout=10, what="the delivery thread to end")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 300), min_size=1, max_size=40), st.integers(16, 400))
def test_reads_cut_by_max_bytes_give_whole_lines_in_order(tmp_path: Path, sizes: list[int], max_bytes: int) -> None:
    """A read of ``max_bytes`` that ends inside a line stops after the last whole line; a line longer than
    ``max_bytes`` comes whole on its own: every line once, in order, whole."""
    directory = tmp_path / f"q{len(list(tmp_path.iterdir()))}"
    q = DurableQueue(directory)
    expected = [orjson.dumps({"n": i, "pad": "x" * size}) for i, size in enumerate(sizes)]
    q.append(b"".join(line + b"\n" for line in expected))
    got: list[bytes] = []
    while (batch := q.read(max_bytes=max_bytes, timeout=0)) is not None:
        assert batch.lines
        assert len(batch.lines) == 1 or sum(len(line) + 1 for line in batch.lines) <= max_bytes
        got += batch.lines
        q.ack(batch)
    assert got == expected
    q.close()
