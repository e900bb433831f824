"""The canonical log record: one JSON object per line in the per-app files.

Every part of otel-logging speaks this one shape: the receiver builds it from OTLP
protobuf, the file sink writes it, the remote sinks ship it, the dashboard reads it.
Field names follow the OpenTelemetry log data model; ``@timestamp`` is for Kibana.

    @timestamp          RFC 3339 UTC, nanoseconds (from time_unix_nano, else observed time)
    observed_timestamp  RFC 3339 UTC, nanoseconds
    severity_text       "INFO", "ERROR", ...      severity_number  0..24
    body                string, or a JSON value when the body is structured
    logger              instrumentation scope name (the Python logger name)
    service             resource service.name (the "app")
    attributes          {..} typed values (int, float, bool, str, lists, nested maps)
    resource            {..} all resource attributes
    trace_id, span_id   lowercase hex, absent when zero
    event_name, flags, scope_version, scope_attributes, dropped_attributes_count
                        present only when the sender set them

Bytes values (rare in logs) become base64 strings.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from otel_logging.names import DEFAULT_SERVICE_NAME

JsonValue = Any

# The latest instant RFC 3339 can express with a four-digit year.
_MAX_SECONDS = 253402300799


class CanonicalRecord(TypedDict):
    """One log record, as written to ``<log-dir>/<app>.jsonl``."""

    timestamp: NotRequired[str]  # serialised as "@timestamp"; see ``to_json_line``
    observed_timestamp: str
    severity_text: str
    severity_number: int
    body: JsonValue
    logger: str
    service: str
    attributes: dict[str, JsonValue]
    resource: dict[str, JsonValue]
    trace_id: NotRequired[str]
    span_id: NotRequired[str]
    event_name: NotRequired[str]
    flags: NotRequired[int]
    scope_version: NotRequired[str]
    scope_attributes: NotRequired[dict[str, JsonValue]]
    dropped_attributes_count: NotRequired[int]


# In memory the record is a plain dict whose first key is "@timestamp"; the TypedDict
# above documents the remaining keys (Python identifiers cannot start with "@").
Record = dict[str, JsonValue]


class InvalidRecord(ValueError):
    """A single log record that cannot be accepted; its batch-mates are unaffected."""


_last_second: list[Any] = [None, ""]


def rfc3339_nanos(unix_nano: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC with nine fraction digits."""
    seconds, fraction = divmod(unix_nano, 1_000_000_000)
    cached = _last_second
    if cached[0] == seconds:
        prefix = cached[1]
    else:
        if not 0 <= seconds <= _MAX_SECONDS:
            raise InvalidRecord(f"timestamp {unix_nano} ns is outside years 1970..9999")
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        cached[1] = prefix  # prefix first: a racing reader sees a stale pair at worst as a miss
        cached[0] = seconds
    return f"{prefix}.{fraction:09d}Z"


def any_value(value: AnyValue) -> JsonValue:
    """Convert an OTLP AnyValue to a JSON value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values)
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def key_values(pairs: Any) -> dict[str, JsonValue]:
    """Convert a repeated KeyValue to a dict (a later duplicate key wins)."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def _resource_service(attributes: list[KeyValue] | Any) -> tuple[dict[str, JsonValue], str]:
    resource = key_values(attributes)
    service = resource.get("service.name")
    if not isinstance(service, str) or not service:
        service = DEFAULT_SERVICE_NAME
    return resource, service


def _convert(
    log: OtlpLogRecord,
    *,
    service: str,
    logger: str,
    resource: dict[str, JsonValue],
    scope_extra: dict[str, JsonValue],
    received_ns: int,
) -> Record:
    observed_ns = log.observed_time_unix_nano or received_ns
    event_ns = log.time_unix_nano or observed_ns
    record: Record = {
        "@timestamp": rfc3339_nanos(event_ns),
        "observed_timestamp": rfc3339_nanos(observed_ns),
        "severity_text": log.severity_text,
        "severity_number": log.severity_number,
        "body": any_value(log.body),
        "logger": logger,
        "service": service,
        "attributes": key_values(log.attributes),
        "resource": resource,
    }
    trace_id = log.trace_id
    if trace_id:
        if len(trace_id) != 16:
            raise InvalidRecord(f"trace_id has {len(trace_id)} bytes, expected 16")
        if trace_id != b"\0" * 16:
            record["trace_id"] = trace_id.hex()
    span_id = log.span_id
    if span_id:
        if len(span_id) != 8:
            raise InvalidRecord(f"span_id has {len(span_id)} bytes, expected 8")
        if span_id != b"\0" * 8:
            record["span_id"] = span_id.hex()
    if log.event_name:
        record["event_name"] = log.event_name
    if log.flags:
        record["flags"] = log.flags
    if log.dropped_attributes_count:
        record["dropped_attributes_count"] = log.dropped_attributes_count
    if scope_extra:
        record.update(scope_extra)
    return record


@dataclass(slots=True)
class Conversion:
    """The records of one export request, grouped by service, and what was rejected."""

    by_service: dict[str, list[Record]]
    accepted: int
    rejected: int
    first_error: str

    def message(self) -> str:
        return rejection_message(self.rejected, self.first_error)


def rejection_message(rejected: int, first_error: str) -> str:
    """The partial-success message of a request with ``rejected`` records refused."""
    return f"{rejected} log record(s) rejected; first: {first_error}" if rejected else ""


def convert_request(request: ExportLogsServiceRequest, received_ns: int | None = None) -> Conversion:
    """Convert every record of an OTLP export request to canonical records.

    A record that cannot be converted is counted as rejected with a reason; the others go on.
    """
    if received_ns is None:
        received_ns = time.time_ns()
    by_service: dict[str, list[Record]] = {}
    accepted = rejected = 0
    first_error = ""
    for resource_logs in request.resource_logs:
        resource, service = _resource_service(resource_logs.resource.attributes)
        out = by_service.setdefault(service, [])
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_extra: dict[str, JsonValue] = {}
            if scope.version:
                scope_extra["scope_version"] = scope.version
            if len(scope.attributes):
                scope_extra["scope_attributes"] = key_values(scope.attributes)
            logger = scope.name
            for log in scope_logs.log_records:
                try:
                    out.append(
                        _convert(
                            log,
                            service=service,
                            logger=logger,
                            resource=resource,
                            scope_extra=scope_extra,
                            received_ns=received_ns,
                        )
                    )
                    accepted += 1
                except (InvalidRecord, ValueError, OverflowError) as exc:
                    rejected += 1
                    if not first_error:
                        first_error = f"service {service!r}, logger {logger!r}: {exc}"
        if not out:
            del by_service[service]
    return Conversion(by_service, accepted, rejected, first_error)


def iter_records(request: ExportLogsServiceRequest) -> Iterator[Record]:
    """All accepted records of a request, in order of service (a convenience for tests)."""
    for records in convert_request(request).by_service.values():
        yield from records


def to_json_line(record: Record) -> bytes:
    """One canonical record as a JSON line (UTF-8, ends with a newline)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def to_json_lines(records: list[Record]) -> bytes:
    """Many records as one buffer of JSON lines, ready for a single write."""
    dumps = orjson.dumps
    return b"\n".join([dumps(r) for r in records]) + b"\n" if records else b""


def from_json_line(line: bytes | str) -> Record:
    """Parse one JSON line back into a record (raises ``orjson.JSONDecodeError``)."""
    return orjson.loads(line)
