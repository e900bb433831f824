"""Regression guard for the hot paths' shape (not timing): calls and memory per record.

A change that sends records back through the SDK's slow path, deep-copies them, or keeps
more per queued record than needed shows up here as a count, deterministically.
"""

from __future__ import annotations

import logging
import sys
import threading
import tracemalloc

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.transport import SendOutcome
from otel_logging.record import convert_request
from otel_logging.record.redaction import Redactor


class HeldTransport:
    """Never answers until released, so queued entries stay in memory to be measured."""

    last_error = ""

    def __init__(self) -> None:
        self.release = threading.Event()

    def send(self, payload: bytes) -> SendOutcome:
        self.release.wait(30)
        return SendOutcome.SENT

    def close(self) -> None:
        self.release.set()


def pipeline() -> tuple[logging.Logger, ReliableBatchProcessor, HeldTransport]:
    transport = HeldTransport()
    provider = LoggerProvider(resource=Resource.create({"service.name": "shape"}), shutdown_on_exit=False)
    processor = ReliableBatchProcessor(
        lambda: transport,
        BatchEncoder({"service.name": "shape"}),
        max_queue_size=50_000,
        max_export_batch_size=50_000,
        schedule_delay_ms=60_000,
    )
    provider.add_log_record_processor(processor)
    handler = OtelLoggingHandler(logger_provider=provider, redactor=Redactor())
    handler.enable_fast_path(processor)
    logger = logging.getLogger("shape.test")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger, processor, transport


def test_python_calls_per_logging_call_stay_bounded() -> None:
    logger, processor, transport = pipeline()
    logger.info("warm %s", "up", extra={"k": 0})
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        for i in range(100):
            logger.info("user %s did %s", "alice", "checkout", extra={"k": i})
    finally:
        sys.setprofile(None)
    per_record = calls / 100
    # Measured 84 when written (stdlib logging itself is most of it); the SDK slow path is far above the bound.
    assert per_record < 95, f"{per_record} calls per record: the fast path is no longer fast"
    transport.release.set()
    processor.shutdown()


def test_memory_per_queued_record_stays_bounded() -> None:
    logger, processor, transport = pipeline()
    logger.info("warm %s", "up", extra={"k": 0})
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(10_000):
        logger.info("user %s did %s", "alice", "checkout", extra={"k": i})
    per_record = (tracemalloc.get_traced_memory()[0] - before) / 10_000
    tracemalloc.stop()
    assert processor.stats().queued >= 9_000
    assert per_record < 800, f"{per_record:.0f} bytes kept per queued record"  # measured about 500
    transport.release.set()
    processor.shutdown()


def test_receiver_conversion_keeps_one_resource_per_request() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    from tests.unit.test_record import request_with

    request = request_with(*[LogRecord(body=AnyValue(string_value=f"m{i}")) for i in range(1000)])
    records = convert_request(request)["svc"]
    assert len({id(r["resource"]) for r in records}) == 1  # converted once per ResourceLogs, shared


def test_receiver_export_path_makes_no_python_object_per_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the native converter, a request costs a fixed number of Python objects, whatever its size."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    from otel_logging.receiver.export import LogsExporter
    from otel_logging.receiver.metrics import ServiceMetrics
    from otel_logging.record import native
    from otel_logging.sinks.files import FileSink
    from tests.unit.test_record import request_with

    assert native.AVAILABLE, native.UNAVAILABLE_REASON
    exporter = LogsExporter([FileSink(tmp_path)], ServiceMetrics())
    assert exporter.native

    def payload(count: int) -> bytes:
        attrs = [KeyValue(key="k", value=AnyValue(int_value=1)), KeyValue(key="s", value=AnyValue(string_value="v"))]
        logs = [LogRecord(body=AnyValue(string_value=f"m{i}"), attributes=attrs) for i in range(count)]
        return request_with(*logs).SerializeToString()

    def blocks_allocated(data: bytes) -> int:
        exporter.export_protobuf(data, "grpc")  # warm: the app file is opened, caches filled
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            exporter.export_protobuf(data, "grpc")
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        return sum(stat.count_diff for stat in after.compare_to(before, "filename") if stat.count_diff > 0)

    small, large = blocks_allocated(payload(10)), blocks_allocated(payload(2000))
    assert large <= small + 20, f"10 records: {small} blocks, 2,000 records: {large} blocks"
