"""Turning ``extra={...}`` values into valid OpenTelemetry attribute values, once per record.

Log attributes are AnyValue: str, bool, int (64-bit), float, bytes, arrays of any of these
(mixed types allowed) and nested maps. Everything else becomes its ``str()``; ``None`` keys
are dropped; ints beyond 64 bits become strings (protobuf would reject the whole batch).
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Set
from typing import Any

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_DEPTH = 16


def clean_value(value: Any, depth: int = 0) -> Any:
    """Return a value the OTLP encoder accepts; never raises."""
    kind = type(value)
    if kind is str or kind is bool or kind is float:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if value is None:
        return None
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, enum.Enum):
        return clean_value(value.value, depth + 1)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value) if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Mapping):
        return clean_mapping(value, depth + 1)
    if isinstance(value, list | tuple | Set | frozenset):
        return [clean_value(v, depth + 1) for v in value]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    try:
        return str(value)
    except Exception:  # a broken __str__ must not lose the record
        return f"<unprintable {kind.__name__}>"


def clean_mapping(values: Mapping[Any, Any], depth: int = 0) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        cleaned[key if type(key) is str else str(key)] = clean_value(value, depth)
    return cleaned
