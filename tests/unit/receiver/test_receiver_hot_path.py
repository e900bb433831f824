"""Regression guard for the receiver's hot path shape (not timing): objects per record.

A change that converts a resource once per record, or makes Python objects per record on the native export
path, shows up here as a count, deterministically. The app side's: tests/unit/client/test_hot_path_shape.py.
"""

from __future__ import annotations

import tracemalloc

from otel_logging.record import convert_request


def test_receiver_conversion_keeps_one_resource_per_request() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    from tests.unit.record.test_record import request_with

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
    from tests.unit.record.test_record import request_with

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


def test_full_success_answer_is_the_prebuilt_empty_response_and_partial_success_still_says_why() -> None:
    """The gRPC answer of a full success is the empty response built once (no message per request); a partial
    success still carries its counts and reason."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    from otel_logging.receiver.export import ExportOutcome

    ok = ExportOutcome(512, 0, "")
    assert ok.serialized_response() == ok.response().SerializeToString() == b""
    assert ok.serialized_response() is ExportOutcome(1, 0, "").serialized_response()  # the same object each time
    partial = ExportOutcome(510, 2, "2 log records rejected: bad trace_id")
    answer = ExportLogsServiceResponse.FromString(partial.serialized_response())
    assert answer.partial_success.rejected_log_records == 2
    assert answer.partial_success.error_message == "2 log records rejected: bad trace_id"
