"""Destinations for ``LogAggregator.add_handler``: the ``Sink`` protocol, and adapters to it.

``LogstashHandler`` (``otel_logging.compat.handlers_logstash``) buffers and sends on a thread of its own;
``ConfirmedHandlerSink`` makes each write wait for its confirmation, so the checkpoint only moves past
records Logstash has. ``FileRotatingHandler`` (``otel_logging.sinks.rotating_file.RotatingFileSink``) writes
canonical JSON lines to one file with numbered backups (``F``, ``F.1`` .. ``F.<backup_count>``), using the standard
library's rotation; it is also an ordinary ``logging`` handler. ``as_sink`` accepts anything with
``write(by_service)`` (every sink of ``otel_logging.sinks``), an object exposing such a sink as ``.sink``, or a
plain ``logging.Handler`` (fed ``LogRecord`` objects rebuilt from the canonical records).

What ``write`` is given is a ``RecordBatch`` (``otel_logging.record``): it reads as the dict service -> records
this API always passed (records decoded on demand), and the adapters here take its JSON lines as they are.
Called directly, their ``write`` takes such a dict too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from otel_logging.compat import warn_deprecated
from otel_logging.record import Record, RecordBatch
from otel_logging.record.severity import to_stdlib_level
from otel_logging.sinks import Sink, SinkError
from otel_logging.sinks.rotating_file import RotatingFileSink


class FileRotatingHandler(RotatingFileSink):
    """Canonical records as JSON lines in ``filename``, rotated at ``max_bytes`` keeping ``backup_count`` files.

    Deprecated: ``otel-logging aggregate --output-file`` (or ``otel_logging.sinks.rotating_file.RotatingFileSink``,
    the sink this class adds the warning and the dict argument to)."""

    def __init__(
        self, filename: str, max_bytes: int = 10 << 20, backup_count: int = 5, encoding: str = "utf-8"
    ) -> None:
        warn_deprecated(
            "FileRotatingHandler",
            "use `otel-logging aggregate --output-file FILE` (or otel_logging.sinks.rotating_file.RotatingFileSink)",
        )
        super().__init__(filename, max_bytes, backup_count, encoding)

    def write(self, by_service: Mapping[str, list[Record]]) -> None:
        """Append the records (a ``RecordBatch``, or a dict service -> records); rotate at ``max_bytes``."""
        super().write(RecordBatch.of(by_service))


class LoggingHandlerSink:
    """Feeds canonical records to a standard ``logging.Handler`` as ``LogRecord`` objects."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.name = f"logging:{type(handler).__name__}"

    def write(self, by_service: Mapping[str, list[Record]]) -> None:
        for records in by_service.values():
            for record in records:
                self.handler.handle(to_log_record(record))

    def close(self) -> None:
        self.handler.close()


def to_log_record(record: Record) -> logging.LogRecord:
    number = record.get("severity_number", 0)
    levelno = to_stdlib_level(number)
    try:
        created = datetime.fromisoformat(record["@timestamp"][:26] + "+00:00").timestamp()
    except (KeyError, ValueError):
        created = None
    fields: dict[str, Any] = {
        "name": record.get("logger") or "root",
        "levelno": levelno,
        "levelname": logging.getLevelName(levelno),
        "msg": record.get("body"),
        "args": None,
        "service": record.get("service"),
        "otel_attributes": record.get("attributes", {}),
    }
    log_record = logging.makeLogRecord(fields)
    if created is not None:
        log_record.created = created
        log_record.msecs = (created - int(created)) * 1000
    return log_record


class ConfirmedHandlerSink:
    """A handler that buffers in memory and sends on its own thread (``LogstashHandler``), made synchronous:
    records go in pieces that fit its buffer, and ``write`` returns once ``flush`` saw them confirmed."""

    def __init__(self, handler: Any, timeout_s: float = 30.0) -> None:
        self.handler = handler
        self.name = getattr(handler, "name", None) or type(handler).__name__
        self.piece = max(1, int(handler.max_buffer) // 2)
        self.timeout_s = timeout_s

    def write(self, by_service: Mapping[str, list[Record]]) -> None:
        for service, records in by_service.items():
            for i in range(0, len(records), self.piece):
                dropped = getattr(self.handler, "dropped", 0)
                self.handler.write({service: records[i : i + self.piece]})
                if getattr(self.handler, "dropped", 0) != dropped:
                    raise SinkError(f"{self.name} dropped records (its buffer was full); they will be sent again")
                if not self.handler.flush(self.timeout_s):
                    raise SinkError(f"{self.name} did not confirm records within {self.timeout_s:.0f}s; retrying")

    def close(self) -> None:
        self.handler.close()


def as_sink(handler: Any) -> Sink:
    """The ``Sink`` behind ``handler`` (see the module docstring); ``TypeError`` for anything else."""
    if hasattr(handler, "max_buffer") and callable(getattr(handler, "write", None)):
        return ConfirmedHandlerSink(handler)
    if callable(getattr(handler, "write", None)) and callable(getattr(handler, "close", None)):
        if not hasattr(handler, "name") or not handler.name:
            handler.name = type(handler).__name__
        return handler
    inner = getattr(handler, "sink", None)
    if inner is not None and callable(getattr(inner, "write", None)):
        return inner
    if isinstance(handler, logging.Handler):
        return LoggingHandlerSink(handler)
    raise TypeError(
        f"{type(handler).__name__} is not a destination: pass a sink with write(by_service) and close(), "
        "or a logging.Handler"
    )
