"""The canonical record and everything that makes or names one.

- ``schema.py``: the record (``Record``, ``CanonicalRecord``), its timestamps and its JSON lines
- ``batch.py``: ``RecordBatch``, the one batch type every sink's ``write`` takes
- ``otlp.py``: OTLP decoding (``parse_protobuf``, ``decode_json``) and conversion (``convert_request``)
- ``native.py``: the wrapper of the Rust extension (the same conversion, and aggregation's stdlib reader)
- ``names.py`` (app names, file names, data streams), ``severity.py`` (the one severity table),
  ``redaction.py`` (masking secrets), ``lines.py`` (the last complete line of a file)

This package exports the names of the first three (``from otel_logging.record import RecordBatch``).
"""

from __future__ import annotations

from otel_logging.record.batch import Lines, RecordBatch
from otel_logging.record.names import DEFAULT_SERVICE_NAME
from otel_logging.record.otlp import (
    DecodedJson,
    ExportLogsServiceRequest,
    MalformedRequest,
    any_value,
    convert_request,
    decode_json,
    iter_records,
    key_values,
    parse_json,
    parse_protobuf,
)
from otel_logging.record.schema import (
    CanonicalRecord,
    InvalidRecord,
    JsonValue,
    Record,
    from_json_line,
    rejection_message,
    rfc3339_nanos,
    to_json_line,
    to_json_lines,
)

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "CanonicalRecord",
    "DecodedJson",
    "ExportLogsServiceRequest",
    "InvalidRecord",
    "JsonValue",
    "Lines",
    "MalformedRequest",
    "Record",
    "RecordBatch",
    "any_value",
    "convert_request",
    "decode_json",
    "from_json_line",
    "iter_records",
    "key_values",
    "parse_json",
    "parse_protobuf",
    "rejection_message",
    "rfc3339_nanos",
    "to_json_line",
    "to_json_lines",
]
