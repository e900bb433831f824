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

Here: the record's types, its timestamps and its JSON lines. The batch type is in ``batch.py``, OTLP decoding
and conversion in ``otlp.py``; ``otel_logging.record`` exports them all.
"""

from __future__ import annotations

import time
from typing import Any, NotRequired, TypedDict

import orjson

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


def rejection_message(rejected: int, first_error: str) -> str:
    """The partial-success message of a request with ``rejected`` records refused."""
    return f"{rejected} log record(s) rejected; first: {first_error}" if rejected else ""


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
