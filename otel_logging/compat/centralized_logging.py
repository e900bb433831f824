"""The API of the older design, as a thin layer over ``otel_logging.setup()`` (deprecated: use that).

    configure_centralized_logging(app_name="my_app", host="logging_server", port=4317)
    logger = get_centralized_logger(__name__)
    logger.info("User logged in", extra={"user_id": "12345"})

``host``/``port`` now name the central service's OTLP/gRPC endpoint (default port 4317).
"""

from __future__ import annotations

import logging
from typing import Any

from otel_logging.client.setup import LoggingHandle, current, setup
from otel_logging.compat import warn_deprecated


def configure_centralized_logging(
    app_name: str,
    host: str = "localhost",
    port: int = 4317,
    level: int = logging.INFO,
    *,
    secure: bool = False,
    **options: Any,
) -> LoggingHandle:
    """Send this process's logging to the central service at ``host:port`` as ``app_name``.

    Sets the root logger's level to ``level`` (as the older API did). Extra keyword
    options go to ``otel_logging.setup()``; ``buffer_size`` and ``retry_interval`` of the
    older API are accepted and mapped to the batch size and ignored respectively; ``buffer_dir`` /
    ``buffer_max_mb`` keep records on disk while the service is unreachable (docs/queue-and-guarantees.md).

    Deprecated: ``otel_logging.setup(service_name=app_name, endpoint=f"http://{host}:{port}")``.
    """
    warn_deprecated(
        "configure_centralized_logging()",
        'use otel_logging.setup(service_name=..., endpoint="http://HOST:4317", level=...)',
    )
    buffer_size = options.pop("buffer_size", None)
    options.pop("retry_interval", None)
    if buffer_size is not None:
        options.setdefault("max_export_batch_size", int(buffer_size))
    scheme = "https" if secure else "http"
    handle = setup(
        service_name=app_name,
        endpoint=f"{scheme}://{host}:{port}",
        level=level,
        insecure=not secure,
        **options,
    )
    logging.getLogger().setLevel(level)
    return handle


def get_centralized_logger(name: str) -> logging.Logger:
    """A standard logger; once ``configure_centralized_logging`` ran, its records reach the service.

    Deprecated: ``logging.getLogger(name)`` (after ``otel_logging.setup()``)."""
    warn_deprecated("get_centralized_logger()", "use logging.getLogger(name) after otel_logging.setup(...)")
    return logging.getLogger(name)


def is_configured() -> bool:
    return current() is not None


__all__ = ["configure_centralized_logging", "get_centralized_logger", "is_configured"]
