"""Each process reports its own ``process.pid`` (setup() sets it) and ``service.instance.id``, also after a fork."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

import otel_logging
from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.entry import LogEntry
from otel_logging.client.state import CLIENT_STATE
from tests.support.procs import free_port


@pytest.fixture(autouse=True)
def fresh_client_state() -> Iterator[None]:
    CLIENT_STATE.reset()
    yield
    CLIENT_STATE.reset()


def entry() -> LogEntry:
    return (1, 1, 9, "INFO", "hello", None, 0, 0, 0, "t", None)


def resource_of(payload: bytes) -> dict[str, object]:
    request = ExportLogsServiceRequest.FromString(payload)
    out: dict[str, object] = {}
    for kv in request.resource_logs[0].resource.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def test_setup_puts_this_process_pid_in_the_resource() -> None:
    handle = otel_logging.setup("pid-app", f"http://127.0.0.1:{free_port()}")
    assert handle.processor is not None
    assert resource_of(handle.processor._encoder.encode([entry()]))["process.pid"] == os.getpid()


def test_after_fork_the_encoder_reports_the_child_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = BatchEncoder({"service.name": "s", "process.pid": 100})
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    encoder.after_fork()
    assert resource_of(encoder.encode([entry()])) == {"service.name": "s", "process.pid": 4242}


def test_a_pid_given_as_a_string_attribute_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = BatchEncoder({"service.name": "s", "process.pid": "fixed"})
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    encoder.after_fork()
    assert resource_of(encoder.encode([entry()]))["process.pid"] == "fixed"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_after_setup_encodes_its_own_pid_and_service_instance() -> None:
    handle = otel_logging.setup("pid-app", f"http://127.0.0.1:{free_port()}")
    assert handle.processor is not None
    parent = os.getpid()
    before = resource_of(handle.processor._encoder.encode([entry()]))
    assert before["process.pid"] == parent and before["service.instance.id"]
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        try:
            assert handle.processor is not None
            seen = resource_of(handle.processor._encoder.encode([entry()]))
            own_instance = seen["service.instance.id"] == handle.provider.resource.attributes["service.instance.id"]
            os._exit(0 if seen["process.pid"] == os.getpid() != parent and own_instance and seen != before else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert resource_of(handle.processor._encoder.encode([entry()]))["process.pid"] == parent
