"""build_sinks: the sinks a settings object names, whoever builds them (service, CLI, older API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.config import (
    AggregateSettings,
    ConfigError,
    ElasticsearchSettings,
    FilesSettings,
    LogstashSettings,
    OutputFileSettings,
    QueueSettings,
    ReceiverSettings,
    ServeSettings,
)
from otel_logging.receiver.service import CentralService
from otel_logging.sinks.build import build_sinks
from otel_logging.sinks.files import FileSink
from otel_logging.sinks.queue import QueuedSink

UNREACHABLE_ES = "http://127.0.0.1:9"  # nothing listens: the queue keeps the records and retries


def _settings(log_dir: Path, **parts: object) -> ServeSettings:
    """Settings for a service on any free gRPC port, without HTTP, writing to ``log_dir``."""
    return ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None),
        files=FilesSettings(log_dir=log_dir),
        **parts,  # type: ignore[arg-type]
    )


def _service(settings: ServeSettings) -> CentralService:
    return CentralService(settings)


def test_central_service_built_from_settings_exports_to_elasticsearch_without_the_cli(tmp_path: Path) -> None:
    service = _service(_settings(tmp_path, elasticsearch=ElasticsearchSettings(urls=(UNREACHABLE_ES,))))
    try:
        queued = [s for s in service.sinks if isinstance(s, QueuedSink)]
        assert [s.name for s in queued] == ["elasticsearch"]
        assert (tmp_path / "_queue" / "elasticsearch").is_dir()
        assert service.sinks[-1] is service.file_sink  # the per-app files come after the queues
    finally:
        service.stop(grace_s=0)


def test_central_service_built_from_settings_exports_to_logstash_without_the_cli(tmp_path: Path) -> None:
    service = _service(_settings(tmp_path, logstash=LogstashSettings(targets=("127.0.0.1:9", "[::1]:9"))))
    try:
        names = [s.name for s in service.sinks if isinstance(s, QueuedSink)]
        assert names == ["logstash-127.0.0.1-9", "logstash-1-9"]
        assert isinstance(service.sinks[-1], FileSink)
    finally:
        service.stop(grace_s=0)


def test_serve_settings_without_remote_targets_build_only_the_per_app_files(tmp_path: Path) -> None:
    sinks = build_sinks(_settings(tmp_path))
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

    def no_room(*_args: object, **_kwargs: object) -> QueuedSink:
        raise OSError("no room for the Logstash queue")

    monkeypatch.setattr("otel_logging.sinks.logstash.logstash_sink", no_room)
    settings = _settings(
        tmp_path,
        elasticsearch=ElasticsearchSettings(urls=(UNREACHABLE_ES,)),
        logstash=LogstashSettings(targets=("127.0.0.1:9",)),
    )
    with pytest.raises(OSError, match="no room"):
        CentralService(settings)
    assert closed == ["elasticsearch"]


def test_settings_that_do_not_validate_build_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(QueuedSink, "__init__", lambda self, name, *a, **k: built.append(name))
    settings = _settings(
        tmp_path,
        elasticsearch=ElasticsearchSettings(urls=(UNREACHABLE_ES,)),
        logstash=LogstashSettings(targets=("127.0.0.1:9", "127.0.0.1:9")),
    )
    with pytest.raises(ConfigError, match="given twice") as refused:
        CentralService(settings)
    assert refused.value.setting == "logstash.targets"
    assert built == []


def test_aggregate_settings_build_files_then_output_file(tmp_path: Path) -> None:
    settings = AggregateSettings(
        files=FilesSettings(log_dir=tmp_path / "apps"), output=OutputFileSettings(path=tmp_path / "all.jsonl")
    )
    sinks = build_sinks(settings)
    try:
        assert isinstance(sinks[0], FileSink)
        assert sinks[1].name == f"file:{tmp_path / 'all.jsonl'}"
        assert len(sinks) == 2
    finally:
        for sink in sinks:
            sink.close()


def test_every_remote_queue_takes_the_queue_size_of_the_settings(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        elasticsearch=ElasticsearchSettings(urls=(UNREACHABLE_ES,)),
        logstash=LogstashSettings(targets=("127.0.0.1:9",)),
        queue=QueueSettings(max_bytes=5 << 20),
    )
    service = _service(settings)
    try:
        queued = [s for s in service.sinks if isinstance(s, QueuedSink)]
        assert [s.queue.max_bytes for s in queued] == [5 << 20, 5 << 20]
    finally:
        service.stop(grace_s=0)
