"""Building the OTLP/gRPC log exporter from resolved settings."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc import Compression
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

from otel_logging.config import ClientSettings


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def build_exporter(settings: ClientSettings) -> OTLPLogExporter:
    credentials = None
    if not settings.insecure:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(settings.certificate_file),
            private_key=_read(settings.client_key_file),
            certificate_chain=_read(settings.client_certificate_file),
        )
    return OTLPLogExporter(
        endpoint=settings.target,
        insecure=settings.insecure,
        credentials=credentials,
        headers=dict(settings.headers) or None,
        timeout=settings.timeout_s,
        compression=Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression,
    )
