"""loguru messages become OpenTelemetry records through setup()'s pipeline (real loguru sink API, real SDK)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

loguru = pytest.importorskip("loguru")

import otel_logging  # noqa: E402
from otel_logging.client.bridges import level_severity, not_exported  # noqa: E402
from otel_logging.client.bridges.loguru import OtelSink  # noqa: E402
from otel_logging.client.state import CLIENT_STATE  # noqa: E402
from otel_logging.testing import capture_logs  # noqa: E402
from tests.unit.client.bridge_support import TRACER, assert_a_burst_arrives_whole, ids, receiver  # noqa: E402

logger: Any = loguru.logger


@pytest.fixture(autouse=True)
def quiet_loguru() -> Iterator[io.StringIO]:
    """loguru writes to a buffer instead of stderr; every sink a test added is gone afterwards."""
    CLIENT_STATE.reset()
    logger.remove()
    out = io.StringIO()
    logger.add(out, format="{level} {message}")
    yield out
    CLIENT_STATE.reset()
    logger.remove()
    logger.add(__import__("sys").stderr)


def test_loguru_bind_extra_and_keyword_arguments_become_typed_attributes() -> None:
    with capture_logs(loguru=True) as logs:
        log = logger.bind(user="ann", vip=True, customer={"tier": "gold", "address": {"city": "Oslo"}})
        with logger.contextualize(request_id="r-1"):
            log.info("order {order_id} placed", order_id=42, total=9.5, tags=["a", "b"], nothing=None)
    (record,) = logs.records
    assert record["body"] == "order 42 placed"
    assert record["severity_number"] == 9 and record["severity_text"] == "INFO"
    assert record["logger"] == __name__
    assert record["attributes"] == {
        "user": "ann",
        "vip": True,
        "customer": {"tier": "gold", "address": {"city": "Oslo"}},
        "request_id": "r-1",
        "order_id": 42,
        "total": 9.5,
        "tags": ["a", "b"],
    }


def test_loguru_levels_and_custom_levels_map_to_otel_severity() -> None:
    try:
        logger.level("OTEL_TEST_NOTICE", no=33)
    except (TypeError, ValueError):  # defined by an earlier run in this process
        pass
    with capture_logs(loguru=True, level=1) as logs:
        for name in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL", "OTEL_TEST_NOTICE"):
            logger.log(name, name)
    got = {r["body"]: (r["severity_number"], r["severity_text"]) for r in logs.records}
    assert got == {
        "TRACE": (1, "TRACE"),
        "DEBUG": (5, "DEBUG"),
        "INFO": (9, "INFO"),
        "SUCCESS": (10, "SUCCESS"),
        "WARNING": (13, "WARN"),
        "ERROR": (17, "ERROR"),
        "CRITICAL": (21, "FATAL"),
        "OTEL_TEST_NOTICE": (14, "OTEL_TEST_NOTICE"),
    }


@pytest.mark.parametrize(
    ("number", "expected"), [(0, 0), (1, 1), (5, 1), (10, 5), (19, 8), (20, 9), (25, 10), (40, 17), (55, 22), (99, 24)]
)
def test_level_numbers_between_and_beyond_the_named_levels(number: int, expected: int) -> None:
    assert level_severity(number, "x")[0] == expected


def test_loguru_exceptions_become_exception_attributes() -> None:
    with capture_logs(loguru=True) as logs:
        try:
            {}["missing"]
        except KeyError:
            logger.exception("lookup failed")
        try:
            raise ValueError("bad value")
        except ValueError as exc:
            logger.opt(exception=exc).warning("given")
    failure, given = logs.records
    assert failure["severity_text"] == "ERROR"
    assert failure["attributes"]["exception.type"] == "KeyError"
    assert failure["attributes"]["exception.message"] == "missing"
    assert "Traceback" in failure["attributes"]["exception.stacktrace"]
    assert given["severity_text"] == "WARN"
    assert given["attributes"]["exception.type"] == "ValueError"
    assert given["attributes"]["exception.message"] == "bad value"
    assert "raise ValueError" in given["attributes"]["exception.stacktrace"]


def test_loguru_records_carry_the_current_trace_and_span_ids() -> None:
    with capture_logs(loguru=True) as logs:
        with TRACER.start_as_current_span("checkout") as span:
            logger.info("inside")
        logger.info("outside")
    inside, outside = logs.records
    assert (inside["trace_id"], inside["span_id"]) == ids(span)
    assert "trace_id" not in outside


def test_loguru_secrets_are_redacted() -> None:
    with capture_logs(loguru=True) as logs:
        logger.bind(password="hunter2", nested={"token": "t-1", "ok": 1}).info("key AKIAABCDEFGHIJKLMNOP used")
    (record,) = logs.records
    assert record["body"] == "key [REDACTED] used"
    assert record["attributes"] == {"password": "[REDACTED]", "nested": {"token": "[REDACTED]", "ok": 1}}


def test_setup_loguru_adds_a_sink_at_the_level_and_shutdown_removes_it(quiet_loguru: io.StringIO) -> None:
    with receiver() as server:
        handle = otel_logging.setup("loguru-app", server.endpoint, level=logging.INFO, loguru=True)
        with TRACER.start_as_current_span("work") as span:
            logger.bind(order_id=7).info("sent")
        logger.debug("below the level")
        assert handle.force_flush(10)
        handle.shutdown()
        logger.info("after shutdown")
        (record,) = server.snapshot()
    assert record["service"] == "loguru-app" and record["body"] == "sent"
    assert record["attributes"] == {"order_id": 7}
    assert (record["trace_id"], record["span_id"]) == ids(span)
    assert "INFO sent" in quiet_loguru.getvalue()  # the app's own sinks are untouched
    assert "INFO after shutdown" in quiet_loguru.getvalue()


def test_loguru_and_stdlib_share_one_queue_and_a_burst_arrives_whole() -> None:
    with receiver(delay_s=0.005) as server:
        handle = otel_logging.setup(
            "burst-app", server.endpoint, loguru=True, max_queue_size=64, max_export_batch_size=32
        )
        assert_a_burst_arrives_whole(server, handle, lambda thread, i: logger.info("event", thread=thread, i=i))


def test_loguru_message_before_setup_is_counted_not_exported() -> None:
    sink = logger.add(OtelSink(), format="{message}")
    before = not_exported()
    logger.info("too early")
    logger.remove(sink)
    assert not_exported() == before + 1


def test_capture_does_not_add_a_second_sink_when_setup_added_one() -> None:
    with receiver() as server:
        otel_logging.setup("loguru-app", server.endpoint, loguru=True)
        with capture_logs(loguru=True) as logs:
            logger.info("once")
        assert logs.bodies() == ["once"]
        handle = otel_logging.client.setup.current()
        assert handle is not None and handle.force_flush(10)
        assert server.snapshot() == []  # captured, not sent to the receiver as well
