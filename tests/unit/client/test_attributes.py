"""extra={...} values become valid, typed OpenTelemetry attribute values."""

from __future__ import annotations

import datetime
import enum

from opentelemetry.exporter.otlp.proto.common._internal import _encode_attributes

from otel_logging.client.attributes import clean_mapping


class Color(enum.Enum):
    RED = "red"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_values_are_typed_and_encodable() -> None:
    cleaned = clean_mapping(
        {
            "i": 1,
            "f": 1.5,
            "b": True,
            "s": "x",
            "none": None,
            "mixed": [1, "a", 2.5, None, {"k": None}],
            "nested": {"a": {"b": [1, 2]}, "n": None},
            "big": 2**80,
            "set": {3},
            "tuple": (1, 2),
            "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
            "enum": Color.RED,
            "obj": Broken(),
            1: "int key",
        }
    )
    assert cleaned == {
        "i": 1,
        "f": 1.5,
        "b": True,
        "s": "x",
        "mixed": [1, "a", 2.5, None, {}],
        "nested": {"a": {"b": [1, 2]}},
        "big": str(2**80),
        "set": [3],
        "tuple": [1, 2],
        "when": "2026-01-02T03:04:05",
        "enum": "red",
        "obj": "<unprintable Broken>",
        "1": "int key",
    }
    assert len(_encode_attributes(cleaned)) == len(cleaned)  # nothing the encoder rejects
