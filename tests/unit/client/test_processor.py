"""The reliable batch processor: back-pressure instead of loss, explicit loss when the receiver is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.state import CLIENT_STATE
from otel_logging.client.transport import SendOutcome
from tests.support.procs import wait_for


@pytest.fixture(autouse=True)
def no_processor_left_running() -> Iterator[None]:
    """A test that fails half-way leaves no export thread behind for the next one."""
    yield
    CLIENT_STATE.reset()


class RecordingExporter:
    """A transport standing in for the network in these unit tests (integration tests use the real receiver)."""

    def __init__(self) -> None:
        self.bodies: list[object] = []
        self.fail = threading.Event()
        self.refuse = threading.Event()
        self.calls = 0
        self.last_error = ""

    def send(self, payload: bytes) -> SendOutcome:
        self.calls += 1
        if self.fail.is_set():
            self.last_error = "UNAVAILABLE: test"
            return SendOutcome.RETRY
        if self.refuse.is_set():
            self.last_error = "INVALID_ARGUMENT: test"
            return SendOutcome.REJECTED
        request = ExportLogsServiceRequest.FromString(payload)
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                self.bodies.extend(r.body.int_value for r in sl.log_records)
        return SendOutcome.SENT

    def close(self) -> None:
        pass


RESOURCE = Resource.create({})


def record(i: int) -> ReadWriteLogRecord:
    return ReadWriteLogRecord(LogRecord(body=i), resource=RESOURCE)


def make(exporter: RecordingExporter, **kw) -> ReliableBatchProcessor:
    options = {"max_queue_size": 256, "max_export_batch_size": 64, "schedule_delay_ms": 10, "export_timeout_ms": 5000}
    options.update(kw)
    return ReliableBatchProcessor(lambda: exporter, BatchEncoder({"service.name": "t"}), **options)


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
        def send(self, payload: bytes) -> SendOutcome:
            processor.on_emit(record(-1))  # e.g. a warning logged while exporting
            return super().send(payload)

    exporter = LoggingExporter()
    processor = make(exporter)
    processor.on_emit(record(1))
    assert processor.force_flush(10_000)
    assert exporter.bodies == [1]
    processor.shutdown()


def test_a_batch_the_receiver_refuses_is_dropped_counted_and_reported(capfd: pytest.CaptureFixture[str]) -> None:
    exporter = RecordingExporter()
    exporter.refuse.set()
    processor = make(exporter)
    for i in range(5):
        processor.on_emit(record(i))
    assert processor.force_flush(10_000)
    exporter.refuse.clear()
    processor.on_emit(record(99))
    assert processor.force_flush(10_000)
    assert exporter.bodies == [99]
    assert processor.stats().dropped == 5
    assert "refused them: INVALID_ARGUMENT" in capfd.readouterr().err
    processor.shutdown()


def test_a_flush_after_drops_waits_for_every_queued_record() -> None:
    """Records dropped before the queue (queue full while the receiver is down) must not count as settled
    queued ones: the flush returned True with records still queued (and shutdown then sent none of them)."""
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter)  # queue 256, batches of 64
    try:
        processor.on_emit(record(0))
        wait_for(lambda: exporter.calls >= 1, what="the first failed export")
        for i in range(1, 400):
            processor.on_emit(record(i))
        stats = processor.stats()
        assert stats.dropped > 0 and stats.queued > 0
        send = exporter.send
        exporter.send = lambda payload: (time.sleep(0.1), send(payload))[1]  # type: ignore[method-assign]
        exporter.fail.clear()
        assert processor.force_flush(30_000)
        after = processor.stats()
        assert after.queued == 0 and after.exported + after.dropped == 400 and after.accepted == after.exported
        assert len(exporter.bodies) == after.exported
    finally:
        processor.shutdown()
