"""A cheaper trace-context record factory for the common record: no current span.

``LoggingInstrumentor(inject_trace_context=True)`` installs a record factory that, for every stdlib
record, sets ``otelSpanID``/``otelTraceID``/``otelTraceSampled``/``otelServiceName`` and looks the
current span up through four Python calls (``get_current_span`` -> ``get_value`` -> ``get_current`` ->
the runtime context's ``get_current``). ``fast_factory`` wraps it: when the current context holds no
span (read straight from the contextvars runtime's ContextVar, two C calls), it builds the record with
the instrumentor's base factory and sets the same four values in the same order; whenever a span is
set (or the runtime context is not the contextvars one) the instrumentor's factory makes the record
itself. Records are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY

RecordFactory = Callable[..., Any]


def _service_name(provider: Any) -> str:
    """``otelServiceName`` as the instrumentor computes it from its tracer provider."""
    resource = getattr(provider, "resource", None)
    if resource:
        return resource.attributes.get("service.name") or ""
    return ""


def fast_factory(instrumented: RecordFactory, base: RecordFactory, provider: Any) -> RecordFactory | None:
    """The record factory to install in place of ``instrumented`` (the instrumentor's, built on ``base`` with
    ``provider`` as its tracer provider); None when the runtime context is not the contextvars one."""
    runtime = otel_context._RUNTIME_CONTEXT
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    current = runtime._current_context.get
    service_name: str | None = None  # computed on the first record, as the instrumentor does

    def record_factory(*args: Any, **kwargs: Any) -> Any:
        nonlocal service_name
        if otel_context._RUNTIME_CONTEXT is not runtime or current().get(_SPAN_KEY) is not None:
            return instrumented(*args, **kwargs)
        record = base(*args, **kwargs)
        record.otelSpanID = "0"
        record.otelTraceID = "0"
        record.otelTraceSampled = False
        if service_name is None:
            service_name = _service_name(provider)
        record.otelServiceName = service_name
        return record

    record_factory.__wrapped__ = instrumented  # type: ignore[attr-defined]
    return record_factory
