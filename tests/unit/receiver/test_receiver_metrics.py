"""Request metrics: one RequestReport per export request counts it once, with its outcome."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.grpc_native import NativeGrpcFrontEnd
from otel_logging.receiver.grpc_server import GrpcFrontEnd
from otel_logging.receiver.http_server import HttpFrontEnd
from otel_logging.receiver.limits import NewAppLimiter
from otel_logging.receiver.metrics import (
    RECORDS_RECEIVED,
    RECORDS_REFUSED,
    RECORDS_REJECTED,
    RECORDS_WRITTEN,
    REQUESTS,
    ServiceMetrics,
)
from otel_logging.record import Record
from otel_logging.record.native import native_grpc_server
from otel_logging.sinks import SinkError
from otel_logging.sinks.files import FileSink
from tests.integration.test_receiver import make_request


def counters(metrics: ServiceMetrics) -> dict[str, int]:
    """Every non-zero request and record counter, as ``requests{outcome=ok,transport=grpc}: 1``."""
    found: dict[str, int] = {}
    for line in metrics.render().splitlines():
        if line.startswith("#") or not line.startswith(("otel_logging_requests", "otel_logging_records")):
            continue
        sample, value = line.rsplit(" ", 1)
        if int(value):
            short = sample.removeprefix("otel_logging_").replace("_total", "").replace('"', "")
            found[short] = int(value)
    return found


@pytest.mark.parametrize(
    ("accepted", "rejected", "expected"),
    [
        (3, 0, {"requests{outcome=ok,transport=grpc}": 1, "records_received{transport=grpc}": 3}),
        (
            2,
            1,
            {
                "requests{outcome=partial,transport=grpc}": 1,
                "records_received{transport=grpc}": 3,
                "records_rejected{transport=grpc}": 1,
            },
        ),
    ],
)
def test_an_answered_request_counts_its_records(accepted: int, rejected: int, expected: dict[str, int]) -> None:
    metrics = ServiceMetrics()
    with metrics.start_request("grpc") as report:
        report.accepted(accepted, rejected)
    assert counters(metrics) == {**expected, "records_written{transport=grpc}": accepted}


@pytest.mark.parametrize("failure", list(Failure))
def test_a_refused_request_is_counted_by_its_reason(failure: Failure) -> None:
    metrics = ServiceMetrics()
    with metrics.start_request("http") as report:
        report.refused(failure)
    assert counters(metrics) == {f"requests{{outcome={failure.name.lower()},transport=http}}": 1}


def test_a_request_left_without_an_outcome_counts_as_internal() -> None:
    metrics = ServiceMetrics()
    with pytest.raises(ZeroDivisionError), metrics.start_request("grpc"):
        1 / 0  # noqa: B018 - a bug in a front end
    assert counters(metrics) == {"requests{outcome=internal,transport=grpc}": 1}


def test_a_request_cannot_be_counted_twice() -> None:
    metrics = ServiceMetrics()
    with metrics.start_request("grpc") as report:
        report.refused(Failure.MALFORMED)
        with pytest.raises(RuntimeError, match="already counted"):
            report.accepted(1)
    assert counters(metrics) == {"requests{outcome=malformed,transport=grpc}": 1}


@pytest.mark.parametrize("use_native", [True, False])
def test_the_export_paths_own_counts_inside_a_request_are_not_added_again(tmp_path: Path, use_native: bool) -> None:
    metrics = ServiceMetrics()
    exporter = LogsExporter([FileSink(tmp_path)], metrics, use_native=use_native)
    request = make_request("svc", ["a", "b"])
    request.resource_logs[0].scope_logs[0].log_records[1].trace_id = b"short"
    with metrics.start_request("grpc") as report:
        outcome = exporter.export_protobuf(request.SerializeToString(), "grpc")
        report.accepted(outcome.accepted, outcome.rejected)
    assert counters(metrics) == {
        "requests{outcome=partial,transport=grpc}": 1,
        "records_received{transport=grpc}": 2,
        "records_written{transport=grpc}": 1,
        "records_rejected{transport=grpc}": 1,
    }


def test_records_of_a_request_refused_after_decoding_are_refused_with_it(tmp_path: Path) -> None:
    metrics = ServiceMetrics()
    exporter = LogsExporter([FileSink(tmp_path)], metrics, new_app_limiter=NewAppLimiter(per_minute=0))
    with metrics.start_request("http") as report:
        with pytest.raises(ExportError) as info:
            exporter.export_protobuf(make_request("new-app", ["a", "b", "c"]).SerializeToString(), "http")
        report.refused(info.value.failure)
    assert counters(metrics) == {
        "requests{outcome=rate_limited,transport=http}": 1,
        "records_received{transport=http}": 3,
        "records_refused{outcome=rate_limited,transport=http}": 3,
    }


def test_outside_a_request_the_counters_are_added_as_given() -> None:
    metrics = ServiceMetrics()
    metrics.add(REQUESTS, transport="grpc", outcome="ok")
    for name in (RECORDS_RECEIVED, RECORDS_WRITTEN, RECORDS_REJECTED, RECORDS_REFUSED):
        metrics.add(name, 2)
    assert metrics.get(REQUESTS) == 1 and metrics.get(RECORDS_REFUSED) == 2


class _BrokenSink:
    """A sink that cannot take records (SinkError: retry later) or fails with a bug."""

    name = "broken"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def write(self, by_service: dict[str, list[Record]]) -> None:
        raise self.error

    def close(self) -> None:
        pass


GRPC_FRONT_ENDS = [GrpcFrontEnd] + ([NativeGrpcFrontEnd] if native_grpc_server() is not None else [])


@pytest.fixture(params=GRPC_FRONT_ENDS, ids=[f.transport for f in GRPC_FRONT_ENDS])
def grpc_front_end_type(request: pytest.FixtureRequest) -> type[GrpcFrontEnd | NativeGrpcFrontEnd]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def front_ends(
    request: pytest.FixtureRequest, grpc_front_end_type: type[GrpcFrontEnd | NativeGrpcFrontEnd]
) -> Iterator[tuple[ServiceMetrics, GrpcFrontEnd | NativeGrpcFrontEnd, HttpFrontEnd]]:
    metrics = ServiceMetrics()
    exporter = LogsExporter([_BrokenSink(request.param)], metrics)
    grpc_front = grpc_front_end_type(exporter, "127.0.0.1", 0, max_request_bytes=1 << 20, workers=2)
    http_front = HttpFrontEnd(exporter, metrics, "127.0.0.1", 0, max_request_bytes=1 << 20)
    grpc_front.start()
    http_front.start()
    yield metrics, grpc_front, http_front
    http_front.stop(5)
    grpc_front.stop(5)


def _send_both(
    grpc_front: GrpcFrontEnd | NativeGrpcFrontEnd, http_front: HttpFrontEnd
) -> tuple[grpc.StatusCode, int | str]:
    request = make_request("svc", ["a", "b"])
    with grpc.insecure_channel(f"127.0.0.1:{grpc_front.port}") as channel, pytest.raises(grpc.RpcError) as info:
        LogsServiceStub(channel).Export(request, timeout=10)
    conn = http.client.HTTPConnection("127.0.0.1", http_front.port, timeout=10)
    try:
        conn.request("POST", "/v1/logs", request.SerializeToString(), {"Content-Type": "application/x-protobuf"})
        status: int | str = conn.getresponse().status
    except http.client.RemoteDisconnected:
        status = "disconnected"
    finally:
        conn.close()
    return info.value.code(), status


@pytest.mark.parametrize(
    ("front_ends", "replies", "outcome"),
    [
        (SinkError("disk full"), (grpc.StatusCode.UNAVAILABLE, 503), "unavailable"),
        (ZeroDivisionError("a bug"), (grpc.StatusCode.UNKNOWN, "disconnected"), "internal"),
    ],
    indirect=["front_ends"],
    ids=["a sink that cannot take records", "an unexpected error"],
)
def test_a_failing_export_counts_its_outcome_on_both_transports(
    front_ends: tuple[ServiceMetrics, GrpcFrontEnd | NativeGrpcFrontEnd, HttpFrontEnd],
    replies: tuple[object, object],
    outcome: str,
) -> None:
    metrics, grpc_front, http_front = front_ends
    assert _send_both(grpc_front, http_front) == replies
    assert counters(metrics) == {
        f"{name}{{{labels}transport={transport}}}": value
        for transport in ("grpc", "http")
        for name, labels, value in [
            ("requests", f"outcome={outcome},", 1),
            ("records_received", "", 2),
            ("records_refused", f"outcome={outcome},", 2),
        ]
    }
