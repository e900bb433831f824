"""Destinations of LogAggregator.add_handler (the older API): FileRotatingHandler, logging handlers, refusals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from otel_logging.compat.aggregation_handlers import FileRotatingHandler, LoggingHandlerSink, as_sink
from otel_logging.record import Record
from tests.support.compat import older_api

pytestmark = older_api  # the deprecation warnings themselves: tests/unit/compat/test_compat.py


def record(i: int, service: str = "app") -> Record:
    return {
        "@timestamp": "2024-03-01T10:00:00.123000000Z",
        "observed_timestamp": "2024-03-01T10:00:01.000000000Z",
        "severity_text": "WARN",
        "severity_number": 13,
        "body": f"message {i} " + "x" * 60,
        "logger": "app.web",
        "service": service,
        "attributes": {"i": i},
        "resource": {"service.name": service},
    }


def test_file_rotating_handler_writes_canonical_lines_and_rotates(tmp_path: Path) -> None:
    target = tmp_path / "aggregated.jsonl"
    handler = FileRotatingHandler(str(target), max_bytes=2_000, backup_count=2)
    for start in range(0, 100, 10):
        handler.write({"app": [record(i) for i in range(start, start + 10)], "other": [record(1000 + start, "other")]})
    handler.close()
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == ["aggregated.jsonl", "aggregated.jsonl.1", "aggregated.jsonl.2"]
    for path in files:
        assert path.stat().st_size <= 2_000
        for line in path.read_text().splitlines():
            assert next(iter(json.loads(line))) == "@timestamp"
    newest = [json.loads(line) for line in target.read_text().splitlines()]
    assert newest[-1]["service"] == "other" and newest[-1]["attributes"] == {"i": 1090}


def test_file_rotating_handler_is_also_a_logging_handler(tmp_path: Path) -> None:
    target = tmp_path / "app.log"
    handler = FileRotatingHandler(str(target), max_bytes=0, backup_count=0)
    logger = logging.getLogger("test.aggregation.rotating")
    logger.addHandler(handler)
    try:
        logger.warning("plain logging still works")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "plain logging still works" in target.read_text()
    assert as_sink(handler) is handler


def test_a_plain_logging_handler_receives_log_records() -> None:
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, log_record: logging.LogRecord) -> None:
            seen.append(log_record)

    sink = as_sink(Collect())
    assert isinstance(sink, LoggingHandlerSink)
    sink.write({"app": [record(7)]})
    (got,) = seen
    assert (got.levelno, got.name, got.getMessage()) == (logging.WARNING, "app.web", record(7)["body"])
    assert got.created == pytest.approx(1709287200.123)
    assert got.otel_attributes == {"i": 7}  # type: ignore[attr-defined]


def test_anything_else_is_refused_with_what_to_pass() -> None:
    with pytest.raises(TypeError, match="not a destination"):
        as_sink(object())
