"""The reliable batch processor: back-pressure instead of loss, explicit loss when the receiver is down."""

from __future__ import annotations

import threading

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otel_logging.client.processor import ReliableBatchProcessor
from tests.support.procs import wait_for


class RecordingExporter(LogRecordExporter):
    """Stands in for the network in these unit tests; the integration tests use the real receiver."""

    def __init__(self) -> None:
        self.bodies: list[object] = []
        self.fail = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def export(self, batch):  # type: ignore[override]
        self.calls += 1
        self.gate.wait(30)
        if self.fail.is_set():
            return LogRecordExportResult.FAILURE
        self.bodies.extend(r.log_record.body for r in batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


RESOURCE = Resource.create({})


def record(i: int) -> ReadWriteLogRecord:
    return ReadWriteLogRecord(LogRecord(body=i), resource=RESOURCE)


def make(exporter: RecordingExporter, **kw) -> ReliableBatchProcessor:
    options = {"max_queue_size": 256, "max_export_batch_size": 64, "schedule_delay_ms": 10, "export_timeout_ms": 5000}
    options.update(kw)
    return ReliableBatchProcessor(lambda: exporter, **options)


def test_burst_far_larger_than_the_queue_loses_nothing_and_keeps_order() -> None:
    exporter = RecordingExporter()
    processor = make(exporter)
    for i in range(20_000):
        processor.on_emit(record(i))
    assert processor.force_flush(30_000)
    assert exporter.bodies == list(range(20_000))
    stats = processor.stats()
    assert stats.dropped == 0 and stats.exported == 20_000
    processor.shutdown()


def test_a_failed_batch_is_retried_until_the_receiver_takes_it() -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter)
    for i in range(10):
        processor.on_emit(record(i))
    wait_for(lambda: exporter.calls >= 2, what="a retry")
    exporter.fail.clear()
    assert processor.force_flush(30_000)
    assert exporter.bodies == list(range(10))
    processor.shutdown()


def test_receiver_down_with_full_queue_drops_counts_and_reports_once(capfd: pytest.CaptureFixture[str]) -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter, max_queue_size=8, max_export_batch_size=4, export_timeout_ms=200)
    processor.on_emit(record(0))
    wait_for(lambda: exporter.calls >= 1, what="first failed export")
    for i in range(1, 100):
        processor.on_emit(record(i))  # must not block: the receiver is known to be down
    processor.shutdown()
    stats = processor.stats()
    assert stats.exported == 0 and stats.dropped == 100
    err = capfd.readouterr().err
    assert err.count("dropping log records") == 1
    assert "100 log record(s) were dropped" in err


def test_records_logged_by_the_export_thread_are_not_fed_back() -> None:
    processor: ReliableBatchProcessor

    class LoggingExporter(RecordingExporter):
        def export(self, batch):  # type: ignore[override]
            processor.on_emit(record(-1))  # e.g. a warning logged while exporting
            return super().export(batch)

    exporter = LoggingExporter()
    processor = make(exporter)
    processor.on_emit(record(1))
    assert processor.force_flush(10_000)
    assert exporter.bodies == [1]
    processor.shutdown()
