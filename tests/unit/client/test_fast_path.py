"""The handler's fast path (one entry straight to our processor) carries what the SDK path carries.

The same stdlib records go through two handlers: one with the fast path, one without it (every record
through the SDK's ``LogRecord`` and ``on_emit``); their entries must agree in every field but the
observed time (taken at the call) and the scope's type (a logger name vs the SDK's scope of that name).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.entry import OBSERVED, SCOPE, LogEntry
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.transport import SendOutcome
from otel_logging.record.redaction import Redactor


class NoTransport:
    last_error = ""

    def send(self, payload: bytes) -> SendOutcome:
        return SendOutcome.SENT

    def close(self) -> None:
        pass


class Capturing(ReliableBatchProcessor):
    def __init__(self) -> None:
        super().__init__(lambda: NoTransport(), BatchEncoder({"service.name": "t"}), schedule_delay_ms=60_000)
        self.entries: list[LogEntry] = []

    def enqueue(self, entry: LogEntry) -> None:
        self.entries.append(entry)


def lists(value: Any) -> Any:
    """The SDK keeps sequences as tuples, the fast path as lists: both are encoded as arrays."""
    if isinstance(value, (list, tuple)):
        return [lists(v) for v in value]
    if isinstance(value, dict):
        return {k: lists(v) for k, v in value.items()}
    return value


def handler(fast: bool) -> tuple[OtelLoggingHandler, Capturing]:
    provider = LoggerProvider(resource=Resource.create({"service.name": "t"}), shutdown_on_exit=False)
    processor = Capturing()
    provider.add_log_record_processor(processor)
    handler = OtelLoggingHandler(logger_provider=provider, redactor=Redactor())
    if fast:
        handler.enable_fast_path(processor)
        assert handler._fast_path() is processor
    return handler, processor


def records() -> list[logging.LogRecord]:
    made = []

    def record(msg: str, *args: Any, exc_info: Any = None, **extra: Any) -> None:
        made.append(logging.LogRecord("app.part", logging.ERROR, __file__, 1, msg, args or None, exc_info))
        made[-1].__dict__.update(extra)

    record("user %s did %s", "alice", "checkout", k=1)
    record("login with password hunter2", user="ann", password="x")
    record("evented", **{"otel.event.name": "order.placed", "n": [1, {"a": object()}]})
    try:
        raise KeyError("missing")
    except KeyError:
        record("lookup %s failed", "k", exc_info=sys.exc_info(), k=2)
    try:
        raise ValueError()
    except ValueError:
        record("no args", exc_info=sys.exc_info())
    return made


@pytest.mark.parametrize("index", range(5))
def test_the_fast_path_entry_is_the_sdk_path_entry(index: int) -> None:
    record = records()[index]
    fast_handler, fast = handler(fast=True)
    slow_handler, slow = handler(fast=False)
    fast_handler.handle(record)
    slow_handler.handle(record)
    (got,), (expected,) = fast.entries, slow.entries
    assert expected[SCOPE].name == got[SCOPE] == "app.part"
    skip = {OBSERVED, SCOPE}
    assert [lists(v) for i, v in enumerate(got) if i not in skip] == [
        lists(v) for i, v in enumerate(expected) if i not in skip
    ]
    if record.exc_info:
        assert got[5]["exception.stacktrace"].startswith("Traceback (most recent call last)")
    fast.shutdown()
    slow.shutdown()
