"""A batching log record processor that does not lose records in a burst.

The SDK's ``BatchLogRecordProcessor`` drops records once its queue (2048) is full, gives up
at shutdown after 30 s, and a forked child discards what it inherited. This processor is an
SDK ``LogRecordProcessor`` too, with an explicit loss policy:

- while the receiver accepts exports, a full queue makes the logging call wait for room
  (back-pressure), so a burst of any size arrives whole with bounded memory;
- while the receiver is unreachable, the failed batch is retried with backoff and new
  records fill the queue; once it is full they are dropped, counted, and reported once
  on stderr (and again, with the total, at shutdown);
- the first failed export is reported once on stderr, with its likely cause (TLS to a
  plaintext port, connection refused, an OTLP/HTTP port given to gRPC: ``transport.explain``);
- shutdown (and so interpreter exit) waits at most ``export_timeout_ms`` for the queue to be
  delivered, in-flight request included; what it gives up on is counted as dropped;
- ``os.fork()``: the parent flushes what it has before forking; the child starts with an
  empty queue, a fresh transport (new gRPC channel), its own worker thread and its own
  ``process.pid`` and ``service.instance.id`` in the resource.

With a disk buffer (``buffer_factory``, ``client/disk_buffer.py``) a batch the receiver cannot take is
appended to the buffer's segment files instead of waiting in memory, and so is every later batch
while the buffer holds anything (order is kept); the worker sends the buffer's frames oldest first as
soon as the receiver answers, and a frame is removed only once the receiver acknowledged it. Producers
wait for room (as while the receiver answers) as long as the buffer takes batches; once it is full or
the disk fails, the drop policy above applies. Shutdown does not wait for an unreachable receiver: what
is queued goes to the buffer for the next run of the same service.

It queues compact entries (``client/entry.py``): our handler enqueues them directly, and
records emitted through the SDK ``Logger`` API arrive through ``on_emit``. The worker
encodes a whole batch to one OTLP request (``client/encoder.py``) and sends the bytes.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from otel_logging.client.disk_buffer import DiskBuffer, describe_size
from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.entry import LogEntry, entry_from_sdk
from otel_logging.client.guard import export_guard
from otel_logging.client.state import CLIENT_STATE
from otel_logging.client.transport import SendOutcome


class Transport(Protocol):
    last_error: str

    def send(self, payload: bytes) -> SendOutcome: ...

    def close(self) -> None: ...


def _explain(transport: Transport) -> str:
    """The transport's account of its last failure (``GrpcTransport.explain``), else its raw error."""
    explain = getattr(transport, "explain", None)
    return str(explain()) if callable(explain) else transport.last_error


TransportFactory = Callable[[], Transport]
# Opens this process's disk buffer: (buffer, "") or (None, why it cannot be used).
BufferFactory = Callable[[], "tuple[DiskBuffer | None, str]"]

# Retrying an unreachable receiver: cheap (the channel fails fast while it reconnects), so often enough
# that the first batch goes out within about a second of the receiver's return.
FIRST_RETRY_S = 0.1
MAX_RETRY_S = 0.5
ADOPT_EVERY_S = 5.0  # how often the buffer directory is looked at for segments of exited processes


@dataclass(slots=True)
class ProcessorStats:
    accepted: int  # records taken into the queue
    exported: int
    dropped: int
    queued: int
    buffered: int = 0  # records of this process in the disk buffer, not acknowledged yet
    recovered: int = 0  # records of earlier processes (adopted from the disk buffer) delivered


class ReliableBatchProcessor(LogRecordProcessor):
    def __init__(
        self,
        transport_factory: TransportFactory,
        encoder: BatchEncoder,
        *,
        max_queue_size: int = 20_000,
        max_export_batch_size: int = 1024,
        schedule_delay_ms: int = 1000,
        export_timeout_ms: int = 5_000,
        target: str = "the receiver",
        buffer_factory: BufferFactory | None = None,
    ) -> None:
        self._transport_factory = transport_factory
        self._buffer_factory = buffer_factory
        self._encoder = encoder
        self._max_queue = max(1, max_queue_size)
        self._batch_size = max(1, min(max_export_batch_size, self._max_queue))
        self._delay_s = schedule_delay_ms / 1000
        self._shutdown_timeout_s = export_timeout_ms / 1000
        self._target = target
        self._init_state()
        CLIENT_STATE.add_processor(self)  # its fork handling

    def _init_state(self) -> None:
        self._transport = self._transport_factory()
        self._queue: collections.deque[LogEntry] = collections.deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the worker waits here
        self._room = threading.Condition(self._lock)  # producers wait here for room
        self._done = threading.Condition(self._lock)  # flushers wait here
        self._emitted = 0  # records handed to the processor: queued, or refused at once (sequence number)
        self._settled = 0  # records exported or given up on
        self._refused = 0  # records dropped before they were queued
        self._exported = 0
        self._dropped = 0
        self._flush_upto = 0
        self._healthy = True
        self._in_flight = 0  # records the worker is sending now
        self._abandoned = False  # shutdown stopped waiting for the worker: it must not count any more
        self._reported_failure = False
        self._last_failure = ""
        self._undelivered_at_exit = 0
        self._reported_loss = False
        self._reported_rejection = False
        self._shutdown = False
        self._stop_worker = False
        self._in_flight_payload: bytes | None = None  # the encoded batch being sent (not from the buffer)
        self._retry_at = 0.0
        self._backoff = FIRST_RETRY_S
        self._buffered = 0  # this process's records in the disk buffer, not acknowledged yet
        self._recovered = 0
        self._buffer: DiskBuffer | None = None
        self._buffer_accepts = False  # the last append to the disk buffer succeeded
        self._open_buffer()
        self._worker = threading.Thread(target=self._run, name="otel-logging-export", daemon=True)
        self._worker.start()

    # -- producer side ---------------------------------------------------------------
    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Records emitted through the SDK ``Logger`` API (not through our handler)."""
        if export_guard.active:
            return  # a record emitted by the export path itself: never feed it back
        self.enqueue(entry_from_sdk(log_record))

    def enqueue(self, entry: LogEntry) -> None:
        """Queue one entry; waits for room while the receiver accepts exports."""
        with self._lock:
            if self._shutdown:
                self._refuse_locked("after shutdown")
                return
            while len(self._queue) >= self._max_queue:
                if not (self._healthy or self._buffer_accepts) or threading.current_thread() is self._worker:
                    self._refuse_locked("queue full while the receiver is unreachable")
                    return
                self._work.notify()
                self._room.wait(0.5)
                if self._shutdown:
                    self._refuse_locked("after shutdown")
                    return
            self._queue.append(entry)
            self._emitted += 1
            # A full batch: wake the worker. Only when the queue reaches it: a worker busy sending looks at the
            # queue before it waits again, so notifying on every later record (a Python call each) is not needed.
            if len(self._queue) == self._batch_size:
                self._work.notify()

    def _refuse_locked(self, why: str) -> None:
        """A record dropped before it was queued: emitted and settled at once (a flush never waits for it, and
        ``_settled`` never runs ahead of ``_emitted``, which made a flush return with records still queued)."""
        self._emitted += 1
        self._refused += 1
        self._drop_locked(1, why)

    def _drop_locked(self, count: int, why: str, rejection: bool = False, quiet: bool = False) -> None:
        """Count ``count`` records as dropped; the first loss (and first rejection) is reported.

        ``quiet``: the shutdown summary reports it (a drop at shutdown)."""
        self._dropped += count
        self._settled += count
        self._done.notify_all()
        if quiet:
            return
        if rejection and not self._reported_rejection:
            self._reported_rejection = True
            _report(f"otel-logging: {count} log record(s) dropped because {why}")
        elif not rejection and not self._reported_loss:
            self._reported_loss = True
            _report(
                f"otel-logging: dropping log records ({why}; target {self._target}). "
                "Further drops are counted and reported at shutdown."
            )

    # -- disk buffer -------------------------------------------------------------------
    def _open_buffer(self) -> None:
        if self._buffer_factory is None:
            return
        try:
            buffer, why = self._buffer_factory()
        except Exception as exc:  # never into the app
            buffer, why = None, repr(exc)
        if buffer is None:
            _report(
                f"otel-logging: the disk buffer cannot be used ({why}); "
                f"records wait in memory only (up to {self._max_queue}) while {self._target} is unreachable."
            )
            return
        self._buffer = buffer
        self._buffer_accepts = True
        if buffer.bytes:
            _report(
                f"otel-logging: sending {buffer.bytes} bytes of log records buffered by an earlier process "
                f"in {buffer.directory} to {self._target}."
            )

    def _failure_locked(self, cause: str) -> None:
        """The receiver could not take a request: not healthy; report the first failure."""
        self._healthy = False
        self._last_failure = cause
        self._room.notify_all()  # waiting producers switch to the drop policy (unless the buffer takes them)
        if not self._reported_failure:
            self._reported_failure = True
            if self._buffer is not None:
                where = (
                    f"Records go to the disk buffer {self._buffer.directory} (up to "
                    f"{describe_size(self._buffer.max_bytes)}) and are sent in order once it answers."
                )
            else:
                where = (
                    f"Records wait in the queue (up to {self._max_queue}) and are retried; exit waits at "
                    f"most {self._shutdown_timeout_s:g} s for them (export_timeout_ms / OTEL_BLRP_EXPORT_TIMEOUT)."
                )
            _report(f"otel-logging: cannot export logs to {self._target}: {_sentence(cause)} {where}")

    def _run_buffered(self, buffer: DiskBuffer) -> None:
        """The worker with a disk buffer: send, or append to the buffer; drain the buffer oldest first."""
        next_adopt = time.monotonic() + ADOPT_EVERY_S
        batch_since = time.monotonic()
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    if self._stop_worker:
                        break
                    if not self._queue:
                        batch_since = now
                    elif (
                        len(self._queue) >= self._batch_size
                        or self._flush_upto > self._settled
                        or now - batch_since >= self._delay_s
                    ):
                        break
                    pending = buffer.pending
                    if pending and now >= self._retry_at:
                        break
                    if now >= next_adopt:
                        break
                    waits = [next_adopt - now]
                    if self._queue:
                        waits.append(self._delay_s - (now - batch_since))
                    else:
                        waits.append(self._delay_s or 0.05)
                    if pending:
                        waits.append(self._retry_at - now)
                    self._work.wait(max(0.001, min(waits)))
                if self._stop_worker:
                    self._stop_buffered_locked(buffer)
                    return
                now = time.monotonic()
                batch: list[LogEntry] = []
                if self._queue and (
                    len(self._queue) >= self._batch_size
                    or self._flush_upto > self._settled
                    or now - batch_since >= self._delay_s
                ):
                    popleft = self._queue.popleft
                    batch = [popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                    self._in_flight = len(batch)
                    batch_since = now
                    self._room.notify_all()
            if now >= next_adopt:
                next_adopt = now + ADOPT_EVERY_S
                buffer.adopt()
            if batch and not self._send_or_buffer(batch, buffer):
                return
            if time.monotonic() >= self._retry_at and buffer.pending and not self._send_from_buffer(buffer):
                return

    def _send_or_buffer(self, batch: list[LogEntry], buffer: DiskBuffer) -> bool:
        """Send ``batch`` (or append it to the buffer); False when shutdown abandoned the worker."""
        try:
            payload = self._encoder.encode(batch)
        except Exception as exc:
            with self._lock:
                self._in_flight = 0
                self._drop_locked(len(batch), f"they could not be encoded ({exc!r})")
            return True
        with self._lock:
            self._in_flight_payload = payload
        if not buffer.pending and time.monotonic() >= self._retry_at:
            outcome = self._transport.send(payload)
            with self._lock:
                if self._abandoned:
                    return False
                if outcome is SendOutcome.SENT:
                    self._sent_locked(len(batch))
                    return True
                if outcome is SendOutcome.REJECTED:
                    self._in_flight = 0
                    self._in_flight_payload = None
                    self._healthy = True
                    self._drop_locked(
                        len(batch), f"the receiver refused them: {self._transport.last_error}", rejection=True
                    )
                    return True
                self._failure_locked(_explain(self._transport))
                self._retry_later_locked()
        self._append(buffer, payload, len(batch))
        return True

    def _append(self, buffer: DiskBuffer, payload: bytes, records: int, quiet: bool = False) -> bool:
        appended = buffer.append(payload, records)
        with self._lock:
            self._in_flight = 0
            self._in_flight_payload = None
            if appended:
                self._buffered += records
                self._buffer_accepts = True
            else:
                self._buffer_accepts = False
                self._room.notify_all()
                self._drop_locked(
                    records,
                    f"the disk buffer is {buffer.refusal} ({buffer.directory}, limit "
                    f"{describe_size(buffer.max_bytes)}) while the receiver is unreachable",
                    quiet=quiet,
                )
                if quiet:
                    self._undelivered_at_exit += records
        return appended

    def _sent_locked(self, records: int) -> None:
        self._in_flight = 0
        self._in_flight_payload = None
        self._healthy = True
        self._exported += records
        self._settled += records
        self._done.notify_all()
        self._backoff = FIRST_RETRY_S
        self._retry_at = 0.0

    def _retry_later_locked(self) -> None:
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_RETRY_S)

    def _send_from_buffer(self, buffer: DiskBuffer) -> bool:
        """Send the buffer's oldest frame; False when shutdown abandoned the worker."""
        try:
            frame = buffer.peek()
        except OSError as exc:  # cannot read it now (too many open files, I/O): kept, tried again later
            with self._lock:
                self._failure_locked(f"cannot read the disk buffer: {exc}")
                self._retry_later_locked()
            return True
        if frame is None:
            return True
        outcome = self._transport.send(frame.payload)
        with self._lock:
            if self._abandoned:
                return False
            if outcome is SendOutcome.RETRY:
                self._failure_locked(_explain(self._transport))
                self._retry_later_locked()
                return True
        buffer.ack(frame)
        with self._lock:
            if frame.own:
                self._buffered -= frame.records
            if outcome is SendOutcome.SENT:
                if frame.own:
                    self._sent_locked(frame.records)
                else:
                    self._recovered += frame.records
                    self._healthy = True
                    self._backoff = FIRST_RETRY_S
                    self._retry_at = 0.0
            else:
                self._healthy = True
                why = f"the receiver refused them: {self._transport.last_error}"
                if frame.own:
                    self._drop_locked(frame.records, why, rejection=True)
                elif not self._reported_rejection:
                    self._reported_rejection = True
                    _report(f"otel-logging: {frame.records} buffered log record(s) dropped because {why}")
        return True

    def _stop_buffered_locked(self, buffer: DiskBuffer) -> None:
        """Stopping (lock held): what is queued goes to the buffer for the next run."""
        while self._queue:
            popleft = self._queue.popleft
            batch = [popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                payload = self._encoder.encode(batch)
            except Exception:
                self._drop_locked(len(batch), "not delivered before exit", quiet=True)
                self._undelivered_at_exit += len(batch)
                continue
            self._lock.release()
            try:
                self._append(buffer, payload, len(batch), quiet=True)
            finally:
                self._lock.acquire()
        buffer.close()

    # -- worker side -----------------------------------------------------------------
    def _run(self) -> None:
        export_guard.active = True
        if self._buffer is not None:
            self._run_buffered(self._buffer)
            return
        backoff = FIRST_RETRY_S
        while True:
            with self._lock:
                deadline = time.monotonic() + self._delay_s
                while not self._stop_worker:
                    if len(self._queue) >= self._batch_size or (self._queue and self._flush_upto > self._settled):
                        break
                    remaining = deadline - time.monotonic()
                    if self._queue and remaining <= 0:
                        break
                    self._work.wait(remaining if self._queue and remaining > 0 else self._delay_s or 0.05)
                if self._stop_worker and not self._queue:
                    return
                popleft = self._queue.popleft
                batch = [popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                self._in_flight = len(batch)
                self._room.notify_all()
            try:
                payload = self._encoder.encode(batch)
            except Exception as exc:  # an encoding bug must not kill the worker or lose the others
                with self._lock:
                    self._in_flight = 0
                    self._drop_locked(len(batch), f"they could not be encoded ({exc!r})")
                continue
            while True:
                outcome = self._transport.send(payload)
                if self._abandoned:  # shutdown counted this batch already and stopped waiting
                    return
                if outcome is SendOutcome.SENT:
                    with self._lock:
                        self._in_flight = 0
                        self._healthy = True
                        self._exported += len(batch)
                        self._settled += len(batch)
                        self._done.notify_all()
                    backoff = FIRST_RETRY_S
                    break
                if outcome is SendOutcome.REJECTED:
                    with self._lock:
                        self._in_flight = 0
                        self._healthy = True  # the receiver answers; it refused this batch
                        self._drop_locked(
                            len(batch), f"the receiver refused them: {self._transport.last_error}", rejection=True
                        )
                    break
                cause = _explain(self._transport)
                with self._lock:
                    self._failure_locked(cause)
                    if self._stop_worker:
                        self._in_flight = 0
                        self._drop_locked(len(batch), "not delivered before exit", quiet=True)
                        self._undelivered_at_exit += len(batch)
                        break
                    self._work.wait(backoff)
                backoff = min(backoff * 2, MAX_RETRY_S)

    # -- control -----------------------------------------------------------------------
    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if threading.current_thread() is self._worker:
            return False
        deadline = time.monotonic() + timeout_millis / 1000
        with self._lock:
            target = self._emitted
            self._flush_upto = max(self._flush_upto, target)
            self._work.notify()
            while self._settled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
            return True

    def shutdown(self) -> None:
        """Deliver what is queued, waiting at most ``export_timeout_ms`` in all, then stop."""
        with self._lock:
            if self._shutdown:
                return
        deadline = time.monotonic() + self._shutdown_timeout_s
        buffer = self._buffer
        with self._lock:
            # an unreachable receiver is not waited for when the disk buffer keeps the records for the next run
            wait_s = 0.0 if buffer is not None and self._buffer_accepts and not self._healthy else None
        flushed = self.force_flush(int((self._shutdown_timeout_s if wait_s is None else wait_s) * 1000))
        with self._lock:
            self._shutdown = True
            self._stop_worker = True
            if not flushed and buffer is None:  # (with a buffer the worker appends the queue to it)
                lost = len(self._queue)
                self._queue.clear()
                if lost:
                    self._drop_locked(lost, "not delivered before exit", quiet=True)
                    self._undelivered_at_exit += lost
            self._work.notify_all()
            self._room.notify_all()
        # A request in flight (e.g. to a host that does not answer) is not waited for past the deadline.
        self._worker.join(max(0.2, deadline - time.monotonic()))
        leftover: list[tuple[bytes | None, int]] = []
        with self._lock:
            if self._worker.is_alive() and buffer is not None:
                # stuck in a request: what it holds and what is queued go to the buffer from here
                self._abandoned = True
                if self._in_flight:
                    leftover.append((self._in_flight_payload, self._in_flight))
                    self._in_flight = 0
                while self._queue:
                    batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                    try:
                        leftover.append((self._encoder.encode(batch), len(batch)))
                    except Exception:
                        leftover.append((None, len(batch)))
            elif self._worker.is_alive() and self._in_flight:
                self._abandoned = True
                self._drop_locked(self._in_flight, "not delivered before exit", quiet=True)
                self._undelivered_at_exit += self._in_flight
                self._in_flight = 0
        if buffer is not None:
            for payload, records in leftover:
                if payload is None:
                    with self._lock:
                        self._drop_locked(records, "not delivered before exit", quiet=True)
                        self._undelivered_at_exit += records
                else:
                    self._append(buffer, payload, records, quiet=True)
            buffer.close()
        self._transport.close()  # also cancels a request still in flight
        if self._dropped:
            message = (
                f"otel-logging: {self._dropped} log record(s) were dropped in this process, "
                f"{self._exported} exported to {self._target}."
            )
            if self._undelivered_at_exit:
                message += (
                    f" {self._undelivered_at_exit} of them were not delivered within the exit wait of "
                    f"{self._shutdown_timeout_s:g} s (export_timeout_ms / OTEL_BLRP_EXPORT_TIMEOUT)"
                    + (f"; last error: {self._last_failure}" if self._last_failure else "")
                )
                message = _sentence(message)
            _report(message)
        if buffer is not None and self._buffered > 0:
            _report(
                f"otel-logging: {self._buffered} log record(s) not delivered to {self._target} yet are kept in "
                f"the disk buffer {buffer.directory}; the next run of this service sends them."
            )

    def stats(self) -> ProcessorStats:
        with self._lock:
            return ProcessorStats(
                self._emitted - self._refused,
                self._exported,
                self._dropped,
                len(self._queue),
                self._buffered,
                self._recovered,
            )

    # -- fork ------------------------------------------------------------------------
    def _before_fork(self) -> None:
        if self._shutdown or threading.current_thread() is self._worker:
            return
        with self._lock:
            pending = self._emitted > self._settled and self._healthy
        if pending:
            self.force_flush(5_000)

    def _after_fork_in_child(self) -> None:
        if self._shutdown:
            return
        # The parent still owns (and exports) what was queued before the fork, and its disk buffer.
        if self._buffer is not None:
            self._buffer.forget_after_fork()
        self._encoder.after_fork()  # the child's own process.pid and service.instance.id
        self._init_state()


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _report(message: str) -> None:
    """Tell the operator without going through logging (which would feed the pipeline)."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:
        pass
