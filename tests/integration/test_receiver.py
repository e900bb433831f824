"""The central service over real OTLP/gRPC and OTLP/HTTP connections."""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import threading
from pathlib import Path

import grpc
import pytest
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.support.procs import ServeProcess, count_lines, read_jsonl, start_serve, wait_for

pytestmark = pytest.mark.integration


def make_request(service: str, bodies: list[str], **record_fields: object) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    sl = rl.scope_logs.add()
    sl.scope.name = "test.scope"
    for body in bodies:
        sl.log_records.append(
            LogRecord(body=AnyValue(string_value=body), time_unix_nano=1_700_000_000_000_000_000, **record_fields)
        )
    return req


def post(serve: ServeProcess, body: bytes, headers: dict[str, str], path: str = "/v1/logs") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def grpc_stub(serve: ServeProcess) -> LogsServiceStub:
    return LogsServiceStub(grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}"))


def test_grpc_export_writes_per_app_files_and_answers_after_the_write(serve: ServeProcess) -> None:
    stub = grpc_stub(serve)
    req = make_request("alpha", ["a1", "a2"])
    req.resource_logs.extend(make_request("beta", ["b1"]).resource_logs)
    response = stub.Export(req, timeout=10)
    assert not response.HasField("partial_success")
    # no waiting: the reply came after the write
    assert [r["body"] for r in read_jsonl(serve.app_file("alpha"))] == ["a1", "a2"]
    assert [r["body"] for r in read_jsonl(serve.app_file("beta"))] == ["b1"]
    assert read_jsonl(serve.app_file("alpha"))[0]["logger"] == "test.scope"


def test_grpc_gzip_compression_is_accepted(serve: ServeProcess) -> None:
    grpc_stub(serve).Export(make_request("gz", ["x"]), timeout=10, compression=grpc.Compression.Gzip)
    assert [r["body"] for r in read_jsonl(serve.app_file("gz"))] == ["x"]


def test_partial_success_rejects_only_the_bad_record(serve: ServeProcess) -> None:
    req = make_request("partial", ["good1"])
    records = req.resource_logs[0].scope_logs[0].log_records
    records.append(LogRecord(body=AnyValue(string_value="bad"), trace_id=b"short"))
    records.append(LogRecord(body=AnyValue(string_value="good2")))
    response = grpc_stub(serve).Export(req, timeout=10)
    assert response.partial_success.rejected_log_records == 1
    assert "trace_id has 5 bytes" in response.partial_success.error_message
    assert [r["body"] for r in read_jsonl(serve.app_file("partial"))] == ["good1", "good2"]

    status, body = post(serve, req.SerializeToString(), {"Content-Type": "application/x-protobuf"})
    assert status == 200
    assert ExportLogsServiceResponse.FromString(body).partial_success.rejected_log_records == 1


def test_malformed_grpc_payload_is_invalid_argument(serve: ServeProcess) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}")
    raw = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff\xff garbage", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed OTLP protobuf" in info.value.details()
    grpc_stub(serve).Export(make_request("after-garbage", ["ok"]), timeout=10)  # the service is fine
    assert read_jsonl(serve.app_file("after-garbage"))


def test_http_protobuf_json_gzip_and_chunked(serve: ServeProcess) -> None:
    proto = make_request("http-app", ["proto"]).SerializeToString()
    assert post(serve, proto, {"Content-Type": "application/x-protobuf"})[0] == 200
    assert (
        post(serve, gzip.compress(proto), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})[0]
        == 200
    )
    otlp_json = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "http-app"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "json.scope"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "severityNumber": 9,
                                "severityText": "INFO",
                                "body": {"stringValue": "json"},
                                "attributes": [{"key": "n", "value": {"intValue": "5"}}],
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, body = post(serve, json.dumps(otlp_json).encode(), {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {}

    # A chunked body without Content-Length, as the Node.js OTLP exporters send it.
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=30)
    conn.putrequest("POST", "/v1/logs")
    conn.putheader("Content-Type", "application/x-protobuf")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunked = make_request("http-app", ["chunked"]).SerializeToString()
    for part in (chunked[:7], chunked[7:]):
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 200
    conn.close()

    records = read_jsonl(serve.app_file("http-app"))
    assert [r["body"] for r in records] == ["proto", "proto", "json", "chunked"]
    json_record = records[2]
    assert json_record["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert json_record["span_id"] == "eee19b7ec3c1b174"
    assert json_record["attributes"] == {"n": 5} and json_record["logger"] == "json.scope"


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\xff\xff garbage", {"Content-Type": "application/x-protobuf"}, 400, "malformed OTLP protobuf"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "malformed OTLP JSON"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "top level must be an object"),
        (b"hello", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"not gzip", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 400, "bad gzip"),
        (b"x", {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415, "Content-Encoding"),
    ],
)
def test_bad_http_requests_get_a_status_and_a_reason(
    serve: ServeProcess, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    got_status, got_body = post(serve, body, headers)
    assert got_status == status
    if headers["Content-Type"] == "application/json":
        assert message in json.loads(got_body)["message"]
    else:
        assert message in status_pb2.Status.FromString(got_body).message


def test_oversized_requests_are_refused_with_the_proper_status(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs", "--max-request-bytes", "2KB")
    try:
        big = make_request("big", ["x" * 5000])
        with pytest.raises(grpc.RpcError) as info:
            grpc_stub(serve).Export(big, timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status, _ = post(serve, big.SerializeToString(), {"Content-Type": "application/x-protobuf"})
        assert status == 413
        bomb = gzip.compress(make_request("big", ["y" * 100_000]).SerializeToString())
        assert len(bomb) < 2048
        status, _ = post(serve, bomb, {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
        assert status == 413
        grpc_stub(serve).Export(make_request("small", ["fits"]), timeout=10)
        assert not serve.app_file("big").exists() and read_jsonl(serve.app_file("small"))
    finally:
        serve.stop()


def test_hostile_service_names_stay_inside_the_log_dir(serve: ServeProcess) -> None:
    names = ["../escape", "/etc/passwd", "a\0b", "x" * 10_000, "", ".hidden", "a/b", "a_b", "..", "café"]
    stub = grpc_stub(serve)
    for name in names:
        stub.Export(make_request(name, [f"from {name[:20]!r}"]), timeout=10)
    files = sorted(serve.log_dir.iterdir())
    assert len(files) == len(names)  # one distinct file per distinct name, none elsewhere
    assert all(p.parent == serve.log_dir and p.suffix == ".jsonl" for p in files)
    assert not (serve.log_dir.parent / "escape.jsonl").exists()
    services = {r["service"] for p in files for r in read_jsonl(p)}
    assert services == {*names[:4], "unknown_service", *names[5:]}  # the record keeps the real name


def test_health_and_metrics(serve: ServeProcess) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}")
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b"ok\n"
    req = make_request("metered", ["a", "b", "c"])
    req.resource_logs[0].scope_logs[0].log_records.append(LogRecord(span_id=b"1"))
    grpc_stub(serve).Export(req, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    assert "otel_logging_records_received_total 4" in text
    assert "otel_logging_records_written_total 3" in text
    assert "otel_logging_records_rejected_total 1" in text
    assert 'otel_logging_requests_total{outcome="partial",transport="grpc"} 1' in text


def test_sigterm_drains_in_flight_requests_and_exits_zero(serve: ServeProcess) -> None:
    acked = 0
    errors: list[grpc.RpcError] = []
    stop = threading.Event()

    def sender(worker: int) -> None:
        nonlocal acked
        stub = grpc_stub(serve)
        i = 0
        while not stop.is_set():
            try:
                stub.Export(make_request("drain", [f"{worker}-{i}-{j}" for j in range(200)]), timeout=30)
            except grpc.RpcError as exc:
                errors.append(exc)
                return
            acked += 200
            i += 1

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: acked >= 5000, timeout=60, what="traffic before SIGTERM")
    assert serve.stop(signal.SIGTERM) == 0
    stop.set()
    for t in threads:
        t.join(30)
    assert "stopped cleanly" in serve.stderr()
    written = count_lines(serve.app_file("drain"))
    assert written >= acked  # everything acknowledged is in the file
    assert written - acked <= 4 * 200  # at most the requests whose reply was cut off
    bodies = [r["body"] for r in read_jsonl(serve.app_file("drain"))]
    assert len(bodies) == len(set(bodies))
    # Requests that reach a stopping server get a retryable status (OTLP clients retry both).
    retryable = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert {e.code() for e in errors} <= retryable, [(e.code(), e.details()) for e in errors]


def test_rotation_flags_on_the_command_line(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs", "--rotate-bytes", "4KB", "--retain-count", "3", "--compress")
    try:
        stub = grpc_stub(serve)
        for i in range(40):
            stub.Export(make_request("rotating", [f"{i:04d}-" + "x" * 200]), timeout=10)

        def rotated() -> list[Path]:
            return sorted(p for p in serve.log_dir.iterdir() if p.name.endswith(".jsonl.gz"))

        wait_for(lambda: len(rotated()) == 3, timeout=20, what="three compressed rotated files")
    finally:
        assert serve.stop() == 0
    kept = [r["body"][:4] for p in rotated() for r in read_jsonl_gz(p)]
    kept += [r["body"][:4] for r in read_jsonl(serve.app_file("rotating"))]
    assert kept == sorted(kept) and kept[-1] == "0039"


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [json.loads(line) for line in f]
