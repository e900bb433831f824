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


@dataclass(slots=True)
class ProcessorStats:
    accepted: int  # records taken into the queue
    exported: int
    dropped: int
    queued: int


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
    ) -> None:
        self._transport_factory = transport_factory
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
        self._emitted = 0  # records accepted into the queue (sequence number)
        self._settled = 0  # records exported or given up on
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
                self._drop_locked(1, "after shutdown")
                return
            while len(self._queue) >= self._max_queue:
                if not self._healthy or threading.current_thread() is self._worker:
                    self._drop_locked(1, "queue full while the receiver is unreachable")
                    return
                self._work.notify()
                self._room.wait(0.5)
                if self._shutdown:
                    self._drop_locked(1, "after shutdown")
                    return
            self._queue.append(entry)
            self._emitted += 1
            if len(self._queue) >= self._batch_size:
                self._work.notify()

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

    # -- worker side -----------------------------------------------------------------
    def _run(self) -> None:
        export_guard.active = True
        backoff = 0.5
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
                    backoff = 0.5
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
                    self._healthy = False
                    self._last_failure = cause
                    self._room.notify_all()  # waiting producers switch to the drop policy
                    if not self._reported_failure:
                        self._reported_failure = True
                        _report(
                            f"otel-logging: cannot export logs to {self._target}: {_sentence(cause)} "
                            f"Records wait in the queue (up to {self._max_queue}) and are retried; exit waits at "
                            f"most {self._shutdown_timeout_s:g} s for them (export_timeout_ms / "
                            "OTEL_BLRP_EXPORT_TIMEOUT)."
                        )
                    if self._stop_worker:
                        self._in_flight = 0
                        self._drop_locked(len(batch), "not delivered before exit", quiet=True)
                        self._undelivered_at_exit += len(batch)
                        break
                    self._work.wait(backoff)
                backoff = min(backoff * 2, 30.0)

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
        flushed = self.force_flush(int(self._shutdown_timeout_s * 1000))
        with self._lock:
            self._shutdown = True
            self._stop_worker = True
            if not flushed:
                lost = len(self._queue)
                self._queue.clear()
                if lost:
                    self._drop_locked(lost, "not delivered before exit", quiet=True)
                    self._undelivered_at_exit += lost
            self._work.notify_all()
            self._room.notify_all()
        # A request in flight (e.g. to a host that does not answer) is not waited for past the deadline.
        self._worker.join(max(0.2, deadline - time.monotonic()))
        with self._lock:
            if self._worker.is_alive() and self._in_flight:
                self._abandoned = True
                self._drop_locked(self._in_flight, "not delivered before exit", quiet=True)
                self._undelivered_at_exit += self._in_flight
                self._in_flight = 0
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

    def stats(self) -> ProcessorStats:
        with self._lock:
            return ProcessorStats(self._emitted, self._exported, self._dropped, len(self._queue))

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
        # The parent still owns (and exports) what was queued before the fork.
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
