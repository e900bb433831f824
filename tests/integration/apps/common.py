"""What the test apps share: a tracer provider, where setup() is called, the ids of the current span."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

# Where the app calls otel_logging.setup(): "import" (when the app module is imported),
# or "post_fork" / "worker_process_init" (the server's per-worker hook; see the config files).
SETUP_AT = os.environ.get("SERVERS_SETUP_AT", "import")


def use_sdk_tracer_provider() -> None:
    """Spans of the official instrumentation are recorded (not no-op), so they carry real ids."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


def current_span() -> dict[str, Any]:
    """The current span's ids, name and kind, and this process's pid (what a record should carry)."""
    span = trace.get_current_span()
    context = span.get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "span_name": span.name if isinstance(span, ReadableSpan) else None,
        "span_kind": span.kind.name if isinstance(span, ReadableSpan) else None,
        "pid": os.getpid(),
    }
