"""Request limits and record processors applied by the export path.

Processors are plain callables ``Record -> Record`` run in a short chain on every
accepted record (service-side redaction, attribute truncation); limits raise
``ExportError`` with a retry hint so that well-behaved clients back off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.record import Record
from otel_logging.record.redaction import Redactor

RecordProcessor = Callable[[Record], Record]

TRUNCATED_FLAG = "otel_logging.truncated"


def redacting_processor(redactor: Redactor) -> RecordProcessor:
    """Masks each record's body and attributes; ``.redactor`` is kept on it for its per-rule counts."""

    def redact(record: Record) -> Record:
        body = record["body"]
        if body is not None:
            record["body"] = redactor.value(body)
        if record["attributes"]:
            record["attributes"] = redactor.mapping(record["attributes"])
        return record

    redact.redactor = redactor  # type: ignore[attr-defined]
    return redact


def truncating_processor(max_length: int) -> RecordProcessor:
    """Cut string values longer than ``max_length`` (body and attributes) and flag the record."""

    def cut(value: Any) -> tuple[Any, bool]:
        if isinstance(value, str):
            return (value[:max_length], True) if len(value) > max_length else (value, False)
        if isinstance(value, dict):
            changed = False
            out = {}
            for k, v in value.items():
                out[k], c = cut(v)
                changed |= c
            return (out, True) if changed else (value, False)
        if isinstance(value, list):
            items = [cut(v) for v in value]
            return ([v for v, _ in items], True) if any(c for _, c in items) else (value, False)
        return value, False

    def truncate(record: Record) -> Record:
        body, body_cut = cut(record["body"])
        attributes, attrs_cut = cut(record["attributes"])
        if body_cut or attrs_cut:
            record["body"] = body
            record["attributes"] = {**attributes, TRUNCATED_FLAG: True}
        return record

    return truncate


class NewAppLimiter:
    """At most ``per_minute`` apps never seen before may start a file in any 60-second window."""

    def __init__(self, per_minute: int, known: set[str] | None = None, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.known: set[str] = set(known or ())
        self.clock = clock
        self._window_start = clock()
        self._admitted = 0
        self._lock = threading.Lock()

    def admit(self, services: list[str]) -> None:
        new = [s for s in services if s not in self.known]
        if not new:
            return
        with self._lock:
            now = self.clock()
            if now - self._window_start >= 60:
                self._window_start, self._admitted = now, 0
            new = [s for s in new if s not in self.known]
            if self._admitted + len(new) > self.per_minute:
                retry = max(1, int(60 - (now - self._window_start)) + 1)
                raise ExportError(
                    Failure.RATE_LIMITED,
                    f"more than {self.per_minute} new apps per minute; retry in {retry}s",
                    retry_after_s=retry,
                )
            self._admitted += len(new)
            self.known.update(new)
