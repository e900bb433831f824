"""Marks threads that run the export path, so their own log records are never exported."""

from __future__ import annotations

import threading


class _ExportGuard(threading.local):
    active: bool = False


export_guard = _ExportGuard()

# Loggers of the machinery itself: their records never enter the export pipeline.
INTERNAL_LOGGER_PREFIXES = ("opentelemetry", "grpc", "otel_logging", "urllib3", "google")


def is_internal_logger(name: str) -> bool:
    return name.startswith(INTERNAL_LOGGER_PREFIXES)
