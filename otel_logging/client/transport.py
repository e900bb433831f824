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


# The channel's reconnection backoff (first, most), in milliseconds.
RECONNECT_BACKOFF_MS = (100, 1000)


class SendOutcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # the receiver could not take it now: keep the batch and try again
    REJECTED = "rejected"  # the receiver refused it for good (malformed, unauthenticated, ...)


def explain_failure(error: str, settings: ClientSettings) -> str:
    """The likely cause of a failed export, in words a user can act on (``error``: ``last_error``)."""
    target = settings.target
    low = error.lower()
    if "handshake" in low or "wrong_version_number" in low or "tsi_protocol_failure" in low:
        return (
            f"the TLS handshake with {target} failed: the port probably serves plaintext gRPC "
            "(otel-logging serve does unless started with --tls-cert); "
            f'use the endpoint "http://{target}" (or insecure=True / OTEL_EXPORTER_OTLP_INSECURE=true)'
        )
    if "http/2" in low or "http1" in low or "settings frame" in low:
        return (
            f"{target} answers HTTP/1.1, not gRPC: it looks like an OTLP/HTTP port (the service's default is 4318); "
            "setup() speaks OTLP/gRPC: give the service's gRPC port (default 4317)"
        )
    if "connection refused" in low:
        return (
            f"connection refused: nothing listens on {target}; "
            "is the service running (otel-logging serve, make run) and is the port right?"
        )
    if "resolv" in low or "name not found" in low or "dns" in low:
        return f"the host name of {target} does not resolve"
    if settings.insecure and ("socket closed" in low or "connection reset" in low or "end of file" in low):
        return (
            f"{target} closed the connection: if the service uses TLS, "
            f'use the endpoint "https://{target}" (and its CA: certificate_file / OTEL_EXPORTER_OTLP_CERTIFICATE)'
        )
    if low.startswith("deadline_exceeded"):
        return f"no answer from {target} within {settings.timeout_s:g} s (timeout_s / OTEL_EXPORTER_OTLP_TIMEOUT)"
    if low.startswith("unauthenticated"):
        return f"{target} requires a token: headers={{'authorization': 'Bearer ...'}} / OTEL_EXPORTER_OTLP_HEADERS"
    return error or "unknown error"


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class GrpcTransport:
    """One gRPC channel to the receiver; ``send`` never raises."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.last_error = ""
        self.rejected_in_part = 0
        options = [
            ("grpc.max_send_message_length", 64 << 20),
            # Reconnect within about a second of the receiver's return (gRPC's default backoff grows to
            # 120 s, so a minute-long outage left the app failing fast for tens of seconds after it).
            ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
            ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
            ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
        ]
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

    def explain(self) -> str:
        """The likely cause of the last failure (see ``explain_failure``)."""
        return explain_failure(self.last_error, self.settings)

    def send(self, payload: bytes, timeout_s: float | None = None) -> SendOutcome:
        """Send one request, waiting at most ``timeout_s`` (default: the settings' ``timeout_s``)."""
        try:
            reply = self._call(
                payload,
                timeout=self.settings.timeout_s if timeout_s is None else max(0.05, timeout_s),
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
