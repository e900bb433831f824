"""Sending encoded OTLP requests over gRPC, with the statuses sorted into retry or give up."""

from __future__ import annotations

import enum
from pathlib import Path

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from otel_logging.config import ClientSettings

EXPORT_PATH = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

# The OTLP specification's retryable gRPC codes (RESOURCE_EXHAUSTED: when the server sends RetryInfo).
_RETRYABLE = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class SendOutcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # the receiver could not take it now: keep the batch and try again
    REJECTED = "rejected"  # the receiver refused it for good (malformed, unauthenticated, ...)


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class GrpcTransport:
    """One gRPC channel to the receiver; ``send`` never raises."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.last_error = ""
        self.rejected_in_part = 0
        options = [("grpc.max_send_message_length", 64 << 20)]
        if settings.insecure:
            self._channel = grpc.insecure_channel(settings.target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(settings.certificate_file),
                private_key=_read(settings.client_key_file),
                certificate_chain=_read(settings.client_certificate_file),
            )
            self._channel = grpc.secure_channel(settings.target, credentials, options=options)
        self._call = self._channel.unary_unary(EXPORT_PATH)
        self._metadata = tuple(settings.headers.items()) or None
        self._compression = grpc.Compression.Gzip if settings.compression == "gzip" else None

    def send(self, payload: bytes) -> SendOutcome:
        try:
            reply = self._call(
                payload,
                timeout=self.settings.timeout_s,
                metadata=self._metadata,
                compression=self._compression,
                wait_for_ready=False,
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            self.last_error = f"{code.name}: {details}"
            return SendOutcome.RETRY if code in _RETRYABLE else SendOutcome.REJECTED
        except Exception as exc:  # e.g. a closed channel after shutdown
            self.last_error = repr(exc)
            return SendOutcome.RETRY
        if reply:
            try:
                partial = ExportLogsServiceResponse.FromString(reply).partial_success
                if partial.rejected_log_records:
                    self.rejected_in_part += partial.rejected_log_records
                    self.last_error = partial.error_message
            except Exception:
                pass
        return SendOutcome.SENT

    def close(self) -> None:
        try:
            self._channel.close()
        except Exception:
            pass
