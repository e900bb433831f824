"""otel_logging.testing: capture what setup() would export, without a receiver; everything restored after."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import _internal as logs_internal

import otel_logging
from otel_logging.client import setup as client_setup
from otel_logging.client.state import CLIENT_STATE
from otel_logging.testing import CapturedLogs, capture_logs
from tests.unit.client.bridge_support import TRACER, ids, receiver


@pytest.fixture(autouse=True)
def fresh_client_state() -> Iterator[None]:
    CLIENT_STATE.reset()
    yield
    CLIENT_STATE.reset()


def process_state() -> dict[str, Any]:
    root = logging.getLogger()
    return {
        "root handlers": list(root.handlers),
        "root level": root.level,
        "global provider": logs_internal._LOGGER_PROVIDER,
        "current": client_setup.current(),
    }


def test_capture_logs_gives_body_severity_attributes_and_trace_ids() -> None:
    with capture_logs("shop-api", resource_attributes={"deployment.environment": "ci"}) as logs:
        log = logging.getLogger("shop.orders")
        with TRACER.start_as_current_span("checkout") as span:
            log.warning("order %s late", 42, extra={"order_id": 42, "customer": {"tier": "gold"}, "pwd": "x"})
        try:
            raise KeyError("missing")
        except KeyError:
            log.exception("lookup failed")
    late, failure = logs.records
    assert late["body"] == "order 42 late" and late["logger"] == "shop.orders"
    assert (late["severity_number"], late["severity_text"]) == (13, "WARN")
    assert late["attributes"] == {"order_id": 42, "customer": {"tier": "gold"}, "pwd": "[REDACTED]"}
    assert (late["trace_id"], late["span_id"]) == ids(span)
    assert late["service"] == "shop-api" and late["resource"]["deployment.environment"] == "ci"
    assert failure["attributes"]["exception.type"] == "KeyError"


def test_capture_logs_restores_the_previous_pipeline_handlers_and_level() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    with receiver() as server:
        handle = otel_logging.setup("real-app", server.endpoint, level=logging.INFO)
        before = process_state()
        with capture_logs(level=logging.DEBUG) as logs:
            during = process_state()
            logging.getLogger("app").debug("captured only")
        assert process_state() == before
        assert during["current"] is not handle and handle.handler not in during["root handlers"]
        assert during["root level"] == logging.DEBUG
        assert logs.bodies() == ["captured only"]
        logging.getLogger("app").info("sent after")
        assert handle.force_flush(10)
        assert [r["body"] for r in server.snapshot()] == ["sent after"]  # nothing captured leaked to the receiver


def test_capture_logs_without_setup_leaves_the_process_as_it_was() -> None:
    before = process_state()
    with capture_logs() as logs:
        logging.getLogger("app").info("x")
    assert process_state() == before
    assert logs.bodies() == ["x"]
    logging.getLogger("app").info("after the block")
    assert logs.bodies() == ["x"]


def test_capture_logs_restores_state_when_the_block_raises() -> None:
    before = process_state()
    with pytest.raises(RuntimeError), capture_logs():
        raise RuntimeError("test failed inside")
    assert process_state() == before


def test_capture_logs_is_thread_safe_and_loses_nothing() -> None:
    with capture_logs() as logs:

        def work(thread: int) -> None:
            log = logging.getLogger(f"worker.{thread}")
            for i in range(300):
                log.info("item", extra={"worker": thread, "i": i})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        records = logs.records
    assert len(records) == 2400
    for t in range(8):
        assert [r["attributes"]["i"] for r in records if r["logger"] == f"worker.{t}"] == list(range(300))


def test_nested_captures_restore_the_outer_one() -> None:
    with capture_logs() as outer:
        logging.getLogger("a").info("outer 1")
        with capture_logs() as inner:
            logging.getLogger("a").info("inner")
        logging.getLogger("a").info("outer 2")
    assert outer.bodies() == ["outer 1", "outer 2"]
    assert inner.bodies() == ["inner"]


def test_clear_forgets_what_was_captured() -> None:
    with capture_logs() as logs:
        logging.getLogger("a").info("first")
        logs.clear()
        logging.getLogger("a").info("second")
        assert logs.bodies() == ["second"]


def test_captured_logs_fixture(captured_logs: CapturedLogs) -> None:
    logging.getLogger("fixture").error("seen by the fixture", extra={"n": 1})
    (record,) = captured_logs.records
    assert record["body"] == "seen by the fixture" and record["attributes"] == {"n": 1}
    assert record["severity_text"] == "ERROR"
