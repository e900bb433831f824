"""Aggregation masks secrets as the app side does; a batch without any keeps its lines byte for byte."""

from __future__ import annotations

import orjson

from otel_logging.ingest.redact import BatchRedactor
from otel_logging.record import RecordBatch


def line(body: object, **attributes: object) -> bytes:
    record = {
        "@timestamp": "2026-12-03T05:00:00.123000000Z",
        "body": body,
        "service": "legacy",
        # the aggregation's own: the uid's digits pass the Luhn check as a card number would
        "attributes": {"log.file.path": "/var/log/app.log", "log.record.uid": "4111-111111111111:0", **attributes},
    }
    return orjson.dumps(record) + b"\n"


def test_secrets_in_bodies_and_attributes_are_masked_and_the_own_attributes_kept() -> None:
    lines = line("login password=SuperSecret123 ok") + line("charged", api_key="k-1", card="4111 1111 1111 1111")
    batch = RecordBatch.from_lines({"legacy": lines}, 2)
    BatchRedactor()(batch)
    text = bytes(batch.lines("legacy"))
    assert b"SuperSecret123" not in text and b"k-1" not in text and b"4111 1111 1111 1111" not in text
    first, second = batch["legacy"]
    assert first["body"] == "login password=[REDACTED] ok"
    assert second["attributes"] == {
        "log.file.path": "/var/log/app.log",
        "log.record.uid": "4111-111111111111:0",
        "api_key": "[REDACTED]",
        "card": "[REDACTED]",
    }


def test_a_batch_without_secrets_keeps_its_lines_as_they_were() -> None:
    lines = line("request 42 handled in 0.1 s") + line({"nested": "value"}, user="ann")
    view = memoryview(lines)  # as the native reader hands them
    batch = RecordBatch.from_lines({"legacy": view}, 2)
    BatchRedactor()(batch)
    assert batch.lines("legacy") is view
