"""Owned threads: a Worker joins (or names the stuck thread), a WorkerPool stays within its size."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from otel_logging.worker import THREAD_PREFIX, Worker, WorkerPool, live_threads
from tests.support.logs import logger_records
from tests.support.procs import wait_for


@pytest.fixture
def worker_log() -> Iterator[list[logging.LogRecord]]:
    """The records of the worker's logger (``tests.support.logs``: not through ``caplog``)."""
    with logger_records("otel_logging.worker") as records:
        yield records


def test_worker_stops_and_joins() -> None:
    seen: list[str] = []
    worker = Worker("test-loop", lambda: seen.append(threading.current_thread().name) or worker.stopping.wait())
    assert worker.join(0.1)  # never started: nothing to wait for
    worker.start()
    wait_for(lambda: seen, timeout=10, what="the worker's target to run")
    assert seen == [THREAD_PREFIX + "test-loop"] and len(live_threads("test-loop")) == 1
    assert worker.close(timeout=10)
    assert not worker.is_alive() and live_threads("test-loop") == []
    with pytest.raises(RuntimeError):
        worker.start()


def test_worker_reports_a_stuck_target(worker_log: list[logging.LogRecord]) -> None:
    release = threading.Event()
    worker = Worker("test-stuck", lambda: release.wait(30))  # ignores ``stopping``
    worker.start()
    assert worker.close(timeout=0.2) is False
    assert worker.is_alive()
    assert any(THREAD_PREFIX + "test-stuck" in r.getMessage() for r in worker_log)
    release.set()
    assert worker.join(timeout=10)
    assert live_threads("test-stuck") == []


def test_worker_on_stop_wakes_a_blocked_target() -> None:
    gate = threading.Event()
    worker = Worker("test-wake", lambda: gate.wait(30), on_stop=gate.set)
    worker.start()
    assert worker.close(timeout=10)


def test_worker_logs_an_exception_of_its_target(worker_log: list[logging.LogRecord]) -> None:
    def boom() -> None:
        raise ValueError("boom")

    worker = Worker("test-boom", boom)
    worker.start()
    assert worker.join(timeout=10)
    assert any("test-boom" in r.getMessage() and r.exc_info for r in worker_log)


def test_pool_runs_every_task_on_at_most_size_threads() -> None:
    pool = WorkerPool("test-pool", 3)
    gate = threading.Event()
    running = 0
    peak = 0
    done: list[int] = []
    lock = threading.Lock()

    def task(i: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        gate.wait(30)
        with lock:
            running -= 1
            done.append(i)

    for i in range(50):
        pool.submit(task, i)
    wait_for(lambda: running == 3, timeout=10, what="three tasks running")
    assert len(live_threads("test-pool")) == 3
    gate.set()
    wait_for(lambda: len(done) == 50, timeout=10, what="every task")
    assert peak == 3 and sorted(done) == list(range(50))
    assert pool.close(timeout=10)
    assert live_threads("test-pool") == []
    with pytest.raises(RuntimeError):
        pool.submit(task, 0)


def test_a_task_submitted_while_every_thread_is_busy_gets_a_thread_of_its_own() -> None:
    pool = WorkerPool("test-busy", 2)
    gate = threading.Event()
    running: list[int] = []
    try:
        pool.submit(lambda: (running.append(1), gate.wait(30)))
        wait_for(lambda: running == [1], timeout=10, what="the first task")
        # the one thread is busy (a thread started for a task once counted itself idle: this one then waited)
        pool.submit(lambda: (running.append(2), gate.wait(30)))
        wait_for(lambda: running == [1, 2], timeout=10, what="the second task, beside the first")
        assert len(live_threads("test-busy")) == 2
    finally:
        gate.set()
        assert pool.close(timeout=10)


def test_pool_reuses_idle_threads_and_survives_a_failing_task(worker_log: list[logging.LogRecord]) -> None:
    pool = WorkerPool("test-reuse", 4)
    done: list[int] = []
    for i in range(20):  # one at a time: the one idle thread takes each
        pool.submit(done.append, i)
        wait_for(lambda i=i: len(done) == i + 1 and pool.idle == 1, timeout=10, what=f"task {i}, then idle")
    pool.submit(lambda: 1 // 0)
    wait_for(lambda: pool.idle == 1 and worker_log, timeout=10, what="the failing task, then idle")
    pool.submit(done.append, 99)
    wait_for(lambda: done[-1] == 99, timeout=10, what="the task after a failing one")
    assert len(live_threads("test-reuse")) == 1
    assert any("test-reuse" in r.getMessage() for r in worker_log)
    assert pool.close(timeout=10) and live_threads("test-reuse") == []


def test_pool_close_runs_what_was_submitted_then_joins() -> None:
    pool = WorkerPool("test-drain", 2)
    gate = threading.Event()
    done: list[int] = []
    for i in range(10):
        pool.submit(lambda i=i: (gate.wait(30), done.append(i)))
    closer = Worker("test-closer", lambda: pool.close(timeout=30))
    closer.start()
    gate.set()
    assert closer.join(timeout=30)
    assert sorted(done) == list(range(10)) and live_threads("test-drain") == []
