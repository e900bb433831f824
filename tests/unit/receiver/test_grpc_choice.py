"""Which OTLP/gRPC front end the service builds (``receiver.grpc_server``), and the refusals of a wrong choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.config import ConfigError, ReceiverSettings, SecuritySettings, ServeSettings
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.grpc_native import NativeGrpcFrontEnd, grpc_front_end
from otel_logging.receiver.grpc_server import GrpcFrontEnd, TlsFiles
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record.native import native_grpc_server
from otel_logging.sinks.files import FileSink
from tests.support.certs import make_pki

needs_native = pytest.mark.skipif(native_grpc_server() is None, reason="otel_logging_native is not built")


@pytest.fixture
def exporter(tmp_path: Path) -> LogsExporter:
    return LogsExporter([FileSink(tmp_path / "logs")], ServiceMetrics())


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    pki = make_pki(tmp_path / "pki")
    return TlsFiles(pki.server_cert, pki.server_key)


def build(exporter: LogsExporter, choice: str, tls: TlsFiles | None) -> GrpcFrontEnd | NativeGrpcFrontEnd:
    front = grpc_front_end(exporter, ReceiverSettings(grpc_port=0, grpc_server=choice), None, tls)
    front.stop(0)  # bound, never started: stop releases the port and the threads
    return front


@needs_native
def test_auto_is_native_with_or_without_tls(exporter: LogsExporter, tls: TlsFiles) -> None:
    assert build(exporter, "auto", None).transport == "native"
    assert build(exporter, "auto", tls).transport == "native"
    assert build(exporter, "native", tls).transport == "native"
    assert build(exporter, "grpcio", tls).transport == "grpcio"
    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_server="native"),
        security=SecuritySettings(tls_cert=tls.cert, tls_key=tls.key),
    )
    assert settings.validate() is settings  # (it was refused while the native transport served plaintext only)


@needs_native
def test_a_key_that_does_not_fit_is_refused_before_anything_listens(exporter: LogsExporter, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    for key in (not_a_key, pki.client_key):  # garbage, and another certificate's key
        with pytest.raises(ValueError, match="cannot use the TLS certificate, key or client CA"):
            grpc_front_end(exporter, ReceiverSettings(grpc_port=0), None, TlsFiles(pki.server_cert, key))


def test_an_unknown_choice_names_the_setting_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"receiver.grpc_server.*'fast'.*auto, native, grpcio"):
        ReceiverSettings(grpc_server="fast").validate()


@needs_native
def test_a_taken_port_is_an_os_error_naming_the_address(exporter: LogsExporter) -> None:
    first = grpc_front_end(exporter, ReceiverSettings(grpc_port=0, grpc_server="native"), None, None)
    try:
        with pytest.raises(OSError, match=rf"cannot listen for OTLP/gRPC on 127.0.0.1:{first.port}"):
            grpc_front_end(exporter, ReceiverSettings(grpc_port=first.port, grpc_server="native"), None, None)
    finally:
        first.stop(0)
