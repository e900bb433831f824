"""One builder for the OTLP log export requests the tests send.

``request("checkout", [log_record("order placed", seq=1)])`` is a request of one resource (``service.name`` first,
then ``resource``'s attributes) with one scope holding the records; ``payload(...)`` is the same, serialized.
Values are given as Python values (``value``) or as ``AnyValue`` messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

Attributes = Mapping[str, Any]


def value(v: Any) -> AnyValue:
    """An ``AnyValue`` from a Python value: str, bool, int, float, bytes, list, dict, or an ``AnyValue``."""
    if isinstance(v, AnyValue):
        return v
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(v)))
    if isinstance(v, Sequence):
        return AnyValue(array_value=ArrayValue(values=[value(item) for item in v]))
    raise TypeError(f"no AnyValue for {v!r}")


def attributes(mapping: Attributes) -> list[KeyValue]:
    """Key-values in the mapping's order."""
    return [KeyValue(key=key, value=value(v)) for key, v in mapping.items()]


def log_record(body: Any = None, *, attributes: Attributes | None = None, **fields: Any) -> LogRecord:
    """A record with ``body`` (left unset when None), ``attributes`` and any other ``LogRecord`` fields."""
    record = LogRecord(**fields)
    if body is not None:
        record.body.CopyFrom(value(body))
    if attributes:
        record.attributes.extend(_attributes(attributes))
    return record


_attributes = attributes


def resource_logs(
    service: str | None,
    records: Iterable[LogRecord],
    *,
    resource: Attributes | None = None,
    scope: str | InstrumentationScope | None = None,
) -> ResourceLogs:
    """One resource (``service.name`` unless None, then ``resource``) with one scope of ``records``.

    ``scope`` is the scope's name or the whole scope; None leaves the scope unset.
    """
    attrs = {"service.name": service} if service is not None else {}
    attrs.update(resource or {})
    out = ResourceLogs()
    if attrs:
        out.resource.CopyFrom(Resource(attributes=attributes(attrs)))
    scope_logs = out.scope_logs.add()
    if isinstance(scope, InstrumentationScope):
        scope_logs.scope.CopyFrom(scope)
    elif scope is not None:
        scope_logs.scope.name = scope
    scope_logs.log_records.extend(records)
    return out


def request(
    service: str | None,
    records: Iterable[LogRecord],
    *,
    resource: Attributes | None = None,
    scope: str | InstrumentationScope | None = None,
) -> ExportLogsServiceRequest:
    """A request of one resource with one scope: see ``resource_logs``."""
    return requests(resource_logs(service, records, resource=resource, scope=scope))


def requests(*resources: ResourceLogs) -> ExportLogsServiceRequest:
    """A request of the given resources, in order."""
    return ExportLogsServiceRequest(resource_logs=list(resources))


def payload(
    service: str | None,
    records: Iterable[LogRecord],
    *,
    resource: Attributes | None = None,
    scope: str | InstrumentationScope | None = None,
) -> bytes:
    """``request(...)`` serialized."""
    return request(service, records, resource=resource, scope=scope).SerializeToString()
