"""The native OTLP/gRPC transport's hot path keeps its shape: each request is answered on a runtime thread (no
hand-off to a Python thread), with few voluntary context switches per request on the server's threads: 0.1-0.2
measured on a quiet machine, 1.0 in the full suite (the thread parks between two requests, or waits for the GIL
this test's client holds); grpcio's server makes about 14 per request. Counts, not timings."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest

from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.grpc_native import Answer, NativeGrpcFrontEnd
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record.native import native_grpc_server
from otel_logging.sinks.files import FileSink
from tests.integration.test_receiver import make_request

pytestmark = pytest.mark.skipif(native_grpc_server() is None, reason="otel_logging_native is not built")

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def thread_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def server_switches() -> int:
    """Voluntary context switches so far of this process's threads named ``otlp-grpc`` (the native runtime's)."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != "otlp-grpc":
                continue
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):  # waits and wake-ups (not preemption: load)
                    total += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return total


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_each_request_is_answered_on_a_runtime_thread_with_few_switches(tmp_path: Path) -> None:
    answered_on: set[str] = set()

    class Watched(NativeGrpcFrontEnd):
        def answer(self, payload: bytes, authorization: str | None) -> Answer:
            answered_on.add(thread_name(threading.get_native_id()))
            return super().answer(payload, authorization)

    front = Watched(
        LogsExporter([FileSink(tmp_path)], ServiceMetrics()), "127.0.0.1", 0, max_request_bytes=1 << 20, workers=16
    )
    front.start()
    payload = make_request("app", [f"r{i}" for i in range(50)]).SerializeToString()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            call = channel.unary_unary(EXPORT)
            for _ in range(20):
                call(payload, timeout=10)
            before = server_switches()
            for _ in range(200):
                call(payload, timeout=10)
            per_request = (server_switches() - before) / 200
    finally:
        front.stop(5)
    assert answered_on == {"otlp-grpc"}
    assert per_request <= 2.5, f"{per_request:.2f} voluntary context switches per request on the server's threads"
    assert (tmp_path / "app.jsonl").read_bytes().count(b"\n") == 220 * 50
