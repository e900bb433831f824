"""OTLP/gRPC front end: ``LogsService/Export`` plus the standard gRPC health service."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from otel_logging.receiver.errors import ExportError
from otel_logging.receiver.export import LogsExporter, parse_protobuf

EXPORT_METHOD = "Export"
SERVICE_NAME = "opentelemetry.proto.collector.logs.v1.LogsService"


def _identity(data: bytes) -> bytes:
    return data


class GrpcFrontEnd:
    """Serves OTLP logs over gRPC; parsing errors become INVALID_ARGUMENT, not INTERNAL."""

    def __init__(self, exporter: LogsExporter, host: str, port: int, *, max_request_bytes: int, workers: int) -> None:
        self.exporter = exporter
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
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
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port} (address in use?)")

    def _export(self, payload: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            request = parse_protobuf(payload)
            outcome = self.exporter.export(request, transport="grpc")
        except ExportError as exc:
            if exc.retry_after_s is not None:
                context.set_trailing_metadata((("retry-after", str(exc.retry_after_s)),))
            context.abort(exc.failure.grpc_code, exc.message)
        return outcome.response().SerializeToString()

    def start(self) -> None:
        self.server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace_s: float) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace_s).wait()
