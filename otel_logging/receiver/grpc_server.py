"""OTLP/gRPC front end: ``LogsService/Export`` plus the standard gRPC health service."""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from otel_logging.receiver.auth import TokenAuthenticator
from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.export import ExportOutcome, LogsExporter
from otel_logging.receiver.metrics import ServiceMetrics

EXPORT_METHOD = "Export"
SERVICE_NAME = "opentelemetry.proto.collector.logs.v1.LogsService"


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Server certificate and key (PEM); with ``client_ca``, clients must present a certificate it signed."""

    cert: Path
    key: Path
    client_ca: Path | None = None


def grpc_receive_limit(max_request_bytes: int) -> int:
    """gRPC's own message limit: twice ours, so that most oversized requests reach the service.

    A message over gRPC's limit is refused (RESOURCE_EXHAUSTED) inside gRPC, before any Python
    code runs, so it cannot be counted; one over ``max_request_bytes`` but within this limit is
    refused by the front end and counted like every other request. (gRPC options are 32-bit.)
    """
    return min(2 * max_request_bytes, 2**31 - 1)


def retry_metadata(retry_after_s: int) -> tuple[tuple[str, str | bytes], ...]:
    """``google.rpc.RetryInfo`` (read by OTLP exporters) plus a plain ``retry-after``."""
    info = RetryInfo(retry_delay=Duration(seconds=retry_after_s)).SerializeToString()
    return (("google.rpc.retryinfo-bin", info), ("retry-after", str(retry_after_s)))


class GrpcExport:
    """What both OTLP/gRPC front ends do with one ``Export`` request's bytes: the token, the size, the export."""

    def __init__(
        self,
        exporter: LogsExporter,
        max_request_bytes: int,
        authenticator: TokenAuthenticator | None,
        metrics: ServiceMetrics | None,
    ) -> None:
        self.exporter = exporter
        self.metrics = metrics if metrics is not None else exporter.metrics
        self.authenticator = authenticator
        self.max_request_bytes = max_request_bytes

    def checked_export(self, payload: bytes, authorization: str | None) -> ExportOutcome:
        """Export ``payload``; ExportError for a missing or wrong token, a request too large, or the export's own."""
        if self.authenticator is not None:
            self.authenticator.check(authorization)
        if len(payload) > self.max_request_bytes:
            raise ExportError(
                Failure.TOO_LARGE, f"request of {len(payload)} bytes exceeds {self.max_request_bytes} bytes"
            )
        return self.exporter.export_protobuf(payload, transport="grpc")


class GrpcFrontEnd(GrpcExport):
    """Serves OTLP logs over gRPC; parsing errors become INVALID_ARGUMENT, not INTERNAL.

    Every request that reaches ``_export`` is counted once by a ``RequestReport`` (``metrics``,
    by default the exporter's).
    """

    transport = "grpcio"

    def __init__(
        self,
        exporter: LogsExporter,
        host: str,
        port: int,
        *,
        max_request_bytes: int,
        workers: int,
        authenticator: TokenAuthenticator | None = None,
        tls: TlsFiles | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        super().__init__(exporter, max_request_bytes, authenticator, metrics)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", grpc_receive_limit(max_request_bytes)),
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=workers * 4,
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                EXPORT_METHOD: grpc.unary_unary_rpc_method_handler(
                    self._export, request_deserializer=_identity, response_serializer=_identity
                )
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        address = f"{host}:{port}"
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key.read_bytes(), tls.cert.read_bytes())],
                root_certificates=tls.client_ca.read_bytes() if tls.client_ca else None,
                require_client_auth=tls.client_ca is not None,
            )
            self.port = self.server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port} (address in use?)")

    def _export(self, payload: bytes, context: grpc.ServicerContext) -> bytes:
        with self.metrics.start_request("grpc") as report:
            try:
                outcome = self.checked_export(payload, dict(context.invocation_metadata()).get("authorization"))
            except ExportError as exc:
                report.refused(exc.failure)
                if exc.retry_after_s is not None:
                    context.set_trailing_metadata(retry_metadata(exc.retry_after_s))
                context.abort(exc.failure.grpc_code, exc.message)
            report.accepted(outcome.accepted, outcome.rejected)
        return outcome.serialized_response()

    def start(self) -> None:
        self.server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace_s: float) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace_s).wait()
