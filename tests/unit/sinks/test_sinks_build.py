"""build_sinks: the sinks a settings object names, whoever builds them (service, CLI, older API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.config import AggregateSettings, ServeSettings
from otel_logging.receiver.service import CentralService
from otel_logging.sinks.build import build_sinks
from otel_logging.sinks.files import FileSink
from otel_logging.sinks.queue import QueuedSink

UNREACHABLE_ES = "http://127.0.0.1:9"  # nothing listens: the queue keeps the records and retries


def _service(settings: ServeSettings) -> CentralService:
    settings.port = 0
    settings.http_port = None
    return CentralService(settings)


def test_central_service_built_from_settings_exports_to_elasticsearch_without_the_cli(tmp_path: Path) -> None:
    service = _service(ServeSettings(log_dir=tmp_path, es_urls=[UNREACHABLE_ES]))
    try:
        queued = [s for s in service.sinks if isinstance(s, QueuedSink)]
        assert [s.name for s in queued] == ["elasticsearch"]
        assert (tmp_path / "_queue" / "elasticsearch").is_dir()
        assert service.sinks[-1] is service.file_sink  # the per-app files come after the queues
    finally:
        service.stop(grace_s=0)


def test_central_service_built_from_settings_exports_to_logstash_without_the_cli(tmp_path: Path) -> None:
    service = _service(ServeSettings(log_dir=tmp_path, logstash=["127.0.0.1:9", "[::1]:9"]))
    try:
        names = [s.name for s in service.sinks if isinstance(s, QueuedSink)]
        assert names == ["logstash-127.0.0.1-9", "logstash-1-9"]
        assert isinstance(service.sinks[-1], FileSink)
    finally:
        service.stop(grace_s=0)


def test_serve_settings_without_remote_targets_build_only_the_per_app_files(tmp_path: Path) -> None:
    sinks = build_sinks(ServeSettings(log_dir=tmp_path))
    try:
        assert len(sinks) == 1 and isinstance(sinks[0], FileSink)
    finally:
        for sink in sinks:
            sink.close()


def test_a_settings_error_closes_what_was_already_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    original = QueuedSink.close

    def close(self: QueuedSink, timeout: float = 10.0) -> None:
        closed.append(self.name)
        original(self, timeout)

    monkeypatch.setattr(QueuedSink, "close", close)
    settings = ServeSettings(log_dir=tmp_path, es_urls=[UNREACHABLE_ES], logstash=["127.0.0.1:9", "127.0.0.1:9"])
    with pytest.raises(ValueError, match="given twice"):
        CentralService(settings)
    assert closed == ["elasticsearch"]


def test_aggregate_settings_build_files_then_output_file(tmp_path: Path) -> None:
    sinks = build_sinks(AggregateSettings(log_dir=tmp_path / "apps", output_file=tmp_path / "all.jsonl"))
    try:
        assert isinstance(sinks[0], FileSink)
        assert sinks[1].name == f"file:{tmp_path / 'all.jsonl'}"
        assert len(sinks) == 2
    finally:
        for sink in sinks:
            sink.close()


def test_every_remote_queue_takes_the_queue_size_of_the_settings(tmp_path: Path) -> None:
    settings = ServeSettings(
        log_dir=tmp_path, es_urls=[UNREACHABLE_ES], logstash=["127.0.0.1:9"], queue_max_bytes=5 << 20
    )
    service = _service(settings)
    try:
        queued = [s for s in service.sinks if isinstance(s, QueuedSink)]
        assert [s.queue.max_bytes for s in queued] == [5 << 20, 5 << 20]
    finally:
        service.stop(grace_s=0)
