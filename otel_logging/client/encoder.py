"""Encoding a batch of log entries straight to one OTLP ``ExportLogsServiceRequest``.

The resource is encoded once; entries are grouped by scope (logger name) in one pass;
each record is filled in place in the request (no intermediate objects).

With the native extension, ``encode`` writes the request's bytes in Rust (``otel_logging_native.encode_entries``),
byte-for-byte what ``encode_python`` makes (tests/unit/client/test_native_client.py); a batch holding a value
the native encoder leaves to Python (an SDK scope, an object to clean, an int beyond int64) takes ``encode_python``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb

from otel_logging.client.attributes import clean_value
from otel_logging.client.entry import LogEntry
from otel_logging.record import native

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def set_any_value(target: AnyValue, value: Any) -> None:
    """Fill an AnyValue in place from a Python value (cleaned values never raise)."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is bool:
        target.bool_value = value
    elif kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            target.int_value = value
        else:
            target.string_value = str(value)
    elif kind is float:
        target.double_value = value
    elif value is None:
        return
    elif kind is bytes:
        target.bytes_value = value
    elif isinstance(value, Mapping):
        values = target.kvlist_value.values
        for key, item in value.items():
            kv = values.add()
            kv.key = key if type(key) is str else str(key)
            set_any_value(kv.value, item)
    elif isinstance(value, (list, tuple)):
        array = target.array_value.values
        for item in value:
            set_any_value(array.add(), item)
    else:
        set_any_value(target, clean_value(value))


class BatchEncoder:
    def __init__(
        self,
        resource_attributes: Mapping[str, Any],
        resource_schema_url: str = "",
        after_fork_attributes: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """``after_fork_attributes``: in a forked child, the resource attributes to set again before
        the next encode (setup() passes the LoggerProvider's resource, which the SDK refreshes after
        a fork: ``service.instance.id``)."""
        self._resource = ResourcePb()
        for key, value in resource_attributes.items():
            kv = self._resource.attributes.add()
            kv.key = key
            set_any_value(kv.value, value)
        self._schema_url = resource_schema_url
        self._after_fork_attributes = after_fork_attributes
        self._refresh_due = False
        self._resource_bytes: bytes | None = None  # the serialized resource, for the native encoder
        self.native = native.CLIENT_AVAILABLE

    def after_fork(self) -> None:
        """In a forked child: the resource's ``process.pid`` (an int, as setup() sets it) becomes the child's.

        Without this every gunicorn/uvicorn/Celery worker forked after ``setup()`` would report
        the master's pid. A ``process.pid`` given as a string (``OTEL_RESOURCE_ATTRIBUTES``) is kept.
        """
        for kv in self._resource.attributes:
            if kv.key == "process.pid" and kv.value.WhichOneof("value") == "int_value":
                kv.value.int_value = os.getpid()
        self._resource_bytes = None
        # Read at the next encode: the other at-fork hooks (the SDK's) have run by then.
        self._refresh_due = self._after_fork_attributes is not None

    def _refresh_resource(self) -> None:
        self._refresh_due = False
        self._resource_bytes = None
        if self._after_fork_attributes is None:
            return
        existing = {kv.key: kv for kv in self._resource.attributes}
        for key, value in self._after_fork_attributes().items():
            if key == "process.pid":
                continue  # set by after_fork()
            kv = existing.get(key)
            if kv is None:
                kv = self._resource.attributes.add()
                kv.key = key
            kv.value.Clear()
            set_any_value(kv.value, value)

    def encode(self, entries: Sequence[LogEntry]) -> bytes:
        if self._refresh_due:
            self._refresh_resource()
        if self.native and type(entries) is list:
            resource = self._resource_bytes
            if resource is None:
                resource = self._resource_bytes = self._resource.SerializeToString()
            payload = native.encode_entries(resource, self._schema_url, entries)
            if payload is not None:
                return payload
        return self.encode_python(entries)

    def encode_python(self, entries: Sequence[LogEntry]) -> bytes:
        """The reference encoder (protobuf); ``encode`` uses it where the native encoder is not available."""
        if self._refresh_due:
            self._refresh_resource()
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.CopyFrom(self._resource)
        if self._schema_url:
            resource_logs.schema_url = self._schema_url
        scopes: dict[str, Any] = {}
        for time_ns, observed_ns, number, text, body, attributes, trace_id, span_id, flags, scope, event in entries:
            records = scopes.get(scope)
            if records is None:
                scope_logs = resource_logs.scope_logs.add()
                if isinstance(scope, str):
                    scope_logs.scope.name = scope
                else:  # an SDK InstrumentationScope
                    scope_logs.scope.name = scope.name
                    if scope.version:
                        scope_logs.scope.version = scope.version
                    if scope.schema_url:
                        scope_logs.schema_url = scope.schema_url
                    for key, value in (scope.attributes or {}).items():
                        kv = scope_logs.scope.attributes.add()
                        kv.key = key
                        set_any_value(kv.value, value)
                records = scopes[scope] = scope_logs.log_records
            record = records.add(
                time_unix_nano=time_ns,
                observed_time_unix_nano=observed_ns,
                severity_number=number,
                severity_text=text,
            )
            if type(body) is str:
                record.body.string_value = body
            elif body is not None:
                set_any_value(record.body, body)
            if attributes:
                pairs = record.attributes
                for key, value in attributes.items():
                    kv = pairs.add()
                    kv.key = key
                    if type(value) is str:
                        kv.value.string_value = value
                    else:
                        set_any_value(kv.value, value)
            if trace_id:
                record.trace_id = trace_id.to_bytes(16, "big")
                record.span_id = span_id.to_bytes(8, "big")
                record.flags = flags
            if event:
                record.event_name = event
        return request.SerializeToString()
