"""What this installation is: its version, the OpenTelemetry SDK under it, and whether the native code runs.

``otel-logging --version`` prints ``describe()``. It imports nothing heavy: the native module is probed through
``otel_logging.record.native`` (which only imports the extension), the SDK's version is read from its metadata.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "otel-logging"


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def version() -> str:
    """The installed otel-logging's version (``0+unknown`` when run from a tree that is not installed)."""
    found = _version_of(DISTRIBUTION)
    return "0+unknown" if found == "not installed" else found


def native_status() -> str:
    """``active`` (both native paths load), or ``inactive: <why>`` naming what is missing."""
    from otel_logging.record import native

    if native.AVAILABLE and native.STDLIB_AVAILABLE:
        return "active (OTLP conversion, stdlib log reader)"
    return f"inactive: {native.UNAVAILABLE_REASON or native.STDLIB_UNAVAILABLE_REASON} (pure-Python path)"


def describe() -> str:
    """Three lines: ``otel-logging X``, ``opentelemetry-sdk Y``, ``native code: active|inactive: why``."""
    return "\n".join(
        [
            f"otel-logging {version()}",
            f"opentelemetry-sdk {_version_of('opentelemetry-sdk')}",
            f"native code: {native_status()}",
        ]
    )
