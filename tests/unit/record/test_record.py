"""Conversion of OTLP protobuf to the canonical record."""

from __future__ import annotations

import base64

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otel_logging.record import (
    RecordBatch,
    any_value,
    convert_request,
    from_json_line,
    rfc3339_nanos,
    to_json_line,
    to_json_lines,
)
from tests.support import otlp


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def request_with(
    *records: LogRecord, service: str | None = "svc", scope: str = "app.module"
) -> ExportLogsServiceRequest:
    return otlp.request(service, records, resource={"host.name": "h1"}, scope=scope)


def test_every_any_value_kind() -> None:
    nested = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                kv("s", AnyValue(string_value="x")),
                kv("i", AnyValue(int_value=-(2**63))),
                kv("d", AnyValue(double_value=2.5)),
                kv("b", AnyValue(bool_value=False)),
                kv("bytes", AnyValue(bytes_value=b"\x00\xff")),
                kv("arr", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")]))),
                kv("empty", AnyValue()),
                kv("deep", AnyValue(kvlist_value=KeyValueList(values=[kv("k", AnyValue(int_value=7))]))),
            ]
        )
    )
    assert any_value(nested) == {
        "s": "x",
        "i": -(2**63),
        "d": 2.5,
        "b": False,
        "bytes": base64.b64encode(b"\x00\xff").decode(),
        "arr": [1, "a"],
        "empty": None,
        "deep": {"k": 7},
    }


def test_full_record_fields() -> None:
    log = LogRecord(
        time_unix_nano=1_700_000_000_123_456_789,
        observed_time_unix_nano=1_700_000_001_000_000_000,
        severity_number=17,
        severity_text="ERROR",
        body=AnyValue(string_value="boom"),
        attributes=[kv("user.id", AnyValue(int_value=42))],
        trace_id=bytes.fromhex("0102030405060708090a0b0c0d0e0f10"),
        span_id=bytes.fromhex("a1a2a3a4a5a6a7a8"),
        flags=1,
        event_name="login",
    )
    batch = convert_request(request_with(log))
    assert batch.count == 1 and batch.rejected == 0
    (record,) = batch["svc"]
    assert record == {
        "@timestamp": "2023-11-14T22:13:20.123456789Z",
        "observed_timestamp": "2023-11-14T22:13:21.000000000Z",
        "severity_text": "ERROR",
        "severity_number": 17,
        "body": "boom",
        "logger": "app.module",
        "service": "svc",
        "attributes": {"user.id": 42},
        "resource": {"service.name": "svc", "host.name": "h1"},
        "trace_id": "0102030405060708090a0b0c0d0e0f10",
        "span_id": "a1a2a3a4a5a6a7a8",
        "event_name": "login",
        "flags": 1,
    }
    assert next(iter(record)) == "@timestamp"


def test_missing_timestamps_fall_back_to_observed_then_receive_time() -> None:
    only_observed = LogRecord(observed_time_unix_nano=1_000_000_000_000_000_000, body=AnyValue(string_value="a"))
    neither = LogRecord(body=AnyValue(string_value="b"))
    records = convert_request(request_with(only_observed, neither), received_ns=2_000_000_000_000_000_000)["svc"]
    assert records[0]["@timestamp"] == records[0]["observed_timestamp"] == "2001-09-09T01:46:40.000000000Z"
    assert records[1]["@timestamp"] == records[1]["observed_timestamp"] == "2033-05-18T03:33:20.000000000Z"


def test_structured_body_and_zero_ids_are_absent() -> None:
    log = LogRecord(
        body=AnyValue(kvlist_value=KeyValueList(values=[kv("event", AnyValue(string_value="x"))])),
        trace_id=b"\0" * 16,
        span_id=b"\0" * 8,
    )
    (record,) = convert_request(request_with(log))["svc"]
    assert record["body"] == {"event": "x"}
    assert "trace_id" not in record and "span_id" not in record


def test_bad_record_is_rejected_alone() -> None:
    good = LogRecord(body=AnyValue(string_value="good"))
    bad_trace = LogRecord(body=AnyValue(string_value="bad"), trace_id=b"\x01\x02")
    bad_span = LogRecord(body=AnyValue(string_value="bad"), span_id=b"\x01" * 9)
    batch = convert_request(request_with(good, bad_trace, bad_span, good))
    assert batch.count == 2 and batch.rejected == 2
    assert [r["body"] for r in batch["svc"]] == ["good", "good"]
    assert "trace_id has 2 bytes" in batch.message()


def test_missing_service_name_uses_default_and_scope_details_kept() -> None:
    req = request_with(LogRecord(body=AnyValue(string_value="x")), service=None)
    req.resource_logs[0].scope_logs[0].scope.version = "1.2"
    req.resource_logs[0].scope_logs[0].scope.attributes.append(kv("lib", AnyValue(bool_value=True)))
    (record,) = convert_request(req)["unknown_service"]
    assert record["service"] == "unknown_service"
    assert record["scope_version"] == "1.2" and record["scope_attributes"] == {"lib": True}


def test_json_lines_round_trip() -> None:
    (record,) = convert_request(request_with(LogRecord(body=AnyValue(string_value='é\n"q"'))))["svc"]
    line = to_json_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert from_json_line(line) == record
    assert to_json_lines([record, record]) == line + line
    assert to_json_lines([]) == b""
    assert orjson.loads(line)["body"] == 'é\n"q"'


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "1970-01-01T00:00:00.000000000Z"), (1, "1970-01-01T00:00:00.000000001Z"), (253402300799_999999999, None)],
)
def test_rfc3339_nanos(ns: int, text: str | None) -> None:
    if text is None:
        assert rfc3339_nanos(ns) == "9999-12-31T23:59:59.999999999Z"
    else:
        assert rfc3339_nanos(ns) == text


# -- the batch ---------------------------------------------------------------------------------------------------------


def test_a_batch_of_records_is_encoded_once_and_reads_as_the_dict_it_stands_for() -> None:
    a1, a2, b1 = {"service": "a", "n": 1}, {"service": "a", "n": 2}, {"service": "b", "n": 3}
    batch = RecordBatch.from_records({"a": [a1, a2], "b": [b1], "empty": []}, rejected=1, first_error="bad id")
    assert batch.count == 3 and list(batch) == ["a", "b"] and len(batch) == 2 and "empty" not in batch
    assert batch["a"] == [a1, a2] and batch["a"][0] is a1  # the records given, not copies
    assert dict(batch.items()) == {"a": [a1, a2], "b": [b1]}  # what a sink written for write(by_service) sees
    assert batch.lines("a") == to_json_lines([a1, a2]) and batch.lines("a") is batch.lines("a")  # encoded once
    assert batch.split_lines() == ([to_json_line(a1), to_json_line(a2), to_json_line(b1)], ["a", "a", "b"])
    assert batch.message() == "1 log record(s) rejected; first: bad id"
    assert RecordBatch.of(batch) is batch and RecordBatch.of({"a": [a1]}).lines("a") == to_json_line(a1)


def test_a_batch_of_json_lines_is_decoded_only_when_asked() -> None:
    lines = b'{"service":"a","n":1}\n{"service":"a","n":2}\n'
    view = memoryview(lines)
    batch = RecordBatch.from_lines({"a": view, "none": b""}, 2)
    assert batch.count == 2 and list(batch) == ["a"]
    assert batch.lines("a") is view  # handed on as it is (a file sink writes it without a copy)
    assert [r["n"] for r in batch["a"]] == [1, 2] and batch["a"] is batch["a"]
    batch.map_records(lambda r: {**r, "n": r["n"] * 10})  # a record processor: the lines are encoded again
    assert batch.lines("a") == b'{"service":"a","n":10}\n{"service":"a","n":20}\n'


def test_a_batch_filled_by_a_reader_keeps_file_order_per_service_and_its_own_service_first() -> None:
    batch = RecordBatch("own")
    batch.tail.append({"service": "other", "n": 0})
    batch.tail.append({"service": "own", "n": 1})
    batch.add_lines(memoryview(b'{"service":"own","n":2}\n'), 1)
    batch.tail.append({"service": "own", "n": 3})
    assert batch.count == 4
    assert list(batch) == ["own", "other"]
    assert [r["n"] for r in batch["own"]] == [1, 2, 3] and [r["n"] for r in batch["other"]] == [0]
    assert batch.lines("own") == b"".join(
        to_json_line(r) for r in ({"service": "own", "n": 1}, {"service": "own", "n": 2}, {"service": "own", "n": 3})
    )
    assert batch.count == 4
    empty = RecordBatch("own")
    assert empty.count == 0 and list(empty) == [] and empty.split_lines() == ([], [])
