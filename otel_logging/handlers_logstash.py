"""``LogstashHandler``: the older API's handler, sending canonical records straight to Logstash.

    handler = LogstashHandler("logstash.internal", 5000, service_name="shop")
    logging.getLogger().addHandler(handler)

A thin adapter: each ``LogRecord`` becomes the canonical record (the same fields the central
service writes) and goes over ``LogstashTransport`` (TCP json_lines, optional TLS, reconnects,
a batch counts as sent only once Logstash's TCP stack acknowledged it). Sending happens on a
background thread; ``emit`` never waits for the network. The buffer in between is in memory
and bounded (``max_buffer`` records): when Logstash stays away that long, new records are
counted in ``dropped`` and a warning is printed to stderr, instead of the app blocking. For
records that must survive outages, send them to ``otel-logging serve --logstash`` (durable queue).

The handler is also a sink (``write(by_service)``), so ``LogAggregator.add_handler`` can use it.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.instrumentation.log_utils import std_to_otel

from otel_logging.client.attributes import clean_mapping
from otel_logging.client.guard import is_internal_logger
from otel_logging.config import default_service_name
from otel_logging.record import Record, rfc3339_nanos, to_json_line
from otel_logging.sinks.logstash import DEFAULT_LOGSTASH_PORT, LogstashTls, LogstashTransport, LogstashUnavailable

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _trace_context() -> tuple[str | None, str | None]:
    try:
        from opentelemetry.trace import get_current_span
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return None, None
    context = get_current_span().get_span_context()
    if not context.trace_id:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class LogstashHandler(logging.Handler):
    """Send stdlib log records to Logstash's ``tcp`` input (``json_lines`` codec) as canonical records."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_LOGSTASH_PORT,
        *,
        service_name: str | None = None,
        level: int = logging.NOTSET,
        tls_ca_file: str | Path | None = None,
        tls_cert_file: str | Path | None = None,
        tls_key_file: str | Path | None = None,
        resource: dict[str, Any] | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 500,
    ) -> None:
        super().__init__(level)
        self.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or default_service_name()
        self.resource = {**(resource or {}), "service.name": self.service_name}
        tls = None
        if tls_ca_file or tls_cert_file:
            tls = LogstashTls(
                ca_file=Path(tls_ca_file) if tls_ca_file else None,
                cert_file=Path(tls_cert_file) if tls_cert_file else None,
                key_file=Path(tls_key_file) if tls_key_file else None,
            )
        self.transport = LogstashTransport(host, port, tls=tls)
        self.name = f"logstash:{self.transport.name}"
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        self.dropped = 0
        self.sent = 0
        self._buffer: deque[bytes] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="otel-logging-logstash", daemon=True)
        self._thread.start()

    # -- logging.Handler ------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if is_internal_logger(record.name) or threading.current_thread() is self._thread:
            return  # the transport's own warnings must not loop back into it
        try:
            line = orjson.dumps(self.canonical(record), default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
        except Exception:
            self.handleError(record)
            return
        self._enqueue([line])

    def canonical(self, record: logging.LogRecord) -> Record:
        """The canonical record of a stdlib ``LogRecord``."""
        body = self.format(record) if self.formatter else record.getMessage()
        attributes = clean_mapping({k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS})
        event_name = attributes.pop("otel.event.name", None) or attributes.pop("event.name", None)
        attributes["code.file.path"] = record.pathname
        attributes["code.function.name"] = record.funcName
        attributes["code.line.number"] = record.lineno
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            attributes["exception.type"] = exc_type.__name__
            if exc is not None and exc.args:
                attributes["exception.message"] = str(exc.args[0])
            attributes["exception.stacktrace"] = "".join(traceback.format_exception(exc_type, exc, tb))
        now = time.time_ns()
        canonical: Record = {
            "@timestamp": rfc3339_nanos(int(record.created * 1e9)),
            "observed_timestamp": rfc3339_nanos(now),
            "severity_text": _SEVERITY_TEXT.get(record.levelname, record.levelname),
            "severity_number": std_to_otel(record.levelno).value,
            "body": body,
            "logger": record.name,
            "service": self.service_name,
            "attributes": attributes,
            "resource": self.resource,
        }
        trace_id, span_id = _trace_context()
        if trace_id:
            canonical["trace_id"] = trace_id
            canonical["span_id"] = span_id
        if event_name:
            canonical["event_name"] = str(event_name)
        return canonical

    def flush(self, timeout_s: float = 10.0) -> bool:  # type: ignore[override]
        """Wait until every buffered record is confirmed by Logstash; False if that took too long."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._buffer or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        self.flush(5.0)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.transport.close()
        self._thread.join(5.0)
        super().close()

    # -- sink (LogAggregator.add_handler) --------------------------------------------------

    def write(self, by_service: dict[str, list[Record]]) -> None:
        self._enqueue([to_json_line(r) for records in by_service.values() for r in records])

    # -- sending --------------------------------------------------------------------------

    def _enqueue(self, lines: list[bytes]) -> None:
        with self._cond:
            room = self.max_buffer - len(self._buffer)
            if room < len(lines):
                self.dropped += len(lines) - max(room, 0)
                lines = lines[: max(room, 0)]
                if not self._warned:
                    self._warned = True
                    print(
                        f"otel-logging: Logstash {self.transport.name} unreachable and {self.max_buffer} records "
                        "buffered; dropping new records (see LogstashHandler.dropped)",
                        file=sys.stderr,
                    )
            self._buffer.extend(lines)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
                self._in_flight = len(batch)
            while True:
                try:
                    self.transport.send(batch)
                    break
                except LogstashUnavailable:
                    if self._stopping:
                        return
                    # The transport waits out its backoff before the next connection attempt.
            with self._cond:
                self.sent += len(batch)
                self._in_flight = 0
                self._warned = False
                self._cond.notify_all()
