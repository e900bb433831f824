"""Properties of record conversion and of the OTLP/JSON decoder, over generated input (hypothesis)."""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from otel_logging.record import (
    MalformedRequest,
    Record,
    RecordBatch,
    convert_request,
    decode_json,
    from_json_line,
    parse_json,
    to_json_line,
    to_json_lines,
)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Generating whole OTLP requests is slower: fewer examples, each holding many records.
REQUEST_SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

MAX_NANOS = (253402300799 + 1) * 1_000_000_000 - 1  # 9999-12-31T23:59:59.999999999Z
RECEIVED_NS = 1_700_000_000_000_000_000
CANONICAL_KEYS = {
    "@timestamp",
    "observed_timestamp",
    "severity_text",
    "severity_number",
    "body",
    "logger",
    "service",
    "attributes",
    "resource",
    "trace_id",
    "span_id",
    "event_name",
    "flags",
    "scope_version",
    "scope_attributes",
    "dropped_attributes_count",
}
RFC3339_NANOS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z")

# -- generated OTLP requests ------------------------------------------------------------------------------------------

texts = st.text(max_size=40)
uint64 = st.integers(0, 2**64 - 1)
timestamps = st.one_of(st.just(0), st.integers(0, 4_102_444_800 * 10**9), uint64)  # uint64 ends in 2554


def scalar_values(finite: bool) -> st.SearchStrategy[AnyValue]:
    floats = st.floats(allow_nan=not finite, allow_infinity=not finite)
    return st.one_of(
        st.just(AnyValue()),
        texts.map(lambda v: AnyValue(string_value=v)),
        st.integers(-(2**63), 2**63 - 1).map(lambda v: AnyValue(int_value=v)),
        floats.map(lambda v: AnyValue(double_value=v)),
        st.booleans().map(lambda v: AnyValue(bool_value=v)),
        st.binary(max_size=20).map(lambda v: AnyValue(bytes_value=v)),
    )


def any_values(finite: bool = False) -> st.SearchStrategy[AnyValue]:
    def extend(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        return st.one_of(
            st.lists(children, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
            st.lists(st.tuples(texts, children), max_size=4).map(
                lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))
            ),
        )

    return st.recursive(scalar_values(finite), extend, max_leaves=6)


def key_values(finite: bool = False) -> st.SearchStrategy[list[KeyValue]]:
    return st.lists(st.tuples(texts, any_values(finite)), max_size=3).map(
        lambda kvs: [KeyValue(key=k, value=v) for k, v in kvs]
    )


@st.composite
def requests(draw: st.DrawFn, finite: bool = False) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend(draw(key_values(finite)))
        service = draw(st.one_of(st.none(), texts, any_values(finite)))
        if isinstance(service, str):
            resource_logs.resource.attributes.add(key="service.name").value.string_value = service
        elif service is not None:
            resource_logs.resource.attributes.add(key="service.name").value.CopyFrom(service)
        for _ in range(draw(st.integers(0, 3))):
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name = draw(texts)
            scope_logs.scope.version = draw(st.sampled_from(["", "1.0"]))
            scope_logs.scope.attributes.extend(draw(key_values(finite)))
            for _ in range(draw(st.integers(0, 4))):
                log = scope_logs.log_records.add(
                    time_unix_nano=draw(timestamps),
                    observed_time_unix_nano=draw(timestamps),
                    severity_number=draw(st.integers(-(2**31), 2**31 - 1)),
                    severity_text=draw(texts),
                    trace_id=draw(st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))),
                    span_id=draw(st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))),
                    flags=draw(st.integers(0, 2**32 - 1)),
                    event_name=draw(texts),
                    dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
                )
                log.body.CopyFrom(draw(any_values(finite)))
                log.attributes.extend(draw(key_values(finite)))
    return request


def expected_rejections(request: ExportLogsServiceRequest) -> int:
    """An independent statement of which records are invalid: bad id lengths, times past year 9999."""
    rejected = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for log in scope_logs.log_records:
                observed = log.observed_time_unix_nano or RECEIVED_NS
                event = log.time_unix_nano or observed
                rejected += (
                    len(log.trace_id) not in (0, 16)
                    or len(log.span_id) not in (0, 8)
                    or observed > MAX_NANOS
                    or event > MAX_NANOS
                )
    return rejected


def json_safe(value: Any) -> Any:
    """What JSON can hold of a value: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def record_count(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


# -- conversion -------------------------------------------------------------------------------------------------------


@REQUEST_SETTINGS
@given(requests())
def test_conversion_accepts_or_counts_every_record_and_never_raises(request: ExportLogsServiceRequest) -> None:
    batch = convert_request(request, received_ns=RECEIVED_NS)
    assert batch.count + batch.rejected == record_count(request)
    assert batch.rejected == expected_rejections(request)
    assert sum(map(len, batch.values())) == batch.count
    assert bool(batch.message()) == bool(batch.rejected)
    for service, records in batch.items():
        assert records, "a service with no accepted records has no entry"
        for record in records:
            assert record["service"] == service and isinstance(service, str) and service
            assert set(record) <= CANONICAL_KEYS
            assert RFC3339_NANOS.fullmatch(record["@timestamp"]) and RFC3339_NANOS.fullmatch(
                record["observed_timestamp"]
            )
            assert len(record.get("trace_id", "0" * 32)) == 32 and len(record.get("span_id", "0" * 16)) == 16


@REQUEST_SETTINGS
@given(requests())
def test_every_accepted_record_round_trips_through_its_json_line(request: ExportLogsServiceRequest) -> None:
    batch = convert_request(request)
    records: list[Record] = [r for rs in batch.values() for r in rs]
    for record in records:
        line = to_json_line(record)
        assert line.endswith(b"\n") and line.count(b"\n") == 1  # one record, one line, whatever the strings hold
        assert from_json_line(line) == json_safe(record)
    assert to_json_lines(records) == b"".join(to_json_line(r) for r in records)
    # the batch's JSON lines are those lines, and decode back to the records (as JSON keeps them)
    assert b"".join(bytes(batch.lines(service)) for service in batch) == to_json_lines(records)
    again = RecordBatch.from_lines({service: batch.lines(service) for service in batch}, batch.count)
    assert list(again) == list(batch) and again.count == batch.count
    assert [r for rs in again.values() for r in rs] == [json_safe(r) for r in records]


# -- the OTLP/JSON decoder --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
otlp_keys = st.sampled_from(
    [
        "resourceLogs",
        "resource",
        "attributes",
        "scopeLogs",
        "scope",
        "logRecords",
        "body",
        "traceId",
        "spanId",
        "timeUnixNano",
        "severityNumber",
        "key",
        "value",
        "stringValue",
        "kvlistValue",
        "arrayValue",
        "values",
        "intValue",
        "bytesValue",
    ]
)
# Documents built from OTLP's own field names, so that generated input gets past the first checks.
otlp_shaped = st.recursive(
    json_values,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(otlp_keys, children, max_size=4),
    max_leaves=30,
)


def decodes_or_refuses(payload: bytes) -> None:
    try:
        request = parse_json(payload)
    except MalformedRequest as exc:
        assert str(exc).startswith("malformed OTLP JSON")
        return
    convert_request(request)  # whatever decodes also converts without raising


@PROPERTY_SETTINGS
@given(st.binary(max_size=200))
def test_json_decoder_on_arbitrary_bytes(payload: bytes) -> None:
    decodes_or_refuses(payload)


@PROPERTY_SETTINGS
@given(json_values)
def test_json_decoder_on_arbitrary_json(document: Any) -> None:
    decodes_or_refuses(json.dumps(document).encode())


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(["resourceLogs", "resource_logs"]), otlp_shaped, min_size=1))
def test_json_decoder_on_otlp_shaped_json(document: dict[str, Any]) -> None:
    decodes_or_refuses(json.dumps(document).encode())


def otlp_json(request: ExportLogsServiceRequest) -> bytes:
    """The OTLP/JSON encoding of ``request``: protobuf's JSON mapping with hex trace and span ids."""
    document = json_format.MessageToDict(request)
    for resource_logs in document.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for log in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in log:
                        log[key] = base64.b64decode(log[key]).hex()
    return orjson.dumps(document)


@REQUEST_SETTINGS
@given(requests(finite=True))
def test_json_decoder_inverts_the_otlp_json_encoding(request: ExportLogsServiceRequest) -> None:
    assert parse_json(otlp_json(request)) == request


@REQUEST_SETTINGS
@given(requests(finite=True), st.data())
def test_json_records_with_non_hex_ids_are_counted_out_and_their_batch_mates_kept(
    request: ExportLogsServiceRequest, data: st.DataObject
) -> None:
    document = orjson.loads(otlp_json(request))
    logs = [
        log
        for rl in document.get("resourceLogs", [])
        for sl in rl.get("scopeLogs", [])
        for log in sl.get("logRecords", [])
    ]
    spoiled = data.draw(st.sets(st.integers(0, max(0, len(logs) - 1)), max_size=len(logs))) if logs else set()
    for i in spoiled:
        logs[i][data.draw(st.sampled_from(["traceId", "spanId"]))] = data.draw(
            st.sampled_from(["zz", "not hex", "0x12"])
        )
    decoded = decode_json(orjson.dumps(document))
    assert decoded.rejected == len(spoiled)
    assert record_count(decoded.request) == len(logs) - len(spoiled)
