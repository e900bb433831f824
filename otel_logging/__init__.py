"""otel-logging: OpenTelemetry-native logging for Python.

Apps call ``otel_logging.setup()`` once; the central service is ``otel-logging serve``.
Names are imported lazily so that the service does not load the app-side SDK wiring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_logging.client.setup import LoggingHandle, setup, shutdown

__all__ = ["LoggingHandle", "setup", "shutdown"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from otel_logging.client import setup as _setup_module

        return getattr(_setup_module, name)
    raise AttributeError(f"module 'otel_logging' has no attribute {name!r}")
