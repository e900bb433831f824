"""The native (Rust) OTLP conversion, when it is installed.

``otel_logging_native`` is a separate extension module built from ``native/`` by
``scripts/build-native.sh`` (``make venv`` runs it). ``convert_payload`` turns the raw bytes of an
OTLP/protobuf ``ExportLogsServiceRequest`` straight into JSON lines per service, byte-for-byte what
``convert_request(ExportLogsServiceRequest.FromString(payload))`` and ``to_json_lines`` produce, with
the GIL released while it works.

``AVAILABLE`` is False when the module is not installed or ``OTEL_LOGGING_NATIVE=0`` is set; callers
then use the Python path in ``otel_logging.record``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

ENV_SWITCH = "OTEL_LOGGING_NATIVE"

_Converter = Callable[[bytes, int], tuple[dict[str, bytes], int, int, str]]


def _load() -> tuple[_Converter | None, str]:
    if os.environ.get(ENV_SWITCH, "").strip() == "0":
        return None, f"disabled by {ENV_SWITCH}=0"
    try:
        from otel_logging_native import otlp_logs_to_jsonl
    except ImportError as exc:
        return None, f"otel_logging_native is not installed ({exc}); run scripts/build-native.sh"
    return otlp_logs_to_jsonl, ""


_convert, UNAVAILABLE_REASON = _load()
AVAILABLE: bool = _convert is not None


@dataclass(frozen=True, slots=True)
class NativeConversion:
    """The records of one export request as JSON lines per service, and what was rejected."""

    lines_by_service: dict[str, bytes]  # in order of first appearance; each buffer ends with a newline
    accepted: int
    rejected: int
    first_error: str

    def message(self) -> str:
        """The partial-success message (empty when nothing was rejected), as ``Conversion.message``."""
        return f"{self.rejected} log record(s) rejected; first: {self.first_error}" if self.rejected else ""


def convert_payload(payload: bytes, received_ns: int | None = None) -> NativeConversion:
    """Convert a serialized ``ExportLogsServiceRequest`` to canonical JSON lines, grouped by service.

    ``received_ns`` (default: now) stands in for a record's missing observed time. Raises ValueError
    when the payload is not a valid request (where ``FromString`` raises DecodeError), and RuntimeError
    when the native module is not available (check ``AVAILABLE`` first).
    """
    if _convert is None:
        raise RuntimeError(f"native OTLP conversion is not available: {UNAVAILABLE_REASON}")
    if received_ns is None:
        received_ns = time.time_ns()
    if not isinstance(payload, bytes):
        payload = bytes(payload)  # bytearray / memoryview: the conversion runs without the GIL on a stable copy
    lines_by_service, accepted, rejected, first_error = _convert(payload, received_ns)
    return NativeConversion(lines_by_service, accepted, rejected, first_error)
