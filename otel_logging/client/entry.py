"""The app side's compact log entry: what the handler hands to the processor.

A plain tuple (cheapest to build in CPython) with the fields of an OpenTelemetry log
record; the encoder turns a batch of them into one OTLP request.
"""

from __future__ import annotations

from typing import Any

# (time_ns, observed_ns, severity_number, severity_text, body, attributes, trace_id, span_id, flags, scope, event_name)
# ``scope`` is the logger name (our handler) or an SDK InstrumentationScope (records from the Logs API).
LogEntry = tuple[int, int, int, str, Any, "dict[str, Any] | None", int, int, int, str, "str | None"]

TIME, OBSERVED, SEVERITY_NUMBER, SEVERITY_TEXT, BODY, ATTRIBUTES, TRACE_ID, SPAN_ID, FLAGS, SCOPE, EVENT_NAME = range(
    11
)


def entry_from_sdk(log_record: Any) -> LogEntry:
    """Build an entry from an SDK ``ReadWriteLogRecord`` (records that did not come through our handler)."""
    record = log_record.log_record
    scope = log_record.instrumentation_scope
    observed = record.observed_timestamp or 0
    severity = record.severity_number
    return (
        record.timestamp or observed,
        observed,
        severity.value if severity is not None else 0,
        record.severity_text or "",
        record.body,
        dict(record.attributes) if record.attributes else None,
        record.trace_id or 0,
        record.span_id or 0,
        int(record.trace_flags or 0),
        scope if scope is not None else "",  # the whole scope: version, attributes, schema URL are kept
        record.event_name,
    )
