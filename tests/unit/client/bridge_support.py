"""For the bridge tests: an in-process OTLP/gRPC receiver keeping the records it got, and a tracer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider

from otel_logging.record.otlp import iter_records

TRACER = TracerProvider().get_tracer("bridge-tests")


class Receiver:
    """Takes OTLP log exports on 127.0.0.1; ``delay_s`` slows each export (to fill the client's queue)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.logs.v1.LogsService",
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=ExportLogsServiceRequest.FromString,
                    response_serializer=ExportLogsServiceResponse.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{port}"

    def _export(self, request: ExportLogsServiceRequest, context: Any) -> ExportLogsServiceResponse:
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow receiver (not synchronisation)
        records = list(iter_records(request))
        with self._lock:
            self.records.extend(records)
        return ExportLogsServiceResponse()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.records)


@contextmanager
def receiver(delay_s: float = 0.0) -> Iterator[Receiver]:
    server = Receiver(delay_s)
    server._server.start()
    try:
        yield server
    finally:
        server._server.stop(0)


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def assert_a_burst_arrives_whole(server: Receiver, handle: Any, log_event: Callable[[int, int], None]) -> None:
    """4 threads call ``log_event(thread, i)`` 500 times each while a stdlib record joins the same small queue:
    nothing is dropped, all 2,001 arrive, each thread's events in order."""

    def burst(thread: int) -> None:
        for i in range(500):
            log_event(thread, i)

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    logging.getLogger("stdlib").warning("stdlib record in the same queue")
    for thread in threads:
        thread.join()
    assert handle.force_flush(60)
    stats = handle.stats()
    assert stats is not None and stats.dropped == 0 and stats.accepted == 2001 == stats.exported
    records = server.snapshot()
    assert len(records) == 2001
    for t in range(4):  # each thread's events arrive in order
        assert [r["attributes"]["i"] for r in records if r["attributes"].get("thread") == t] == list(range(500))
