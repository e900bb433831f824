"""The app side's process-wide state lives in CLIENT_STATE; reset() undoes what setup() did."""

from __future__ import annotations

import gc
import logging
import logging.config
import os
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.instrumentation.logging import LoggingInstrumentor

import otel_logging
from otel_logging.client import setup as client_setup
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.state import CLIENT_STATE, ClientState
from tests.support.procs import free_port
from tests.unit.client.test_processor import RecordingExporter, make, record


@pytest.fixture(autouse=True)
def fresh_client_state() -> Iterator[None]:
    CLIENT_STATE.reset()
    yield
    CLIENT_STATE.reset()


def process_wide() -> dict[str, Any]:
    """What setup() may change in the process besides the objects it returns."""
    root = logging.getLogger()
    return {
        "root handlers": list(root.handlers),
        "root level": root.level,
        "dictConfig": logging.config.dictConfig,
        "fileConfig": logging.config.fileConfig,
        "basicConfig": logging.basicConfig,
        "record factory": logging.getLogRecordFactory(),
        "trace context injected": LoggingInstrumentor().is_instrumented_by_opentelemetry,
        "global provider": logs_internal._LOGGER_PROVIDER,
        "current": client_setup.current(),
    }


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: nothing is logged, so nothing waits


def test_reset_undoes_everything_setup_did_to_the_process() -> None:
    before = process_wide()
    logging.getLogger().setLevel(logging.WARNING)
    before["root level"] = logging.WARNING
    handle = otel_logging.setup("state-test", nowhere(), level=logging.DEBUG, export_timeout_ms=1000)
    during = process_wide()
    assert during["current"] is handle and handle.handler in during["root handlers"]
    assert during["root level"] == logging.DEBUG
    assert during["dictConfig"] is not before["dictConfig"] and during["basicConfig"] is not before["basicConfig"]
    assert during["trace context injected"]
    expected_provider = before["global provider"] or handle.provider
    assert during["global provider"] is expected_provider

    CLIENT_STATE.reset()

    assert process_wide() == before
    assert handle.processor is not None and not handle.processor._worker.is_alive()  # the export thread stopped


def test_setup_after_reset_installs_a_fresh_pipeline() -> None:
    global_before = logs_internal._LOGGER_PROVIDER
    first = otel_logging.setup("state-test", nowhere(), export_timeout_ms=1000)
    CLIENT_STATE.reset()
    second = otel_logging.setup("state-test", first.settings.endpoint, export_timeout_ms=1000)
    assert second is not first  # the same settings, but the first pipeline is gone
    ours = [h for h in logging.getLogger().handlers if isinstance(h, OtelLoggingHandler)]
    assert ours == [second.handler]
    assert logs_internal._LOGGER_PROVIDER is (global_before or second.provider)


def test_setup_and_shutdown_keep_their_behaviour() -> None:
    endpoint = nowhere()
    a = otel_logging.setup("state-test", endpoint, export_timeout_ms=1000)
    assert otel_logging.setup("state-test", endpoint, export_timeout_ms=1000) is a
    b = otel_logging.setup("state-test", endpoint, export_timeout_ms=1000, level=logging.DEBUG)
    assert b is not a and a.handler not in logging.getLogger().handlers
    assert client_setup.current() is b
    logging.config.dictConfig({"version": 1, "incremental": False})  # resets root handlers: ours is kept
    assert b.handler in logging.getLogger().handlers
    otel_logging.shutdown()
    assert client_setup.current() is None and b.handler not in logging.getLogger().handlers
    otel_logging.shutdown()  # idempotent


def test_processors_share_one_pair_of_fork_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    processors = [make(RecordingExporter()) for _ in range(3)]
    registered: list[dict[str, Any]] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **hooks: registered.append(hooks))
    state = ClientState()
    for processor in processors:
        state.add_processor(processor)
    assert len(registered) == 1
    assert set(state.processors()) == set(processors)
    for processor in processors:
        processor.shutdown()


def test_a_processor_that_was_shut_down_is_not_kept_alive_by_fork_hooks() -> None:
    processor = make(RecordingExporter())
    processor.shutdown()
    gone = weakref.ref(processor)
    del processor
    gc.collect()
    assert gone() is None


def test_reset_shuts_down_processors_made_outside_setup() -> None:
    exporter = RecordingExporter()
    processor = make(exporter)
    processor.on_emit(record(7))
    CLIENT_STATE.reset()
    assert exporter.bodies == [7]  # flushed, then stopped
    assert not processor._worker.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_fresh_worker_and_the_parent_flushes_first() -> None:
    exporter = RecordingExporter()
    processor = make(exporter, schedule_delay_ms=60_000)  # only a flush sends
    processor.on_emit(record(1))
    parent_worker = processor._worker
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        try:
            processor.on_emit(record(2))
            fresh = processor._worker is not parent_worker and processor._worker.is_alive()
            inherited_nothing = processor.stats().accepted == 1
            flushed = processor.force_flush(10_000)
            os._exit(0 if fresh and inherited_nothing and flushed and exporter.bodies[-1:] == [2] else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert exporter.bodies == [1]  # sent by the parent before the fork, once
    processor.shutdown()
