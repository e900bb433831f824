"""The durable on-disk queue in front of every remote sink, and ``QueuedSink`` that drains it.

Layout under ``<log-dir>/_queue/<sink>/``::

    00000000000000000001.seg   records as JSON lines, appended in whole request batches
    00000000000000000002.seg   ...
    ack                        {"segment": 2, "offset": 81920}: everything before it was delivered

A batch keeps its per-service framing: ``append_framed`` puts a frame line ``#{"service":"shop"}`` before each
service's lines, and ``read`` gives the service of every line (``Batch.services``), so a delivery does not
decode a line only to find its service. Record lines are JSON objects: a line starting with ``#`` is never one.
Lines appended by ``append`` (or queued by a version without framing) have no known service (None).

- ``append`` writes a request's lines with one ``write`` to the newest segment before the
  receiver answers (to the OS; with ``fsync=True`` also to the disk). A failed or short write is
  cut back off, so a segment only ever holds whole batches.
- One consumer reads batches from the acknowledged position onwards, in order, never across a
  segment boundary, and only up to what the writer has finished writing; it may read ahead of what it
  acknowledged (``read(after=previous.end)``).
- ``ack(batch)`` moves the acknowledged position past the batch (written aside and renamed, so a
  crash leaves the old or the new position, never a mix) and deletes segments left behind. Batches are
  acknowledged in the order they were read.
- Bounded: ``append`` raises ``QueueFull`` (a ``SinkError``: the receiver answers UNAVAILABLE /
  503, which clients retry) when the records not yet acknowledged would exceed ``max_bytes``.
  Disk use can exceed that by the acknowledged part of the oldest segment (``segment_bytes``).
- ``kill -9`` at any point: on restart, reading resumes at the last acknowledged position, so
  every record is delivered at least once (a batch delivered but not yet acknowledged is
  delivered again) and none is skipped. A torn last line (a crash or a full disk in the middle of
  a write) is detected on open and cut off; it was never acknowledged to a client, which retries.

``QueuedSink`` is the ``Sink`` for remote destinations: ``write`` appends, a background thread
reads batches and calls a pluggable ``deliver(lines, services) -> DeliveryResult`` which says per line:
delivered, retry (sent again after an exponential backoff, before anything later), or dead
letter (written with the reason to ``<log-dir>/_deadletter/<sink>.jsonl``, never retried).
With ``overlap=N`` (N > 1) up to N batches are delivered at once (the next read while the last is still
being sent, so the destination never waits for the end of one batch before the next), each on its own thread;
a batch is still acknowledged only once it and every batch before it were delivered, so a crash redelivers
from the oldest batch not delivered (a destination that recognises a redelivered line stores it once), and a
retried line may go after lines of the next N-1 batches.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from otel_logging.record import Lines, RecordBatch
from otel_logging.record.lines import last_line_end
from otel_logging.sinks import SinkError
from otel_logging.worker import Worker, WorkerPool

_log = logging.getLogger("otel_logging.queue")

_SEGMENT = re.compile(r"(\d{20})\.seg")
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_SEGMENT_BYTES = 32 << 20


class QueueFull(SinkError):
    """The queue holds ``max_bytes`` of undelivered records; the client should retry later."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive lines of one segment: ``lines`` (without newlines) from ``start`` up to ``end``, and the
    service of each line (``services[i]``; None where no frame named it)."""

    lines: list[bytes]
    start: Position
    end: Position
    services: list[str | None] = field(default_factory=list)


_FRAME = 0x23  # "#": a frame line, ``#{"service":...}``, names the service of the record lines after it


def frame_line(service: str) -> bytes:
    """The frame line put before ``service``'s lines."""
    return b'#{"service":' + orjson.dumps(service) + b"}\n"


def _frame_service(line: bytes) -> str | None:
    try:
        service = orjson.loads(line[1:]).get("service")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return service if isinstance(service, str) else None


def _segment_name(number: int) -> str:
    return f"{number:020d}.seg"


class DurableQueue:
    """Append-only, segment-based, bounded, crash-safe. Many appenders, one consumer."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = False,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"queue max_bytes must be positive, got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(64 << 10, min(segment_bytes, max_bytes // 4 or 1))
        self.fsync = fsync
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ack_path = self.directory / "ack"
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._closed = False
        self._sizes: dict[int, int] = {}  # segment -> bytes fully written
        self._services_at: dict[Position, str | None] = {}  # the service in effect at a read's start and end
        self._acked = self._read_ack()
        self.torn_bytes = 0  # cut off the last segment on open
        self._recover()
        self._pending = self._pending_bytes_locked()
        newest = max(self._sizes, default=self._acked.segment)
        self._write_segment = newest + 1  # a fresh segment per process
        self.first_write_segment = self._write_segment  # every segment below it was written by an earlier process
        self._open_write_segment()

    # -- opening ---------------------------------------------------------------------------

    def _read_ack(self) -> Position:
        try:
            data = orjson.loads(self._ack_path.read_bytes())
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return Position(0, 0)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"queue position file {self._ack_path} is damaged ({exc}); move it away to redeliver the whole queue"
            ) from exc

    def _recover(self) -> None:
        for path in sorted(self.directory.iterdir()):
            match = _SEGMENT.fullmatch(path.name)
            if match is None:
                continue
            number = int(match.group(1))
            if number < self._acked.segment:
                path.unlink()  # fully acknowledged; the delete did not happen before a crash
                continue
            self._sizes[number] = path.stat().st_size
        if self._sizes:
            last = max(self._sizes)
            self._cut_torn_tail(last)
        if self._acked.segment not in self._sizes:
            later = [n for n in self._sizes if n > self._acked.segment]
            self._acked = Position(min(later), 0) if later else Position(self._acked.segment, 0)
        elif self._acked.offset > self._sizes[self._acked.segment]:
            # Only possible if the segment lost data the position file kept (a power loss without --fsync).
            _log.warning(
                "queue %s: acknowledged offset %d is past the end of segment %d (%d bytes); continuing after it",
                self.directory,
                self._acked.offset,
                self._acked.segment,
                self._sizes[self._acked.segment],
            )
            self._acked = Position(self._acked.segment, self._sizes[self._acked.segment])

    def _cut_torn_tail(self, number: int) -> None:
        path = self.directory / _segment_name(number)
        size = self._sizes[number]
        if size == 0:
            return
        with open(path, "rb+") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            keep = last_line_end(f.fileno(), 0, size)
            f.truncate(keep)
        self.torn_bytes += size - keep
        self._sizes[number] = keep
        _log.warning("queue %s: cut a torn last line of %d bytes off segment %d", self.directory, size - keep, number)

    def _open_write_segment(self) -> None:
        path = self.directory / _segment_name(self._write_segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sizes[self._write_segment] = os.fstat(self._fd).st_size

    def _pending_bytes_locked(self) -> int:
        total = sum(size for number, size in self._sizes.items() if number >= self._acked.segment)
        return total - self._acked.offset

    # -- writing ---------------------------------------------------------------------------

    @property
    def position(self) -> Position:
        """The acknowledged position: where the batch being delivered (read, not yet acknowledged) starts."""
        return self._acked

    @property
    def pending_bytes(self) -> int:
        """Bytes appended and not yet acknowledged."""
        return self._pending

    def append(self, data: bytes) -> None:
        """Append whole JSON lines (``data`` ends with a newline). Raises ``QueueFull`` or ``SinkError``."""
        if not data:
            return
        if not data.endswith(b"\n"):
            raise ValueError("queue append: data must be whole lines ending with a newline")
        with self._lock:
            if self._closed:
                raise SinkError(f"queue {self.directory} is closed (the service is stopping); retry")
            if self._pending + len(data) > self.max_bytes:
                raise QueueFull(
                    f"queue {self.directory} is full ({self._pending} of {self.max_bytes} bytes undelivered; "
                    f"this batch needs {len(data)}): its destination is down or slow. Retry later, or raise "
                    "--queue-max-bytes."
                )
            if self._sizes[self._write_segment] >= self.segment_bytes:
                self._roll_locked()
            size = self._sizes[self._write_segment]
            try:
                written = os.write(self._fd, data)
                while written < len(data):
                    written += os.write(self._fd, memoryview(data)[written:])
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                try:
                    os.ftruncate(self._fd, size)
                except OSError:
                    pass  # the torn tail is cut on the next open
                raise SinkError(f"queue {self.directory}: cannot write ({exc}); retry") from exc
            self._sizes[self._write_segment] = size + len(data)
            self._pending += len(data)
            self._readable.notify_all()

    def append_framed(self, runs: Iterable[tuple[str, Lines]]) -> None:
        """Append runs of whole JSON lines, each of one service, with one write: each after its frame line."""
        self.append(b"".join([part for service, lines in runs if lines for part in (frame_line(service), lines)]))

    def _roll_locked(self) -> None:
        os.close(self._fd)
        self._write_segment += 1
        self._open_write_segment()
        if self.fsync:
            _fsync_dir(self.directory)

    # -- reading ---------------------------------------------------------------------------

    def read(
        self,
        max_lines: int = 5000,
        max_bytes: int = 8 << 20,
        timeout: float | None = None,
        *,
        after: Position | None = None,
    ) -> Batch | None:
        """The next lines after the acknowledged position (at most ``max_lines`` or about ``max_bytes``), or
        after ``after`` (the ``end`` of the last batch read, not yet acknowledged: reading ahead).

        Waits up to ``timeout`` seconds for data (forever if None); None when there is none.
        Reading again before ``ack`` returns the same lines.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._closed:
                    return None
                start = self._acked if after is None or after < self._acked else after
                end_of_segment = self._sizes.get(start.segment, 0)
                if start.offset < end_of_segment:
                    break
                later = [n for n in self._sizes if n > start.segment]
                if later:
                    if after is None or start == self._acked:
                        self._advance_locked(Position(min(later), 0))
                    else:  # ahead of the acknowledged position: only the reading moves on
                        after = Position(min(later), 0)
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._readable.wait(remaining)
        lines, services, end_offset = self._read_lines(start, end_of_segment, max_lines, max_bytes)
        return Batch(lines, start, Position(start.segment, end_offset), services)

    def _read_lines(
        self, start: Position, limit: int, max_lines: int, max_bytes: int
    ) -> tuple[list[bytes], list[str | None], int]:
        with open(self.directory / _segment_name(start.segment), "rb") as f:
            f.seek(start.offset)
            chunk = f.read(min(limit - start.offset, max_bytes))
            # A read that ends inside a line is cut after its last whole line below; only a line longer than
            # max_bytes (no newline in the chunk) is read on to its end.
            while not chunk.endswith(b"\n") and chunk.rfind(b"\n") < 0:
                more = f.read(min(limit - start.offset - len(chunk), 1 << 20))
                if not more:
                    break
                cut = more.find(b"\n")
                chunk += more if cut < 0 else more[: cut + 1]
                if cut >= 0:
                    break
        cut = len(chunk) if chunk.endswith(b"\n") else chunk.rfind(b"\n") + 1
        service = at_start = self._services_at.get(start)
        lines: list[bytes] = []
        services: list[str | None] = []
        pos = 0
        frames_from, service_before = -1, service  # frame lines read since the last record line
        while pos < cut and len(lines) < max_lines:
            if chunk[pos] == _FRAME:
                newline = chunk.index(b"\n", pos, cut)
                if frames_from < 0:
                    frames_from, service_before = pos, service
                service = _frame_service(chunk[pos:newline])
                pos = newline + 1
                continue
            frame = chunk.find(b"\n#", pos, cut)  # the run of record lines ends before the next frame line
            run_end = cut if frame < 0 else frame + 1
            run = chunk[pos:run_end].split(b"\n")
            run.pop()
            room = max_lines - len(lines)
            if len(run) > room:
                del run[room:]
                run_end = pos + sum(len(line) + 1 for line in run)
            lines += run
            services += [service] * len(run)
            pos = run_end
            frames_from = -1
        if frames_from >= 0 and lines:  # frame lines last: leave them to the read that takes their records
            pos, service = frames_from, service_before
        end = Position(start.segment, start.offset + pos)
        self._services_at = {start: at_start, end: service}
        return lines, services, end.offset

    def ack(self, batch: Batch) -> None:
        """Everything up to ``batch.end`` was delivered (or dead-lettered): never read it again."""
        with self._lock:
            if batch.start != self._acked and not self._follows_locked(batch.start):
                raise ValueError(f"queue {self.directory}: ack of {batch.start} but the queue is at {self._acked}")
            self._advance_locked(batch.end)

    def _follows_locked(self, start: Position) -> bool:
        """``start`` is the beginning of the segment after the acknowledged position's, which was read to its
        end (a batch read ahead across a segment boundary)."""
        acked = self._acked
        later = [n for n in self._sizes if n > acked.segment]
        return bool(later) and start == Position(min(later), 0) and acked.offset >= self._sizes.get(acked.segment, 0)

    def _advance_locked(self, position: Position) -> None:
        tmp = self._ack_path.with_name("ack.tmp")
        with open(tmp, "wb") as f:
            f.write(orjson.dumps({"segment": position.segment, "offset": position.offset}))
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self._ack_path)
        old = self._acked
        self._acked = position
        if position.segment > old.segment:
            for number in [n for n in self._sizes if n < position.segment]:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)
                del self._sizes[number]
        self._pending = self._pending_bytes_locked()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._fd)
            self._readable.notify_all()

    def segments(self) -> list[int]:
        with self._lock:
            return sorted(self._sizes)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the sink ------------------------------------------------------------------------------


@dataclass(slots=True)
class DeliveryResult:
    """What happened to each line handed to ``deliver``: indexes not named here were delivered.

    ``retry``: indexes to send again (after a backoff, before anything later in the queue);
    ``dead_letters``: (index, reason) pairs rejected for their content, never to be retried;
    ``error``: why the retries failed (for the log).
    """

    retry: list[int] = field(default_factory=list)
    dead_letters: list[tuple[int, str]] = field(default_factory=list)
    error: str = ""

    @classmethod
    def delivered(cls) -> DeliveryResult:
        return cls()

    @classmethod
    def retry_all(cls, count: int, error: str) -> DeliveryResult:
        return cls(retry=list(range(count)), error=error)


# deliver(lines, services): ``services[i]`` is the service of ``lines[i]`` (None: not known, decode the line)
Deliver = Callable[[list[bytes], list[str | None]], DeliveryResult]


@dataclass(slots=True)
class SinkCounters:
    queued: int = 0  # records appended
    sent: int = 0  # records delivered
    retried: int = 0  # record deliveries that had to be retried
    dead_lettered: int = 0


@dataclass(slots=True, eq=False)
class _Unacked:
    """A batch read and handed to ``deliver``, not yet acknowledged; ``done`` once delivered."""

    batch: Batch
    done: bool = False


class QueuedSink:
    """A ``Sink`` that appends to a ``DurableQueue`` and delivers from it on a background thread.

    ``deliver`` is called with batches of JSON lines and their services, in queue order; one at a time, or with
    ``overlap=N`` up to N batches at once, each from its own thread (``deliver`` must then be thread-safe).
    If it raises ``SinkError`` (or ``OSError``) the whole batch is retried. A batch is acknowledged once every
    line of it and of every batch before it was delivered or dead-lettered.
    """

    def __init__(
        self,
        name: str,
        log_dir: Path,
        deliver: Deliver,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = False,
        batch_lines: int = 5000,
        batch_bytes: int = 8 << 20,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        on_close: Callable[[], None] | None = None,
        overlap: int = 1,
        start: bool = True,
    ) -> None:
        if overlap < 1:
            raise ValueError(f"overlap must be at least 1, not {overlap}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ValueError(f"sink name {name!r}: use letters, digits, '.', '_', '-'")
        self.name = name
        self.log_dir = Path(log_dir)
        self.queue = DurableQueue(
            self.log_dir / "_queue" / name, max_bytes=max_bytes, segment_bytes=segment_bytes, fsync=fsync
        )
        self.dead_letter_path = self.log_dir / "_deadletter" / f"{name}.jsonl"
        self.deliver = deliver
        self.batch_lines = batch_lines
        self.batch_bytes = batch_bytes
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.counters = SinkCounters()
        self._count_lock = threading.Lock()
        self._on_close = on_close
        self._idle = threading.Condition()
        self.overlap = overlap
        self._order = threading.Condition()  # guards _unacked
        self._unacked: deque[_Unacked] = deque()  # in the order read
        self._dead_letter_lock = threading.Lock()
        self._batches = WorkerPool(f"sink-{name}-batch", overlap) if overlap > 1 else None
        self._worker = Worker(f"sink-{name}", self._run if overlap == 1 else self._run_overlapped)
        self._stop = self._worker.stopping
        if start:
            self.start()

    def start(self) -> None:
        self._worker.start()

    # -- Sink ------------------------------------------------------------------------------

    def write(self, batch: RecordBatch) -> None:
        """Append the batch's JSON lines, framed per service, to the queue (one write)."""
        count = batch.count
        if not count:
            return
        self.queue.append_framed((service, batch.lines(service)) for service in batch)
        with self._count_lock:
            self.counters.queued += count

    def close(self, timeout: float = 10.0) -> None:
        """Stop delivering (what is left stays queued on disk for the next start) and close; the delivery
        thread is joined for up to ``timeout`` (one still running then is logged and left, a daemon)."""
        deadline = time.monotonic() + timeout
        self._worker.stop()
        with self._order:
            self._order.notify_all()
        self.queue.close()
        self._worker.join(timeout)
        if self._batches is not None:
            self._batches.close(deadline - time.monotonic())
        if self._on_close is not None:
            self._on_close()

    # -- observing -------------------------------------------------------------------------

    def metric_samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        labels = {"sink": self.name}
        c = self.counters
        yield "otel_logging_sink_records_queued_total", labels, c.queued
        yield "otel_logging_sink_records_sent_total", labels, c.sent
        yield "otel_logging_sink_records_retried_total", labels, c.retried
        yield "otel_logging_sink_records_dead_lettered_total", labels, c.dead_lettered
        yield "otel_logging_sink_queue_bytes", labels, self.queue.pending_bytes

    def wait_idle(self, timeout: float) -> bool:
        """True once everything appended so far was delivered or dead-lettered (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.queue.pending_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.1))
        return True

    # -- delivering ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.queue.read(self.batch_lines, self.batch_bytes, timeout=0.5)
            except OSError as exc:
                _log.error("sink %s: cannot read its queue (%s); retrying", self.name, exc)
                self._stop.wait(1.0)
                continue
            if batch is None:
                continue
            if not self._deliver_batch(batch):
                return  # stopping; the batch stays queued
            try:
                self.queue.ack(batch)
            except (OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                _log.error("sink %s: cannot record the queue position (%s)", self.name, exc)
                self._stop.wait(1.0)
                continue
            with self._idle:
                self._idle.notify_all()

    def _run_overlapped(self) -> None:
        """Read batches ahead while up to ``overlap`` are unacknowledged; each is delivered on a thread of
        ``_batches``, and acknowledged (``_delivered``) once it and every batch before it are delivered."""
        assert self._batches is not None
        after: Position | None = None  # the end of the last batch read (None: read from the acknowledged position)
        while not self._stop.is_set():
            with self._order:
                if len(self._unacked) >= self.overlap:  # woken by an acknowledgement, or by close()
                    self._order.wait_for(lambda: len(self._unacked) < self.overlap or self._stop.is_set())
                    continue
                if not self._unacked:
                    after = None  # everything read was acknowledged
            try:
                batch = self.queue.read(self.batch_lines, self.batch_bytes, timeout=0.5, after=after)
            except OSError as exc:
                _log.error("sink %s: cannot read its queue (%s); retrying", self.name, exc)
                self._stop.wait(1.0)
                continue
            if batch is None:
                continue
            unacked = _Unacked(batch)
            with self._order:
                self._unacked.append(unacked)
            after = batch.end
            try:
                self._batches.submit(self._deliver_and_ack, unacked)
            except RuntimeError:  # the pool was closed: stopping
                return

    def _deliver_and_ack(self, unacked: _Unacked) -> None:
        if not self._deliver_batch(unacked.batch):
            return  # stopping; the batch stays queued (and so does every later one)
        with self._order:
            unacked.done = True
            while self._unacked and self._unacked[0].done:
                try:
                    self.queue.ack(self._unacked[0].batch)
                except (OSError, ValueError) as exc:
                    if self._stop.is_set():
                        break
                    _log.error("sink %s: cannot record the queue position (%s); trying again", self.name, exc)
                    self._order.wait(1.0)  # lets other batches finish meanwhile; they are acknowledged after
                    continue
                self._unacked.popleft()
            self._order.notify_all()
        with self._idle:
            self._idle.notify_all()

    def _send(self, batch: Batch, lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        """``deliver(lines, services)``: ``lines`` are ``batch``'s, or those of it still to be retried."""
        return self.deliver(lines, services)

    def _deliver_batch(self, batch: Batch) -> bool:
        """Deliver every line of ``batch`` (retrying) or dead-letter it; False if stopped first."""
        pending, services = batch.lines, batch.services
        backoff = 0.0
        while pending:
            try:
                result = self._send(batch, pending, services)
            except (SinkError, OSError) as exc:
                result = DeliveryResult.retry_all(len(pending), str(exc))
            except Exception as exc:  # a bug in deliver must not kill the thread or lose records
                _log.exception("sink %s: deliver failed unexpectedly; retrying", self.name)
                result = DeliveryResult.retry_all(len(pending), f"{type(exc).__name__}: {exc}")
            if result.dead_letters and not self._dead_letter([(pending[i], r) for i, r in result.dead_letters]):
                return False
            retry = sorted(set(result.retry))
            with self._count_lock:
                self.counters.sent += len(pending) - len(retry) - len(result.dead_letters)
                if retry:
                    self.counters.retried += len(retry)
            if not retry:
                return True
            pending = [pending[i] for i in retry]
            services = [services[i] for i in retry]
            backoff = min(self.backoff_max_s, max(self.backoff_initial_s, backoff * 2))
            _log.warning(
                "sink %s: %d record(s) not delivered (%s); retrying in %.1fs",
                self.name,
                len(pending),
                result.error or "retryable errors",
                backoff,
            )
            if self._stop.wait(backoff):
                return False
        return True

    def _dead_letter(self, items: list[tuple[bytes, str]]) -> bool:
        """Append the items with their reasons to the dead-letter file; False if stopped before it could."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out = []
        for line, reason in items:
            try:
                record: object = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = line.decode("utf-8", "replace")
            out.append(orjson.dumps({"time": now, "sink": self.name, "reason": reason, "record": record}) + b"\n")
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                with self._dead_letter_lock, open(self.dead_letter_path, "ab") as f:
                    f.write(b"".join(out))
                break
            except OSError as exc:  # never drop: keep trying until the disk takes it
                _log.error("sink %s: cannot write dead letters to %s (%s)", self.name, self.dead_letter_path, exc)
                if self._stop.wait(1.0):
                    return False
        with self._count_lock:
            self.counters.dead_lettered += len(items)
        _log.warning("sink %s: %d record(s) dead-lettered to %s", self.name, len(items), self.dead_letter_path)
        return True
