"""The processor with a disk buffer: nothing dropped while the receiver is down, order kept, restart, limits."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_logging.client.disk_buffer import DiskBuffer
from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.setup import BUFFER_DIR_ENV, BUFFER_MAX_MB_ENV, resolve_buffer, setup
from otel_logging.client.state import CLIENT_STATE
from otel_logging.config import ConfigError
from tests.support.procs import wait_for
from tests.unit.client.test_processor import RecordingExporter, record


@pytest.fixture(autouse=True)
def no_processor_left_running() -> Iterator[None]:
    yield
    CLIENT_STATE.reset()


def make(exporter: RecordingExporter, directory: Path, max_bytes: int = 1 << 20, **kw: int) -> ReliableBatchProcessor:
    options = {"max_queue_size": 256, "max_export_batch_size": 64, "schedule_delay_ms": 10, "export_timeout_ms": 5000}
    options.update(kw)
    return ReliableBatchProcessor(
        lambda: exporter,
        BatchEncoder({"service.name": "t"}),
        buffer_factory=lambda: DiskBuffer.open(directory, max_bytes),
        **options,
    )


def test_receiver_down_far_longer_than_the_queue_holds_loses_nothing_and_keeps_order(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter, tmp_path)
    for i in range(5_000):  # 20 times the queue
        processor.on_emit(record(i))
    wait_for(lambda: processor.stats().buffered == 5_000, what="every record in the buffer")
    stats = processor.stats()
    assert stats.dropped == 0 and stats.exported == 0 and stats.queued == 0
    assert list(tmp_path.glob("*.seg"))
    exporter.fail.clear()
    assert processor.force_flush(30_000)
    for i in range(5_000, 5_100):  # new records after the buffered ones
        processor.on_emit(record(i))
    assert processor.force_flush(30_000)
    assert exporter.bodies == list(range(5_100))
    stats = processor.stats()
    assert stats.exported == 5_100 and stats.dropped == 0 and stats.buffered == 0
    processor.shutdown()
    assert list(tmp_path.iterdir()) == []
    err = capfd.readouterr().err
    assert err.count("cannot export logs") == 1 and "disk buffer" in err and "dropp" not in err


def test_records_left_at_shutdown_are_sent_first_by_the_next_process(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    first = make(exporter, tmp_path)
    for i in range(300):
        first.on_emit(record(i))
    wait_for(lambda: exporter.calls >= 1, what="a failed export")
    started = time.monotonic()
    first.shutdown()  # does not wait export_timeout_ms for a receiver known to be down
    assert time.monotonic() - started < 2.5
    assert first.stats().dropped == 0
    assert "300 log record(s) not delivered" in capfd.readouterr().err
    exporter.fail.clear()
    second = make(exporter, tmp_path)
    for i in range(300, 310):
        second.on_emit(record(i))
    assert second.force_flush(30_000)
    wait_for(lambda: second.stats().recovered == 300, what="the earlier run's records")
    assert exporter.bodies == list(range(310))
    second.shutdown()
    assert list(tmp_path.iterdir()) == []


def test_a_full_buffer_drops_counts_and_reports_once_without_blocking(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter, tmp_path, max_bytes=4096, export_timeout_ms=200)
    processor.on_emit(record(0))
    wait_for(lambda: exporter.calls >= 1, what="a failed export")
    started = time.monotonic()
    for i in range(1, 5_000):
        processor.on_emit(record(i))
    assert time.monotonic() - started < 10  # never waits for the disk that is full
    wait_for(lambda: processor.stats().queued < 64, what="the queue handed to the buffer")
    processor.shutdown()
    stats = processor.stats()
    assert stats.dropped > 0 and stats.buffered > 0 and stats.dropped + stats.buffered == 5_000
    assert sum(p.stat().st_size for p in tmp_path.glob("*.seg")) <= 4096
    err = capfd.readouterr().err
    assert err.count("dropping log records (the disk buffer is full") == 1


def test_an_unusable_buffer_directory_falls_back_to_memory_and_says_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exporter = RecordingExporter()
    processor = make(exporter, Path("/sys/otel-logging-buffer-test"))
    processor.on_emit(record(1))
    assert processor.force_flush(10_000)
    assert exporter.bodies == [1]
    processor.shutdown()
    assert "the disk buffer cannot be used" in capfd.readouterr().err


def test_a_forked_child_owns_its_own_buffer(tmp_path: Path) -> None:
    exporter = RecordingExporter()
    exporter.fail.set()
    processor = make(exporter, tmp_path)
    parent_buffer = processor._buffer
    assert parent_buffer is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own owner (pid), the parent's lock untouched
        try:
            child_buffer = processor._buffer
            ok = child_buffer is not None and child_buffer.owner != parent_buffer.owner
            ok = ok and child_buffer.owner.endswith(f"-{os.getpid()}")
            ok = ok and not child_buffer.adopt()  # the parent is alive: nothing to adopt
            processor.on_emit(record(7))
            ok = ok and wait_for(lambda: processor.stats().buffered == 1, timeout=10)
            os.write(write, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 2) == b"ok"
    os.waitpid(pid, 0)
    os.close(read)
    # the child exited without shutdown (os._exit): its segment is adopted by the parent
    assert parent_buffer.adopt() > 0
    exporter.fail.clear()
    wait_for(lambda: processor.stats().recovered == 1, what="the child's record")
    assert exporter.bodies == [7]
    processor.shutdown()


def test_setup_argument_and_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_buffer(None, None, {}) == (None, 256 << 20)  # off by default
    assert resolve_buffer(None, None, {BUFFER_DIR_ENV: str(tmp_path), BUFFER_MAX_MB_ENV: "8"}) == (tmp_path, 8 << 20)
    assert resolve_buffer("off", None, {BUFFER_DIR_ENV: str(tmp_path)})[0] is None
    assert resolve_buffer("auto", None, {})[0] is not None
    with pytest.raises(ConfigError, match=BUFFER_MAX_MB_ENV):
        resolve_buffer(tmp_path, None, {BUFFER_MAX_MB_ENV: "lots"})
    handle = setup("buffered-app", "http://127.0.0.1:9", buffer_dir=tmp_path, buffer_max_mb=2)
    assert handle.processor is not None and handle.processor._buffer is not None
    assert handle.processor._buffer.directory == tmp_path / "buffered-app"
    assert handle.processor._buffer.max_bytes == 2 << 20
    handle.shutdown()
    monkeypatch.setenv(BUFFER_DIR_ENV, str(tmp_path / "env"))
    handle = setup("from-env", "http://127.0.0.1:9")
    assert handle.processor is not None and handle.processor._buffer is not None
    assert handle.processor._buffer.directory == tmp_path / "env" / "from-env"
    handle.shutdown()


def test_the_older_api_passes_the_buffer_through(tmp_path: Path) -> None:
    from otel_logging.compat.centralized_logging import configure_centralized_logging

    with pytest.warns(DeprecationWarning):
        handle = configure_centralized_logging("legacy-app", "127.0.0.1", 9, logging.INFO, buffer_dir=str(tmp_path))
    assert handle.processor is not None and handle.processor._buffer is not None
    assert handle.processor._buffer.directory == tmp_path / "legacy-app"
    handle.shutdown()
