"""The one export path: one RecordBatch per request for every sink, and which conversion makes it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otel_logging.config import FilesSettings, ReceiverSettings, SecuritySettings, ServeSettings
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.limits import redacting_processor, truncating_processor
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.receiver.service import CentralService
from otel_logging.record import RecordBatch, native
from otel_logging.record.redaction import Redactor
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


def path_sample(metrics: ServiceMetrics) -> list[str]:
    return [line for line in metrics.render().splitlines() if line.startswith("otel_logging_conversion_path")]


@needs_native
def test_every_sink_gets_the_same_batch_of_the_native_converter(tmp_path: Path) -> None:
    first, second = KeepingSink(), KeepingSink()
    metrics = ServiceMetrics()
    exporter = LogsExporter([first, FileSink(tmp_path), second], metrics)
    metrics.add_source(exporter.conversion.metric_samples)
    assert exporter.native and exporter.conversion.reason == ""
    outcome = exporter.export_protobuf(make_request("shop", ["a", "b"]).SerializeToString(), "grpc")
    assert (outcome.accepted, outcome.rejected) == (2, 0)
    (batch,) = first.batches
    assert second.batches == [batch] and second.batches[0] is batch
    assert (tmp_path / "shop.jsonl").read_bytes() == batch.lines("shop")
    assert path_sample(metrics) == ['otel_logging_conversion_path{path="native",reason=""} 1']


def test_record_processors_take_the_python_path_and_say_so(tmp_path: Path) -> None:
    metrics = ServiceMetrics()
    sink = KeepingSink()
    processors = [redacting_processor(Redactor()), truncating_processor(3)]
    exporter = LogsExporter([sink, FileSink(tmp_path)], metrics, processors=processors)
    metrics.add_source(exporter.conversion.metric_samples)
    assert not exporter.native and exporter.conversion.reason == "record_processors"
    assert "--redact" in exporter.conversion.describe() and "--max-attribute-length" in exporter.conversion.describe()
    exporter.export_protobuf(make_request("shop", ["abcdef"]).SerializeToString(), "grpc")
    (record,) = sink.batches[0]["shop"]
    assert record["body"] == "abc" and record["attributes"]["otel_logging.truncated"] is True
    assert b'"body":"abc"' in (tmp_path / "shop.jsonl").read_bytes()  # the processed records are what is written
    assert path_sample(metrics) == ['otel_logging_conversion_path{path="python",reason="record_processors"} 1']


def test_without_the_native_converter_the_reason_is_given(tmp_path: Path) -> None:
    exporter = LogsExporter([FileSink(tmp_path)], ServiceMetrics(), use_native=False)
    assert not exporter.native and exporter.conversion.reason == "native_disabled"
    outcome = exporter.export_protobuf(make_request("shop", ["a"]).SerializeToString(), "http")
    assert outcome.accepted == 1 and (tmp_path / "shop.jsonl").exists()


def test_the_service_logs_its_conversion_path_once_at_start_and_shows_it_on_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a logging.config call of an earlier test in the same process may have disabled the loggers existing then
    monkeypatch.setattr(logging.getLogger("otel_logging.service"), "disabled", False)
    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None),
        files=FilesSettings(log_dir=tmp_path),
        security=SecuritySettings(redact=True),
    )
    service = CentralService(settings)
    with caplog.at_level(logging.INFO, logger="otel_logging.service"):
        service.start()
        try:
            logged = [r for r in caplog.records if "converted" in r.getMessage()]
            samples = path_sample(service.metrics)
        finally:
            service.stop(0)
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert "Python path" in logged[0].getMessage() and "--redact" in logged[0].getMessage()
    assert samples == ['otel_logging_conversion_path{path="python",reason="record_processors"} 1']
