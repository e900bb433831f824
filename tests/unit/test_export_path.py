"""The one export path: one RecordBatch per request for every sink, and which conversion makes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging import native
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.limits import redacting_processor, truncating_processor
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record import RecordBatch
from otel_logging.redaction import Redactor
from otel_logging.sinks.files import FileSink
from tests.integration.test_receiver import make_request

needs_native = pytest.mark.skipif(not native.AVAILABLE, reason=native.UNAVAILABLE_REASON)


class KeepingSink:
    name = "keeping"

    def __init__(self) -> None:
        self.batches: list[RecordBatch] = []

    def write(self, batch: RecordBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass


@needs_native
def test_every_sink_gets_the_same_batch_of_the_native_converter(tmp_path: Path) -> None:
    first, second = KeepingSink(), KeepingSink()
    metrics = ServiceMetrics()
    exporter = LogsExporter([first, FileSink(tmp_path), second], metrics)
    assert exporter.native
    outcome = exporter.export_protobuf(make_request("shop", ["a", "b"]).SerializeToString(), "grpc")
    assert (outcome.accepted, outcome.rejected) == (2, 0)
    (batch,) = first.batches
    assert second.batches == [batch] and second.batches[0] is batch
    assert (tmp_path / "shop.jsonl").read_bytes() == batch.lines("shop")


def test_record_processors_run_on_the_python_path(tmp_path: Path) -> None:
    metrics = ServiceMetrics()
    sink = KeepingSink()
    processors = [redacting_processor(Redactor()), truncating_processor(3)]
    exporter = LogsExporter([sink, FileSink(tmp_path)], metrics, processors=processors)
    assert not exporter.native
    exporter.export_protobuf(make_request("shop", ["abcdef"]).SerializeToString(), "grpc")
    (record,) = sink.batches[0]["shop"]
    assert record["body"] == "abc" and record["attributes"]["otel_logging.truncated"] is True
    assert b'"body":"abc"' in (tmp_path / "shop.jsonl").read_bytes()  # the processed records are what is written


def test_without_the_native_converter_the_python_path_makes_the_batch(tmp_path: Path) -> None:
    exporter = LogsExporter([FileSink(tmp_path)], ServiceMetrics(), use_native=False)
    assert not exporter.native
    outcome = exporter.export_protobuf(make_request("shop", ["a"]).SerializeToString(), "http")
    assert outcome.accepted == 1 and (tmp_path / "shop.jsonl").exists()
