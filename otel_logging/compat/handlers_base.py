"""What the older API's network handlers share: LogRecord -> canonical record, a bounded
in-memory buffer, and one background thread sending batches through a project sink.

Subclasses only say how a batch of JSON lines is sent (``_send``, raising ``Retry`` to have
it sent again later) and what the destination is called.
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
from typing import Any

import orjson
from opentelemetry.instrumentation.log_utils import std_to_otel

from otel_logging.client.attributes import clean_mapping
from otel_logging.client.guard import is_internal_logger
from otel_logging.config import default_service_name
from otel_logging.record import Record, rfc3339_nanos
from otel_logging.record.severity import STDLIB_TEXT

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SEVERITY_TEXT = STDLIB_TEXT  # otel_logging.record.severity holds the table


class Retry(Exception):
    """The destination could not take the batch now; it is sent again after ``retry_interval_s``."""


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _trace_context() -> tuple[str | None, str | None]:
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.trace_id:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class BufferedRecordHandler(logging.Handler):
    destination = "the destination"

    def __init__(
        self,
        *,
        service_name: str | None,
        level: int,
        resource: dict[str, Any] | None,
        max_buffer: int,
        batch_size: int,
        retry_interval_s: float,
        thread_name: str,
    ) -> None:
        super().__init__(level)
        self.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or default_service_name()
        self.resource = {**(resource or {}), "service.name": self.service_name}
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        self.retry_interval_s = retry_interval_s
        self.sent = 0
        self.dropped = 0
        self._buffer: deque[bytes] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._warned = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # -- what subclasses provide -------------------------------------------------------------

    def _send(self, batch: list[bytes]) -> None:
        """Send JSON lines; raise ``Retry`` when the destination cannot take them now."""
        raise NotImplementedError

    def _close_destination(self) -> None:
        pass

    # -- logging.Handler ---------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if is_internal_logger(record.name) or threading.current_thread() is self._thread:
            return  # the client's own logging must not loop back into it
        try:
            line = orjson.dumps(self.canonical(record), default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
        except Exception:
            self.handleError(record)
            return
        self._enqueue([line])

    def canonical(self, record: logging.LogRecord) -> Record:
        """The canonical record of a stdlib ``LogRecord`` (the fields the central service writes)."""
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
        canonical: Record = {
            "@timestamp": rfc3339_nanos(int(record.created * 1e9)),
            "observed_timestamp": rfc3339_nanos(time.time_ns()),
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
        """Wait until every buffered record is sent; False if that took longer than ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._buffer and not self._in_flight, timeout_s)

    def close(self) -> None:
        self.flush(5.0)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._close_destination()
        self._thread.join(5.0)
        super().close()

    # -- sending -----------------------------------------------------------------------------

    def _enqueue(self, lines: list[bytes]) -> None:
        with self._cond:
            room = max(self.max_buffer - len(self._buffer), 0)
            if room < len(lines):
                self.dropped += len(lines) - room
                lines = lines[:room]
                if not self._warned:
                    self._warned = True
                    print(
                        f"otel-logging: {self.destination} unreachable and {self.max_buffer} records buffered; "
                        f"dropping new records (see {type(self).__name__}.dropped)",
                        file=sys.stderr,
                    )
            self._buffer.extend(lines)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._buffer or self._stopping)
                if self._stopping:
                    return
                batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
                self._in_flight = len(batch)
            while True:
                try:
                    self._send(batch)
                    break
                except Retry:
                    with self._cond:
                        if self._cond.wait_for(lambda: self._stopping, self.retry_interval_s):
                            return
            with self._cond:
                self.sent += len(batch)
                self._in_flight = 0
                self._warned = False
                self._cond.notify_all()
