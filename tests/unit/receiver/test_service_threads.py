"""The service owns its threads: after stop() none of the threads it started is alive."""

from __future__ import annotations

from pathlib import Path

from otel_logging.config import ElasticsearchSettings, FilesSettings, ReceiverSettings, ServeSettings
from otel_logging.receiver.service import CentralService
from otel_logging.worker import live_threads


def test_stop_joins_the_rotation_worker_and_every_sink_thread(tmp_path: Path) -> None:
    before = set(live_threads())
    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None),
        files=FilesSettings(log_dir=tmp_path, rotate_interval_s=3600),
        elasticsearch=ElasticsearchSettings(urls=("http://127.0.0.1:9",)),
    )
    service = CentralService(settings)
    service.start()
    try:
        started = {t.name for t in set(live_threads()) - before}
        assert "otel-logging.rotation" in started
        assert "otel-logging.sink-elasticsearch" in started
    finally:
        service.stop(grace_s=0)
    assert not set(live_threads()) - before


def test_apps_already_in_the_log_dir_are_known_to_the_new_app_limit(tmp_path: Path) -> None:
    for name in ("api.v2.jsonl", "api.v2.20261202T101500.000000Z.jsonl", "shop.jsonl"):
        (tmp_path / name).write_bytes(b"")
    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None, max_new_apps_per_minute=1),
        files=FilesSettings(log_dir=tmp_path),
    )
    service = CentralService(settings)
    try:
        limiter = service.exporter.new_app_limiter
        assert limiter is not None and limiter.known == {"api.v2", "shop"}
    finally:
        service.stop(grace_s=0)
