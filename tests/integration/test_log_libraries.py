"""structlog and loguru apps in real subprocesses send through setup() to a real ``otel-logging serve``."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.procs import ServeProcess, read_jsonl, run_app

pytestmark = pytest.mark.integration

pytest.importorskip("structlog")
pytest.importorskip("loguru")

COUNT = 300

STRUCTLOG_APP = """
    import logging, sys
    import structlog
    import otel_logging
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
    handle = otel_logging.setup("structlog-app", sys.argv[1], level=logging.DEBUG, structlog=True)
    structlog.contextvars.bind_contextvars(request_id="r-1")
    log = structlog.get_logger().bind(user="ann")
    with trace.get_tracer("t").start_as_current_span("checkout") as span:
        ctx = span.get_span_context()
        print("IDS", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
        log.info("order placed", order_id=42, total=9.5, paid=True, tags=["a", "b"],
                 customer={"tier": "gold", "address": {"city": "Oslo"}}, password="hunter2")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    for i in range(COUNT):
        log.debug("tick", i=i)
    assert handle.force_flush(30)
    print("STATS", handle.stats())
"""

LOGURU_APP = """
    import logging, sys
    from loguru import logger
    import otel_logging
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
    handle = otel_logging.setup("loguru-app", sys.argv[1], level=logging.DEBUG, loguru=True)
    log = logger.bind(user="ann")
    with trace.get_tracer("t").start_as_current_span("checkout") as span:
        ctx = span.get_span_context()
        print("IDS", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
        with logger.contextualize(request_id="r-1"):
            log.info("order placed", order_id=42, total=9.5, paid=True, tags=["a", "b"],
                     customer={"tier": "gold", "address": {"city": "Oslo"}}, password="hunter2")
    try:
        {}["missing"]
    except KeyError as exc:
        log.opt(exception=exc).error("lookup failed")
    for i in range(COUNT):
        log.debug("tick", i=i)
    assert handle.force_flush(30)
    print("STATS", handle.stats())
"""


@pytest.mark.parametrize(("service", "code"), [("structlog-app", STRUCTLOG_APP), ("loguru-app", LOGURU_APP)])
def test_structlog_and_loguru_apps_arrive_typed_with_trace_ids(serve: ServeProcess, service: str, code: str) -> None:
    result = run_app(textwrap.dedent(code).replace("COUNT", str(COUNT)), serve.grpc_endpoint)
    assert result.returncode == 0, result.stderr
    _, trace_id, span_id = next(line for line in result.stdout.splitlines() if line.startswith("IDS")).split()
    assert "dropped=0" in result.stdout

    records = read_jsonl(serve.app_file(service))
    assert len(records) == 2 + COUNT  # every record arrived
    order, failure, *ticks = records
    assert order["service"] == service and order["body"] == "order placed"
    assert order["severity_text"] == "INFO" and order["severity_number"] == 9
    assert (order["trace_id"], order["span_id"]) == (trace_id, span_id)
    assert order["attributes"] == {
        "request_id": "r-1",
        "user": "ann",
        "order_id": 42,
        "total": 9.5,
        "paid": True,
        "tags": ["a", "b"],
        "customer": {"tier": "gold", "address": {"city": "Oslo"}},
        "password": "[REDACTED]",
    }
    assert failure["severity_text"] == "ERROR" and failure["body"] == "lookup failed"
    assert failure["attributes"]["exception.type"] == "KeyError"
    assert failure["attributes"]["exception.message"] == "missing"
    assert "Traceback" in failure["attributes"]["exception.stacktrace"]
    assert "trace_id" not in failure
    assert [t["attributes"]["i"] for t in ticks] == list(range(COUNT))
    assert {t["severity_text"] for t in ticks} == {"DEBUG"}
