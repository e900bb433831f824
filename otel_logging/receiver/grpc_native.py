"""OTLP/gRPC front end on the native transport (``otel_logging_native.GrpcServer``).

The native server does HTTP/2, gRPC framing, gzip/deflate, the health service and the message size and
concurrency limits; each ``Export`` request's bytes come to :meth:`NativeGrpcFrontEnd.answer` on the thread
that read them, which answers exactly as :class:`~otel_logging.receiver.grpc_server.GrpcFrontEnd` does (the
same checks, the same counting, the same statuses and retry trailers). Plaintext only: with TLS the service
uses ``GrpcFrontEnd``.
"""

from __future__ import annotations

import logging

import grpc

from otel_logging.config import ReceiverSettings
from otel_logging.receiver.auth import TokenAuthenticator
from otel_logging.receiver.errors import ExportError
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.grpc_server import GrpcExport, GrpcFrontEnd, TlsFiles, grpc_receive_limit, retry_metadata
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record.native import GRPC_SERVER_UNAVAILABLE_REASON, native_grpc_server

_log = logging.getLogger(__name__)

Answer = tuple[int, str, bytes | None, list[tuple[str, bytes]]]
"""(gRPC status code, message, the response's bytes when OK, trailing metadata)."""


class NativeGrpcFrontEnd(GrpcExport):
    """Serves OTLP logs over gRPC on the native transport; parsing errors become INVALID_ARGUMENT.

    Every request that reaches :meth:`answer` is counted once by a ``RequestReport``.
    """

    transport = "native"

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
        server_type = native_grpc_server()
        if server_type is None:
            raise RuntimeError(f"the native gRPC server is not available: {GRPC_SERVER_UNAVAILABLE_REASON}")
        super().__init__(exporter, max_request_bytes, authenticator, metrics)
        self.server = server_type(
            host,
            port,
            self.answer,
            max_message_bytes=grpc_receive_limit(max_request_bytes),
            max_concurrent=workers * 4,
            workers=workers,
            tls_cert=tls.cert.read_bytes() if tls else None,
            tls_key=tls.key.read_bytes() if tls else None,
            tls_client_ca=tls.client_ca.read_bytes() if tls and tls.client_ca else None,
        )
        self.port: int = self.server.port

    def answer(self, payload: bytes, authorization: str | None) -> Answer:
        try:
            with self.metrics.start_request("grpc") as report:
                try:
                    outcome = self.checked_export(payload, authorization)
                except ExportError as exc:
                    report.refused(exc.failure)
                    trailers = (
                        [(k, v.encode() if isinstance(v, str) else v) for k, v in retry_metadata(exc.retry_after_s)]
                        if exc.retry_after_s is not None
                        else []
                    )
                    return exc.failure.grpc_code.value[0], exc.message, None, trailers
                report.accepted(outcome.accepted, outcome.rejected)
            return grpc.StatusCode.OK.value[0], "", outcome.serialized_response(), []
        except Exception as exc:  # a bug: logged, answered UNKNOWN (as grpcio's server does), counted as internal
            _log.exception("OTLP/gRPC export failed")
            return grpc.StatusCode.UNKNOWN.value[0], f"Exception calling application: {exc}", None, []

    def start(self) -> None:
        self.server.start()

    def stop(self, grace_s: float) -> None:
        self.server.stop(grace_s)


def grpc_front_end(
    exporter: LogsExporter,
    receiver: ReceiverSettings,
    authenticator: TokenAuthenticator | None,
    tls: TlsFiles | None,
) -> GrpcFrontEnd | NativeGrpcFrontEnd:
    """The front end ``receiver.grpc_server`` asks for ("auto": native when it is built, with or without TLS)."""
    native = receiver.grpc_server == "native" or (receiver.grpc_server == "auto" and native_grpc_server() is not None)
    front_end_type = NativeGrpcFrontEnd if native else GrpcFrontEnd
    return front_end_type(
        exporter,
        receiver.host,
        receiver.grpc_port,
        max_request_bytes=receiver.max_request_bytes,
        workers=receiver.grpc_workers,
        authenticator=authenticator,
        tls=tls,
    )
