"""The central service over real OTLP/gRPC and OTLP/HTTP connections."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import threading
from collections.abc import Callable
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
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.support import otlp
from tests.support.procs import ServeProcess, count_lines, read_jsonl, start_serve, wait_for

pytestmark = pytest.mark.integration


def make_request(service: str, bodies: list[str], **record_fields: object) -> ExportLogsServiceRequest:
    records = [otlp.log_record(body, time_unix_nano=1_700_000_000_000_000_000, **record_fields) for body in bodies]
    return otlp.request(service, records, scope="test.scope")


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
    assert 'otel_logging_records_received_total{transport="grpc"} 4' in text
    assert 'otel_logging_records_written_total{transport="grpc"} 3' in text
    assert 'otel_logging_records_rejected_total{transport="grpc"} 1' in text
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


# --- request metrics: every export request is counted once, with its outcome, on both transports ---

MetricKey = tuple[str, tuple[tuple[str, str], ...]]
_SAMPLE = re.compile(r"^(otel_logging_(?:requests|records_\w+)_total)(?:\{(.*)\})? (\S+)$")


def request_metrics(serve: ServeProcess, token: str | None = None) -> dict[MetricKey, float]:
    """The request and record counters on ``/metrics``, by (name, labels)."""
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, text
    finally:
        conn.close()
    samples: dict[MetricKey, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = tuple(sorted(tuple(pair.split("=", 1)) for pair in (match.group(2) or "").split(",") if pair))
            samples[(match.group(1), tuple((k, v.strip('"')) for k, v in labels))] = float(match.group(3))
    return samples


def counted(before: dict[MetricKey, float], after: dict[MetricKey, float]) -> dict[str, float]:
    """What one request added to the counters, as ``requests{outcome=ok,transport=grpc}: 1``."""
    changes: dict[str, float] = {}
    for key in sorted(set(before) | set(after)):
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            name, labels = key
            short = name.removeprefix("otel_logging_").removesuffix("_total")
            changes[f"{short}{{{','.join(f'{k}={v}' for k, v in labels)}}}"] = change
    return changes


def test_every_request_is_counted_once_with_its_outcome_on_both_transports(tmp_path: Path) -> None:
    """ok, partial, malformed, unauthenticated, too many records, too large, unsupported, rate limited."""
    tokens = tmp_path / "tokens"
    tokens.write_text("metrics-token\n")
    serve = start_serve(
        tmp_path / "logs",
        *("--auth-token-file", str(tokens)),
        *("--max-records-per-request", "10", "--max-request-bytes", "4KB", "--max-new-apps-per-minute", "1"),
    )
    auth = (("authorization", "Bearer metrics-token"),)
    bearer = {"Authorization": "Bearer metrics-token"}
    proto = {"Content-Type": "application/x-protobuf", **bearer}
    json_type = {"Content-Type": "application/json", **bearer}
    channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}")
    stub = LogsServiceStub(channel)
    raw = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")

    partial = make_request("metered", ["good1", "bad", "good2"])
    partial.resource_logs[0].scope_logs[0].log_records[1].trace_id = b"short"
    too_many = make_request("metered", [str(i) for i in range(11)])
    too_large = make_request("metered", ["x" * 6000])  # over 4 KiB, under twice that: gRPC lets it through
    json_partial = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "metered"}}]},
                "scopeLogs": [{"logRecords": [{"body": {"stringValue": "j1"}}, {"traceId": "not-hex"}]}],
            }
        ]
    }

    def grpc_call(request: ExportLogsServiceRequest, metadata: tuple[tuple[str, str], ...] = auth) -> str:
        try:
            response = stub.Export(request, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name
        return "partial" if response.partial_success.rejected_log_records else "OK"

    def grpc_raw(payload: bytes) -> str:
        try:
            raw(payload, metadata=auth, timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name
        return "OK"

    def http_call(body: bytes, headers: dict[str, str]) -> str:
        status, reply = post(serve, body, headers)
        if status == 200 and headers.get("Content-Type") == "application/json":
            return "partial" if json.loads(reply).get("partialSuccess") else "200"
        if status == 200:
            return "partial" if ExportLogsServiceResponse.FromString(reply).HasField("partial_success") else "200"
        return str(status)

    scenarios: dict[str, Callable[[], str]] = {
        # the first app is admitted; any other new app in the same minute is rate limited
        "grpc ok": lambda: grpc_call(make_request("metered", ["a", "b"])),
        "grpc rate limited": lambda: grpc_call(make_request("second-app", ["c"])),
        "http rate limited": lambda: http_call(make_request("third-app", ["d"]).SerializeToString(), proto),
        "grpc partial": lambda: grpc_call(partial),
        "grpc malformed": lambda: grpc_raw(b"\xff\xff\xff\xff garbage"),
        "grpc no token": lambda: grpc_call(make_request("metered", ["e"]), ()),
        "grpc wrong token": lambda: grpc_call(make_request("metered", ["e"]), (("authorization", "Bearer no"),)),
        "grpc too many records": lambda: grpc_call(too_many),
        "grpc too large": lambda: grpc_call(too_large),
        "http ok": lambda: http_call(make_request("metered", ["f"]).SerializeToString(), proto),
        "http partial": lambda: http_call(partial.SerializeToString(), proto),
        "http json partial": lambda: http_call(json.dumps(json_partial).encode(), json_type),
        "http malformed": lambda: http_call(b"\xff\xff garbage", proto),
        "http malformed json": lambda: http_call(b"{not json", json_type),
        "http bad gzip": lambda: http_call(b"not gzip", {**proto, "Content-Encoding": "gzip"}),
        "http no token": lambda: http_call(b"", {"Content-Type": "application/x-protobuf"}),
        "http too many records": lambda: http_call(too_many.SerializeToString(), proto),
        "http too large": lambda: http_call(too_large.SerializeToString(), proto),
        "http gzip bomb": lambda: http_call(
            gzip.compress(make_request("metered", ["y" * 100_000]).SerializeToString()),
            {**proto, "Content-Encoding": "gzip"},
        ),
        "http unsupported type": lambda: http_call(b"hello", {**bearer, "Content-Type": "text/plain"}),
        "http unsupported encoding": lambda: http_call(b"x", {**proto, "Content-Encoding": "br"}),
    }
    try:
        replies: dict[str, str] = {}
        observed: dict[str, dict[str, float]] = {}
        for name, send in scenarios.items():
            before = request_metrics(serve, "metrics-token")
            replies[name] = send()
            observed[name] = counted(before, request_metrics(serve, "metrics-token"))
    finally:
        channel.close()
        serve.stop()

    assert replies == {
        "grpc ok": "OK",
        "grpc rate limited": "RESOURCE_EXHAUSTED",
        "http rate limited": "429",
        "grpc partial": "partial",
        "grpc malformed": "INVALID_ARGUMENT",
        "grpc no token": "UNAUTHENTICATED",
        "grpc wrong token": "UNAUTHENTICATED",
        "grpc too many records": "RESOURCE_EXHAUSTED",
        "grpc too large": "RESOURCE_EXHAUSTED",
        "http ok": "200",
        "http partial": "partial",
        "http json partial": "partial",
        "http malformed": "400",
        "http malformed json": "400",
        "http bad gzip": "400",
        "http no token": "401",
        "http too many records": "413",
        "http too large": "413",
        "http gzip bomb": "413",
        "http unsupported type": "415",
        "http unsupported encoding": "415",
    }

    # Each request is counted exactly once, whatever became of it.
    times_counted = {
        name: sum(v for k, v in changes.items() if k.startswith("requests{")) for name, changes in observed.items()
    }
    assert times_counted == dict.fromkeys(scenarios, 1)

    def refused(transport: str, outcome: str, requests: int = 1) -> dict[str, float]:
        return {f"requests{{outcome={outcome},transport={transport}}}": requests}

    def took(transport: str, outcome: str, written: int, rejected: int = 0) -> dict[str, float]:
        changes = {
            f"records_received{{transport={transport}}}": written + rejected,
            f"records_written{{transport={transport}}}": written,
            f"requests{{outcome={outcome},transport={transport}}}": 1,
        }
        if rejected:
            changes[f"records_rejected{{transport={transport}}}"] = rejected
        return dict(sorted(changes.items()))

    assert observed == {
        "grpc ok": took("grpc", "ok", 2),
        "grpc rate limited": {
            "records_received{transport=grpc}": 1,
            "records_refused{outcome=rate_limited,transport=grpc}": 1,
            **refused("grpc", "rate_limited"),
        },
        "http rate limited": {
            "records_received{transport=http}": 1,
            "records_refused{outcome=rate_limited,transport=http}": 1,
            **refused("http", "rate_limited"),
        },
        "grpc partial": took("grpc", "partial", 2, 1),
        "grpc malformed": refused("grpc", "malformed"),
        "grpc no token": refused("grpc", "unauthenticated"),
        "grpc wrong token": refused("grpc", "unauthenticated"),
        "grpc too many records": refused("grpc", "too_large"),
        "grpc too large": refused("grpc", "too_large"),
        "http ok": took("http", "ok", 1),
        "http partial": took("http", "partial", 2, 1),
        "http json partial": took("http", "partial", 1, 1),
        "http malformed": refused("http", "malformed"),
        "http malformed json": refused("http", "malformed"),
        "http bad gzip": refused("http", "malformed"),
        "http no token": refused("http", "unauthenticated"),
        "http too many records": refused("http", "too_large"),
        "http too large": refused("http", "too_large"),
        "http gzip bomb": refused("http", "too_large"),
        "http unsupported type": refused("http", "unsupported_media"),
        "http unsupported encoding": refused("http", "unsupported_media"),
    }
