"""OTLP in: decoding a body (``parse_protobuf``, ``decode_json``: bytes -> ``ExportLogsServiceRequest``) and the
conversion of a request to canonical records (``convert_request`` -> ``RecordBatch``).

Bytes values (rare in logs) become base64 strings.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from otel_logging.record.batch import RecordBatch
from otel_logging.record.names import DEFAULT_SERVICE_NAME
from otel_logging.record.schema import InvalidRecord, JsonValue, Record, rfc3339_nanos


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


def convert_request(request: ExportLogsServiceRequest, received_ns: int | None = None) -> RecordBatch:
    """Convert every record of an OTLP export request to canonical records, as a ``RecordBatch``.

    A record that cannot be converted is counted as rejected with a reason; the others go on.
    """
    if received_ns is None:
        received_ns = time.time_ns()
    by_service: dict[str, list[Record]] = {}
    rejected = 0
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
                except (InvalidRecord, ValueError, OverflowError) as exc:
                    rejected += 1
                    if not first_error:
                        first_error = f"service {service!r}, logger {logger!r}: {exc}"
        if not out:
            del by_service[service]
    return RecordBatch.from_records(by_service, rejected=rejected, first_error=first_error)


def iter_records(request: ExportLogsServiceRequest) -> Iterator[Record]:
    """All accepted records of a request, in order of service (a convenience for tests)."""
    batch = convert_request(request)
    for service in batch:
        yield from batch[service]


class MalformedRequest(ValueError):
    """A request body that is no OTLP logs request: refused whole (the receiver answers INVALID_ARGUMENT / 400)."""


def parse_protobuf(payload: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/protobuf ``ExportLogsServiceRequest``; ``MalformedRequest`` when it is none."""
    try:
        return ExportLogsServiceRequest.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise MalformedRequest(f"malformed OTLP protobuf: {exc}") from exc


def _hex_ids_to_base64(request: Any) -> tuple[int, str]:
    """OTLP/JSON carries traceId/spanId as hex; protobuf's JSON mapping expects base64.

    A record whose id is not hex is taken out of the request (rejected alone, like a
    protobuf record with a bad id); returns how many were taken out and the first reason.
    """
    rejected, first_error = 0, ""
    for resource_logs in request.get("resourceLogs") or request.get("resource_logs") or ():
        for scope_logs in resource_logs.get("scopeLogs") or resource_logs.get("scope_logs") or ():
            field = "logRecords" if "logRecords" in scope_logs else "log_records"
            logs = scope_logs.get(field) or ()
            kept = []
            for log in logs:
                try:
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        value = log.get(key)
                        if isinstance(value, str) and value:
                            try:
                                log[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                            except ValueError:
                                raise ValueError(f"{key} {value[:64]!r} is not hex") from None
                except ValueError as exc:
                    rejected += 1
                    first_error = first_error or str(exc)
                    continue
                except AttributeError:  # not an object: protobuf's parser reports it
                    pass
                kept.append(log)
            if rejected and isinstance(logs, list):
                scope_logs[field] = kept
    return rejected, first_error


@dataclass(frozen=True, slots=True)
class DecodedJson:
    request: ExportLogsServiceRequest
    rejected: int  # records taken out while decoding (ids that are not hex)
    first_error: str


def decode_json(payload: bytes) -> DecodedJson:
    """Decode an OTLP/JSON request; records with bad ids are counted out, the rest kept.

    ``MalformedRequest`` when the body is no OTLP/JSON request at all.
    """
    try:
        document = orjson.loads(payload)
        if not isinstance(document, dict):
            raise ValueError("the top level must be an object")
        rejected, first_error = _hex_ids_to_base64(document)
        request = json_format.ParseDict(document, ExportLogsServiceRequest(), ignore_unknown_fields=True)
        return DecodedJson(request, rejected, first_error)
    except (orjson.JSONDecodeError, json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {exc}") from exc


def parse_json(payload: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON request whole: any bad record fails it (for callers without partial success)."""
    decoded = decode_json(payload)
    if decoded.rejected:
        raise MalformedRequest(f"malformed OTLP JSON: {decoded.first_error}")
    return decoded.request
