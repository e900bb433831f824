"""structlog events become OpenTelemetry records through setup()'s pipeline (real structlog, real SDK)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

structlog = pytest.importorskip("structlog")

import otel_logging  # noqa: E402
from otel_logging.client import bridges  # noqa: E402
from otel_logging.client.bridges.structlog import OtelProcessor  # noqa: E402
from otel_logging.client.state import CLIENT_STATE  # noqa: E402
from otel_logging.testing import capture_logs  # noqa: E402
from tests.support.procs import wait_for  # noqa: E402
from tests.unit.client.bridge_support import TRACER, assert_a_burst_arrives_whole, ids, receiver  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_structlog() -> Iterator[None]:
    CLIENT_STATE.reset()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    CLIENT_STATE.reset()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def console_chain(out: io.StringIO, *extra: object) -> None:
    """structlog's default chain, printing to ``out``, with ``extra`` processors before the renderer."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            *extra,
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
    )


def test_structlog_event_keys_bound_and_contextvars_become_typed_attributes() -> None:
    with capture_logs(structlog=True) as logs:
        structlog.contextvars.bind_contextvars(request_id="r-1", attempt=2)
        log = structlog.get_logger().bind(user="ann", vip=True)
        log.info(
            "order placed",
            order_id=42,
            total=9.5,
            tags=["a", "b"],
            mixed=[1, "x"],
            customer={"tier": "gold", "address": {"city": "Oslo"}},
            nothing=None,
            huge=2**70,
        )
    (record,) = logs.records
    assert record["body"] == "order placed"
    assert record["severity_number"] == 9 and record["severity_text"] == "INFO"
    assert record["attributes"] == {
        "request_id": "r-1",
        "attempt": 2,
        "user": "ann",
        "vip": True,
        "order_id": 42,
        "total": 9.5,
        "tags": ["a", "b"],
        "mixed": [1, "x"],
        "customer": {"tier": "gold", "address": {"city": "Oslo"}},
        "huge": str(2**70),
    }
    assert "trace_id" not in record


def test_structlog_timestamp_and_logger_name_set_the_records_time_and_scope() -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            lambda _l, _m, event: {**event, "logger": "shop.orders"},
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )
    with capture_logs(structlog=True) as logs:
        structlog.get_logger().warning("slow", ms=812)
    (record,) = logs.records
    assert record["logger"] == "shop.orders"
    assert record["severity_text"] == "WARN" and record["severity_number"] == 13
    assert record["attributes"] == {"ms": 812}  # timestamp, level, logger are record fields, not attributes
    assert record["@timestamp"] <= record["observed_timestamp"]


@pytest.mark.parametrize(
    ("method", "number", "text"),
    [("debug", 5, "DEBUG"), ("info", 9, "INFO"), ("warning", 13, "WARN"), ("error", 17, "ERROR"),
     ("critical", 21, "FATAL"), ("exception", 17, "ERROR")],
)  # fmt: skip
def test_structlog_levels_map_to_otel_severity(method: str, number: int, text: str) -> None:
    with capture_logs(structlog=True) as logs:
        getattr(structlog.get_logger(), method)("event")
    (record,) = logs.records
    assert (record["severity_number"], record["severity_text"]) == (number, text)


def test_structlog_events_below_the_setup_level_are_not_exported() -> None:
    with capture_logs(level=logging.WARNING, structlog=True) as logs:
        log = structlog.get_logger()
        log.debug("debug")
        log.info("info")
        log.warning("warning")
        log.error("error")
    assert logs.bodies() == ["warning", "error"]


def test_structlog_exceptions_become_exception_attributes() -> None:
    with capture_logs(structlog=True) as logs:
        log = structlog.get_logger()
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
        log.error("given", exc_info=ValueError("bad value"))
    failure, given = logs.records
    assert failure["body"] == "lookup failed" and failure["severity_text"] == "ERROR"
    assert failure["attributes"]["exception.type"] == "KeyError"
    assert failure["attributes"]["exception.message"] == "missing"
    assert "Traceback" in failure["attributes"]["exception.stacktrace"]
    assert "KeyError: 'missing'" in failure["attributes"]["exception.stacktrace"]
    assert given["attributes"]["exception.type"] == "ValueError"
    assert given["attributes"]["exception.message"] == "bad value"
    assert "exc_info" not in given["attributes"]


def test_structlog_exception_already_rendered_by_format_exc_info_is_the_stacktrace() -> None:
    out = io.StringIO()
    console_chain(out, structlog.processors.format_exc_info)
    with capture_logs(structlog=True) as logs:
        try:
            print(1 / 0)
        except ZeroDivisionError:
            structlog.get_logger().exception("division")
    (record,) = logs.records
    assert "ZeroDivisionError" in record["attributes"]["exception.stacktrace"]
    assert "exception" not in record["attributes"]


def test_structlog_records_carry_the_current_trace_and_span_ids() -> None:
    with capture_logs(structlog=True) as logs:
        with TRACER.start_as_current_span("checkout") as span:
            structlog.get_logger().info("inside")
        structlog.get_logger().info("outside")
    inside, outside = logs.records
    assert (inside["trace_id"], inside["span_id"]) == ids(span)
    assert "trace_id" not in outside and "span_id" not in outside


def test_structlog_secrets_are_redacted() -> None:
    with capture_logs(structlog=True) as logs:
        structlog.get_logger().info(
            "login with Bearer abcdefghijklmnop", password="hunter2", nested={"api_key": "k-123", "ok": 1}
        )
    (record,) = logs.records
    assert record["body"] == "login with Bearer [REDACTED]"
    assert record["attributes"] == {"password": "[REDACTED]", "nested": {"api_key": "[REDACTED]", "ok": 1}}


def test_structlog_renderer_output_is_unchanged_by_the_bridge() -> None:
    out = io.StringIO()
    console_chain(out, OtelProcessor())
    with capture_logs() as logs:  # the app put OtelProcessor in its chain itself
        structlog.get_logger().info("hello", n=1)
    assert "event='hello'" in out.getvalue() and "n=1" in out.getvalue()
    assert [r["body"] for r in logs.records] == ["hello"]


def test_setup_structlog_puts_the_processor_before_the_renderer_and_shutdown_takes_it_out() -> None:
    out = io.StringIO()
    console_chain(out)
    before = structlog.get_config()["processors"]
    with receiver() as server:
        handle = otel_logging.setup("structlog-app", server.endpoint, structlog=True, export_timeout_ms=5000)
        chain = structlog.get_config()["processors"]
        assert isinstance(chain[-2], OtelProcessor) and chain[-1] is before[-1]
        with TRACER.start_as_current_span("work") as span:
            structlog.get_logger().info("sent", order_id=7)
        assert handle.force_flush(10)
        handle.shutdown()
    assert structlog.get_config()["processors"] == before
    (record,) = server.snapshot()
    assert record["service"] == "structlog-app" and record["body"] == "sent"
    assert record["attributes"] == {"order_id": 7}
    assert (record["trace_id"], record["span_id"]) == ids(span)
    assert "event='sent'" in out.getvalue()


def test_setup_structlog_again_with_the_same_settings_does_not_add_a_second_processor() -> None:
    console_chain(io.StringIO())
    with receiver() as server:
        first = otel_logging.setup("structlog-app", server.endpoint, structlog=True, export_timeout_ms=5000)
        second = otel_logging.setup("structlog-app", server.endpoint, structlog=True, export_timeout_ms=5000)
        assert first is second
        chain = structlog.get_config()["processors"]
        assert sum(isinstance(p, OtelProcessor) for p in chain) == 1
        structlog.get_logger().info("once")
        assert first.force_flush(10)
        assert [r["body"] for r in server.snapshot()] == ["once"]


def test_structlog_burst_larger_than_the_queue_arrives_whole_through_the_same_processor() -> None:
    console_chain(io.StringIO())
    with receiver(delay_s=0.005) as server:
        handle = otel_logging.setup(
            "burst-app", server.endpoint, structlog=True, max_queue_size=64, max_export_batch_size=32
        )
        log = structlog.get_logger()

        assert_a_burst_arrives_whole(server, handle, lambda thread, i: log.info("event", thread=thread, i=i))


def test_setup_structlog_refuses_a_chain_that_ends_in_stdlib_logging() -> None:
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs], logger_factory=structlog.stdlib.LoggerFactory()
    )
    root_handlers = list(logging.getLogger().handlers)
    with pytest.raises(ValueError, match="render_to_log_kwargs"):
        otel_logging.setup("stdlib-structlog", "http://127.0.0.1:9", structlog=True, export_timeout_ms=500)
    assert otel_logging.client.setup.current() is None
    assert logging.getLogger().handlers == root_handlers  # the half-built pipeline was taken down


def test_structlog_through_stdlib_with_render_to_log_kwargs_keeps_typed_attributes() -> None:
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    with capture_logs() as logs:
        structlog.contextvars.bind_contextvars(request_id="r-9")
        structlog.get_logger("shop.stdlib").info("via stdlib", order_id=3, customer={"tier": "gold"})
    (record,) = logs.records
    assert record["body"] == "via stdlib" and record["logger"] == "shop.stdlib"
    assert record["attributes"] == {"request_id": "r-9", "order_id": 3, "customer": {"tier": "gold"}}


def test_structlog_event_before_setup_is_counted_and_reported_not_silent(capfd: pytest.CaptureFixture[str]) -> None:
    console_chain(io.StringIO(), OtelProcessor())
    before = bridges.not_exported()
    structlog.get_logger().info("too early")
    assert bridges.not_exported() == before + 1
    if before == 0:  # reported once per process
        assert "before otel_logging.setup()" in capfd.readouterr().err


def test_a_bridge_failure_never_raises_into_the_app_and_is_counted(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("broken cleaning")

    out = io.StringIO()
    console_chain(out, OtelProcessor())
    before = bridges.failed()
    with capture_logs() as logs:
        monkeypatch.setattr(bridges, "clean_mapping", broken)
        structlog.get_logger().info("still printed", n=1)
        monkeypatch.undo()
        structlog.get_logger().info("exported again", n=2)
    assert bridges.failed() == before + 1
    assert "event='still printed'" in out.getvalue()
    assert logs.bodies() == ["exported again"]
    if before == 0:
        assert "could not be exported" in capfd.readouterr().err


def test_structlog_takes_the_sdk_path_when_another_processor_is_registered() -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    console_chain(io.StringIO())
    memory = InMemoryLogRecordExporter()
    with capture_logs(structlog=True) as logs:
        provider = CLIENT_STATE.handle.provider  # type: ignore[union-attr]
        provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
        with TRACER.start_as_current_span("sdk") as span:
            structlog.get_logger().info("both see it", n=1, password="x")
    (record,) = logs.records
    assert record["attributes"] == {"n": 1, "password": "[REDACTED]"}
    assert (record["trace_id"], record["span_id"]) == ids(span)
    wait_for(lambda: len(memory.get_finished_logs()) == 1, timeout=5)
    other = memory.get_finished_logs()[0].log_record
    assert other.body == "both see it" and dict(other.attributes or {}) == {"n": 1, "password": "[REDACTED]"}


def test_under_opentelemetry_instrument_structlog_events_go_to_the_instrumentations_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    monkeypatch.setattr(logs_internal, "_LOGGER_PROVIDER", provider)  # what opentelemetry-instrument sets up
    instrumentation_handler = LoggingHandler(logger_provider=provider)
    root = logging.getLogger()
    root.addHandler(instrumentation_handler)
    try:
        console_chain(io.StringIO())
        handle = otel_logging.setup("instrumented", "http://127.0.0.1:9", structlog=True)
        assert handle.reused_handler is instrumentation_handler and handle.processor is None
        with TRACER.start_as_current_span("instrumented") as span:
            structlog.get_logger().info("via the SDK", n=1, password="x")
        wait_for(lambda: len(memory.get_finished_logs()) == 1, timeout=5)
        record = memory.get_finished_logs()[0].log_record
        assert record.body == "via the SDK"
        assert dict(record.attributes or {}) == {"n": 1, "password": "[REDACTED]"}
        assert (format(record.trace_id or 0, "032x"), format(record.span_id or 0, "016x")) == ids(span)
    finally:
        root.removeHandler(instrumentation_handler)
