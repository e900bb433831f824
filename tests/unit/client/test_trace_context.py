"""The faster trace-context record factory makes the records the instrumentor's factory makes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import otel_logging
from otel_logging.client.state import CLIENT_STATE
from otel_logging.client.trace_context import fast_factory
from tests.support.procs import free_port

_TIMES = ("created", "msecs", "relativeCreated")


@pytest.fixture
def factories() -> Iterator[tuple[Any, Any, TracerProvider]]:
    """(the instrumentor's factory, the fast one wrapping it, their tracer provider)."""
    CLIENT_STATE.reset()
    provider = TracerProvider(resource=Resource.create({"service.name": "trace-context-test"}))
    instrumentor = LoggingInstrumentor()
    instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False, tracer_provider=provider)
    try:
        instrumented = logging.getLogRecordFactory()
        fast = fast_factory(instrumented, LoggingInstrumentor._old_factory, provider)
        assert fast is not None
        yield instrumented, fast, provider
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def made(factory: Any, exc_info: Any = None) -> dict[str, Any]:
    record = factory("tc.test", logging.INFO, __file__, 7, "user %s", ("alice",), exc_info, "fn", None)
    fields = dict(vars(record))
    for name in _TIMES:
        fields.pop(name)
    return fields


def test_without_a_span_the_records_are_the_instrumentors(factories: tuple[Any, Any, TracerProvider]) -> None:
    instrumented, fast, _ = factories
    ours, theirs = made(fast), made(instrumented)
    assert ours == theirs and list(ours) == list(theirs)  # same values, same key order
    assert ours["otelTraceID"] == "0" and ours["otelServiceName"] == "trace-context-test"


def test_with_a_span_the_records_are_the_instrumentors(factories: tuple[Any, Any, TracerProvider]) -> None:
    instrumented, fast, provider = factories
    with provider.get_tracer("t").start_as_current_span("s") as span:
        ours, theirs = made(fast), made(instrumented)
    assert ours == theirs and list(ours) == list(theirs)
    assert ours["otelTraceID"] == format(span.get_span_context().trace_id, "032x")
    with trace.use_span(trace.INVALID_SPAN):
        assert made(fast) == made(instrumented)


def count_calls(name: str, call: Any) -> int:
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_name == name:
            calls += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return calls


def test_setup_installs_it_and_reset_removes_it() -> None:
    CLIENT_STATE.reset()
    before = logging.getLogRecordFactory()
    otel_logging.setup("trace-context-test", f"http://127.0.0.1:{free_port()}", export_timeout_ms=1000)
    try:
        installed = logging.getLogRecordFactory()
        assert installed.__wrapped__ is not before  # the instrumentor's factory, wrapped
        record = installed("tc.test", logging.INFO, __file__, 7, "m", (), None)
        assert (record.otelSpanID, record.otelTraceID, record.otelTraceSampled) == ("0", "0", False)
        assert count_calls("get_current_span", lambda: installed("n", logging.INFO, "f", 1, "m", (), None)) == 0
    finally:
        CLIENT_STATE.reset()
    assert logging.getLogRecordFactory() is before
