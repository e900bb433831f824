"""The native OTLP/gRPC transport answers every request as grpcio's server (its reference) does.

Two real ``otel-logging serve`` processes, ``--grpc-server native`` and ``--grpc-server grpcio``, with the same
limits and tokens, get the same requests; each answer (status code, message, retry trailer, response) and each
per-app file must be the same on both.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from otel_logging.record.native import native_grpc_server
from tests.integration.test_receiver import make_request
from tests.support.certs import make_pki
from tests.support.procs import ServeProcess, read_jsonl, start_serve, wait_for

pytestmark = pytest.mark.skipif(native_grpc_server() is None, reason="otel_logging_native is not built")

TOKEN = (("authorization", "Bearer first-token"),)
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServeProcess]]:
    tmp = tmp_path_factory.mktemp("transports")
    tokens = tmp / "tokens"
    tokens.write_text("first-token\n")
    started: dict[str, ServeProcess] = {}
    try:
        for transport in ("native", "grpcio"):
            started[transport] = start_serve(
                tmp / transport,
                "--grpc-server",
                transport,
                "--auth-token-file",
                str(tokens),
                "--max-request-bytes",
                "4KB",
                "--max-records-per-request",
                "10",
                "--max-new-apps-per-minute",
                "3",
            )
        yield started
    finally:
        for serve in started.values():
            serve.stop()


def call(serve: ServeProcess, payload: bytes, **kwargs: object) -> tuple[str, str, int | None, bytes | None]:
    """(status, message, RetryInfo seconds, response bytes) of one Export of raw ``payload``."""
    with grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT)
        try:
            response = export(payload, timeout=10, **kwargs)
        except grpc.RpcError as exc:
            trailers = dict(exc.trailing_metadata() or ())
            retry = trailers.get("google.rpc.retryinfo-bin")
            seconds = RetryInfo.FromString(retry).retry_delay.seconds if retry else None
            return exc.code().name, exc.details() or "", seconds, None
        return "OK", "", None, response


CASES: dict[str, tuple[bytes, dict[str, object]]] = {
    "accepted": (make_request("app-1", ["one", "two"]).SerializeToString(), {"metadata": TOKEN}),
    "gzip": (
        make_request("app-1", ["zipped"]).SerializeToString(),
        {"metadata": TOKEN, "compression": grpc.Compression.Gzip},
    ),
    "no token": (make_request("app-1", ["x"]).SerializeToString(), {}),
    "wrong token": (make_request("app-1", ["x"]).SerializeToString(), {"metadata": (("authorization", "Bearer no"),)}),
    "not protobuf": (b"\xff\xff\xff not protobuf", {"metadata": TOKEN}),
    "too many records": (make_request("app-1", [str(i) for i in range(11)]).SerializeToString(), {"metadata": TOKEN}),
    "too large": (make_request("app-1", ["x" * 5000]).SerializeToString(), {"metadata": TOKEN}),
    "over gRPC's own limit": (make_request("app-1", ["x" * 10000]).SerializeToString(), {"metadata": TOKEN}),
    "a gzip bomb": (
        make_request("app-1", ["y" * 100_000]).SerializeToString(),
        {"metadata": TOKEN, "compression": grpc.Compression.Gzip},
    ),
    "new app 2": (make_request("app-2", ["b"]).SerializeToString(), {"metadata": TOKEN}),
    "new app 3": (make_request("app-3", ["c"]).SerializeToString(), {"metadata": TOKEN}),
    "new app over the limit": (make_request("app-4", ["d"]).SerializeToString(), {"metadata": TOKEN}),
}


def test_every_answer_and_every_file_is_the_same_on_both_transports(servers: dict[str, ServeProcess]) -> None:
    assert len(gzip.compress(CASES["a gzip bomb"][0])) < 4096  # small on the wire, large once inflated
    answers = {
        transport: {name: call(serve, p, **kw) for name, (p, kw) in CASES.items()}
        for transport, serve in servers.items()
    }
    native, reference = answers["native"], answers["grpcio"]
    for name in CASES:
        code, message, retry, response = native[name]
        ref_code, ref_message, ref_retry, ref_response = reference[name]
        assert code == ref_code, name
        if name not in ("over gRPC's own limit", "a gzip bomb"):  # refused inside the transport, worded its own way
            assert message == ref_message, name
        assert (retry is None) == (ref_retry is None), name
        assert response == ref_response, name
    assert native["accepted"][0] == "OK"
    assert ExportLogsServiceResponse.FromString(native["accepted"][3] or b"") == ExportLogsServiceResponse()
    assert native["no token"][0] == native["wrong token"][0] == "UNAUTHENTICATED"
    assert native["not protobuf"][0] == "INVALID_ARGUMENT"
    for refused in ("too many records", "too large", "over gRPC's own limit", "a gzip bomb", "new app over the limit"):
        assert native[refused][0] == "RESOURCE_EXHAUSTED", refused
    assert native["new app over the limit"][2] is not None and 1 <= native["new app over the limit"][2] <= 61

    def files(serve: ServeProcess) -> dict[str, list[str]]:
        return {path.stem: [r["body"] for r in read_jsonl(path)] for path in sorted(serve.log_dir.glob("*.jsonl"))}

    assert (
        files(servers["native"])
        == files(servers["grpcio"])
        == {
            "app-1": ["one", "two", "zipped"],
            "app-2": ["b"],
            "app-3": ["c"],
        }
    )


def test_health_and_unknown_methods(servers: dict[str, ServeProcess]) -> None:
    serve = servers["native"]
    with grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "opentelemetry.proto.collector.logs.v1.LogsService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Nope")(b"", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_announcement_names_the_transport_and_auto_picks_native(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs")
    try:
        wait_for(lambda: "OTLP/gRPC on" in serve.stderr_path.read_text(), timeout=30, what="the serve banner")
        banner = serve.stderr_path.read_text()
        assert f"OTLP/gRPC on 127.0.0.1:{serve.grpc_port}, " in banner and "(gRPC server: native)" in banner
    finally:
        serve.stop()


def test_concurrent_requests_from_many_threads_are_all_written_once(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs", "--grpc-server", "native", "--workers", "2")
    try:
        errors: list[BaseException] = []

        def send(worker: int) -> None:
            try:
                with grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
                    export = channel.unary_unary(EXPORT)
                    for i in range(25):
                        request = make_request(f"app-{worker % 3}", [f"{worker}-{i}-{j}" for j in range(20)])
                        export(request.SerializeToString(), timeout=30, wait_for_ready=True)
            except grpc.RpcError as exc:  # 6 callers stay within 2 workers x 4: none may be refused
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        bodies = [r["body"] for path in serve.log_dir.glob("*.jsonl") for r in read_jsonl(path)]
        assert len(bodies) == len(set(bodies)) == 6 * 25 * 20
    finally:
        serve.stop()


def test_tls_and_mutual_tls_refuse_and_accept_alike(tmp_path: Path) -> None:
    """Both transports with ``--tls-cert/--tls-key/--tls-client-ca``: a client with a certificate of the CA is
    served; one without, one trusting another CA, one with another CA's certificate, and a plaintext one are
    refused alike (the status each client sees) and write nothing."""
    pki, other = make_pki(tmp_path / "pki"), make_pki(tmp_path / "other-pki")
    servers = {
        transport: start_serve(
            tmp_path / transport,
            *("--grpc-server", transport, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)),
            *("--tls-client-ca", str(pki.ca_cert)),
        )
        for transport in ("native", "grpcio")
    }

    def credentials(ca: Path, cert: Path | None = None, key: Path | None = None) -> grpc.ChannelCredentials:
        chain = (key.read_bytes(), cert.read_bytes()) if cert and key else (None, None)
        return grpc.ssl_channel_credentials(ca.read_bytes(), private_key=chain[0], certificate_chain=chain[1])

    clients = {
        "client certificate of the CA": credentials(pki.ca_cert, pki.client_cert, pki.client_key),
        "no client certificate": credentials(pki.ca_cert),
        "another CA's client certificate": credentials(pki.ca_cert, other.client_cert, other.client_key),
        "trusting another CA": credentials(other.ca_cert, pki.client_cert, pki.client_key),
        "plaintext": None,
    }
    try:
        answers: dict[str, dict[str, str]] = {}
        for transport, serve in servers.items():
            answers[transport] = {}
            for name, creds in clients.items():
                address = f"127.0.0.1:{serve.grpc_port}"
                channel = grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address)
                with channel:
                    payload = make_request(f"app-{len(answers[transport])}", [name]).SerializeToString()
                    try:
                        channel.unary_unary(EXPORT)(payload, timeout=10)
                        answers[transport][name] = "OK"
                    except grpc.RpcError as exc:
                        answers[transport][name] = exc.code().name
        assert answers["native"] == answers["grpcio"]
        assert answers["native"]["client certificate of the CA"] == "OK"
        refused = {name: code for name, code in answers["native"].items() if name != "client certificate of the CA"}
        assert set(refused.values()) == {"UNAVAILABLE"}, refused
        for serve in servers.values():
            assert [p.name for p in serve.log_dir.glob("*.jsonl")] == ["app-0.jsonl"]
    finally:
        for serve in servers.values():
            serve.stop()
