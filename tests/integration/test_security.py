"""Authentication, TLS, service-side redaction and limits, over real connections."""

from __future__ import annotations

import http.client
import signal
import ssl
import textwrap
from pathlib import Path

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

from otel_logging.record.native import native_grpc_server
from tests.integration.test_receiver import make_request
from tests.support.certs import Pki, make_pki
from tests.support.procs import ServeProcess, child_env, read_jsonl, run_app, start_serve, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# one token per line\nfirst-token\nsecond-token\n")
    return path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def stub(port: int) -> LogsServiceStub:
    return LogsServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def http_post(port: int, body: bytes, headers: dict[str, str], context: ssl.SSLContext | None = None) -> int:
    conn = (
        http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
        if context
        else http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    )
    try:
        conn.request("POST", "/v1/logs", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_bearer_tokens_on_grpc_and_http_and_rotation_on_sighup(tmp_path: Path, token_file: Path) -> None:
    serve = start_serve(tmp_path / "logs", "--auth-token-file", str(token_file))
    try:
        request = make_request("guarded", ["secret-ok"])
        for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", "Basic Zmlyc3Q="),)]:
            with pytest.raises(grpc.RpcError) as info:
                stub(serve.grpc_port).Export(request, metadata=metadata, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        body = request.SerializeToString()
        assert http_post(serve.http_port, body, {"Content-Type": "application/x-protobuf"}) == 401
        assert (
            http_post(serve.http_port, body, {"Content-Type": "application/x-protobuf", "Authorization": "Bearer nope"})
            == 401
        )
        assert not serve.app_file("guarded").exists()  # nothing written without a valid token

        stub(serve.grpc_port).Export(request, metadata=(("authorization", "Bearer first-token"),), timeout=10)
        headers = {"Content-Type": "application/x-protobuf", "Authorization": "Bearer second-token"}
        assert http_post(serve.http_port, body, headers) == 200
        assert len(read_jsonl(serve.app_file("guarded"))) == 2

        # An app sends its token through headers= (or OTEL_EXPORTER_OTLP_HEADERS).
        result = run_app(
            "import logging, sys, otel_logging\n"
            "h = otel_logging.setup('token-app', sys.argv[1])\n"
            "logging.getLogger('a').info('with token')\nassert h.force_flush(30)\n",
            serve.grpc_endpoint,
            env=child_env(OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20first-token"),
        )
        assert result.returncode == 0, result.stderr
        assert read_jsonl(serve.app_file("token-app"))[0]["body"] == "with token"

        # Rotation without restart: replace the file, SIGHUP, the old token stops working.
        token_file.write_text("rotated-token\n")
        serve.proc.send_signal(signal.SIGHUP)

        def old_token_refused() -> bool:
            try:
                stub(serve.grpc_port).Export(request, metadata=(("authorization", "Bearer first-token"),), timeout=10)
            except grpc.RpcError as exc:
                return exc.code() == grpc.StatusCode.UNAUTHENTICATED
            return False

        wait_for(old_token_refused, timeout=15, what="the rotated token file to take effect")
        stub(serve.grpc_port).Export(request, metadata=(("authorization", "Bearer rotated-token"),), timeout=10)
        assert serve.proc.poll() is None
    finally:
        assert serve.stop() == 0


NOT_BUILT = pytest.mark.skipif(native_grpc_server() is None, reason="otel_logging_native is not built")
# The same TLS on both gRPC servers.
TRANSPORTS = pytest.mark.parametrize("transport", [pytest.param("native", marks=NOT_BUILT), "grpcio"])


def start_tls_serve(tmp_path: Path, pki: Pki, transport: str, *extra: str) -> ServeProcess:
    """A serve with the test CA's server certificate on ``transport`` (``extra``: more flags)."""
    tls = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    return start_serve(tmp_path / "logs", *tls, "--grpc-server", transport, *extra)


@TRANSPORTS
def test_tls_on_grpc_and_http_and_an_app_that_verifies_the_server(tmp_path: Path, pki: Pki, transport: str) -> None:
    serve = start_tls_serve(tmp_path, pki, transport)
    try:
        request = make_request("tls-app", ["over tls"])
        with pytest.raises(grpc.RpcError):  # plaintext against a TLS port fails
            stub(serve.grpc_port).Export(request, timeout=5)
        creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
        LogsServiceStub(grpc.secure_channel(f"127.0.0.1:{serve.grpc_port}", creds)).Export(request, timeout=10)

        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        assert (
            http_post(serve.http_port, request.SerializeToString(), {"Content-Type": "application/x-protobuf"}, context)
            == 200
        )
        untrusting = ssl.create_default_context()  # system roots: our test CA is unknown
        with pytest.raises(ssl.SSLError):
            http_post(serve.http_port, b"", {"Content-Type": "application/x-protobuf"}, untrusting)

        code = textwrap.dedent(
            """
            import logging, sys, otel_logging
            h = otel_logging.setup('tls-app', sys.argv[1], certificate_file=sys.argv[2])
            logging.getLogger('a').info('verified')
            assert h.force_flush(30)
            """
        )
        result = run_app(code, f"https://127.0.0.1:{serve.grpc_port}", str(pki.ca_cert))
        assert result.returncode == 0, result.stderr
        assert [r["body"] for r in read_jsonl(serve.app_file("tls-app"))] == ["over tls", "over tls", "verified"]
    finally:
        assert serve.stop() == 0


@TRANSPORTS
def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, pki: Pki, transport: str) -> None:
    serve = start_tls_serve(tmp_path, pki, transport, "--tls-client-ca", str(pki.ca_cert))
    try:
        request = make_request("mtls-app", ["x"])
        anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
        with pytest.raises(grpc.RpcError):
            LogsServiceStub(grpc.secure_channel(f"127.0.0.1:{serve.grpc_port}", anonymous)).Export(request, timeout=5)
        assert not serve.app_file("mtls-app").exists()
        env = child_env(
            OTEL_EXPORTER_OTLP_CERTIFICATE=str(pki.ca_cert),
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(pki.client_cert),
            OTEL_EXPORTER_OTLP_CLIENT_KEY=str(pki.client_key),
        )
        result = run_app(
            "import logging, sys, otel_logging\nh = otel_logging.setup('mtls-app', sys.argv[1])\n"
            "logging.getLogger('a').info('mutual')\nassert h.force_flush(30)\n",
            f"https://127.0.0.1:{serve.grpc_port}",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert [r["body"] for r in read_jsonl(serve.app_file("mtls-app"))] == ["mutual"]
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        assert (
            http_post(serve.http_port, request.SerializeToString(), {"Content-Type": "application/x-protobuf"}, context)
            == 200
        )
    finally:
        assert serve.stop() == 0


def test_service_side_redaction_and_truncation(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{"keys": ["customer_ref"], "patterns": ["ORD-\\\\d{6}"]}')
    serve = start_serve(tmp_path / "logs", "--redact", "--redact-rules", str(rules), "--max-attribute-length", "20")
    try:
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

        request = make_request("redacted", ["login password=hunter2 for ORD-123456 card 4111 1111 1111 1111"])
        log = request.resource_logs[0].scope_logs[0].log_records[0]
        log.attributes.extend(
            [
                KeyValue(key="api_key", value=AnyValue(string_value="sk_live_123")),
                KeyValue(key="customer_ref", value=AnyValue(string_value="C-9")),
                KeyValue(key="note", value=AnyValue(string_value="n" * 100)),
                KeyValue(key="count", value=AnyValue(int_value=3)),
            ]
        )
        stub(serve.grpc_port).Export(request, timeout=10)
        (record,) = read_jsonl(serve.app_file("redacted"))
        assert "hunter2" not in record["body"] and "123456" not in record["body"] and "4111" not in record["body"]
        assert record["attributes"]["api_key"] == "[REDACTED]"
        assert record["attributes"]["customer_ref"] == "[REDACTED]"
        assert record["attributes"]["note"] == "n" * 20
        assert record["attributes"]["count"] == 3
        assert record["attributes"]["otel_logging.truncated"] is True
    finally:
        serve.stop()


def test_request_limits_answer_with_the_proper_status_and_a_retry_hint(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs", "--max-records-per-request", "10", "--max-new-apps-per-minute", "2")
    try:
        with pytest.raises(grpc.RpcError) as info:
            stub(serve.grpc_port).Export(make_request("many", [str(i) for i in range(11)]), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 10" in info.value.details()
        assert not serve.app_file("many").exists()

        stub(serve.grpc_port).Export(make_request("app-1", ["a"]), timeout=10)
        stub(serve.grpc_port).Export(make_request("app-2", ["b"]), timeout=10)
        stub(serve.grpc_port).Export(make_request("app-1", ["known apps keep working"]), timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            stub(serve.grpc_port).Export(make_request("app-3", ["c"]), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(info.value.trailing_metadata())
        retry = RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert 1 <= retry.retry_delay.seconds <= 61
        conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=10)
        conn.request(
            "POST",
            "/v1/logs",
            body=make_request("app-4", ["d"]).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 429 and 1 <= int(response.getheader("Retry-After")) <= 61
        assert not serve.app_file("app-3").exists() and not serve.app_file("app-4").exists()
        assert len(read_jsonl(serve.app_file("app-1"))) == 2
    finally:
        serve.stop()


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(AssertionError, match="needs both --tls-cert and --tls-key"):
        start_serve(tmp_path / "logs", "--tls-cert", str(pki.server_cert))
