"""Threads with owners: a ``Worker`` (one thread) and a ``WorkerPool`` (at most N threads fed by a task queue).

Whoever creates one starts it, stops it and joins it with a timeout in its own ``close()``; ``join`` says
whether the thread ended, and logs the one that did not (a stuck thread is named, not waited on forever).
Every thread started here is named ``otel-logging.<name>`` (``THREAD_PREFIX``), so the threads of the
service can be told apart from anyone else's (``live_threads()``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("otel_logging.worker")

THREAD_PREFIX = "otel-logging."


def live_threads(name: str = "") -> list[threading.Thread]:
    """The live threads started by a ``Worker`` or a ``WorkerPool`` (whose name is ``name``, if given)."""
    wanted = THREAD_PREFIX + name
    return [
        t
        for t in threading.enumerate()
        if t.is_alive() and (t.name == wanted if name else t.name.startswith(THREAD_PREFIX))
    ]


class Worker:
    """One daemon thread running ``target()``: ``start()``, ``stop()``, ``join(timeout) -> bool``.

    ``target`` should return soon after ``stopping`` is set (it may wait on it: ``worker.stopping.wait(s)``);
    ``on_stop`` is called by ``stop()`` to wake a target blocked elsewhere (closing a socket, a queue).
    An exception in ``target`` is logged, not lost.
    """

    def __init__(self, name: str, target: Callable[[], Any], *, on_stop: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._target = target
        self._on_stop = on_stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"worker {self.name} was started already")
            self._thread = threading.Thread(target=self._run, name=THREAD_PREFIX + self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._target()
        except Exception:
            _log.exception("worker %s failed", self.name)

    @property
    def started(self) -> bool:
        return self._thread is not None

    def is_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Ask the target to return (sets ``stopping``, calls ``on_stop``); does not wait."""
        self.stopping.set()
        if self._on_stop is not None:
            self._on_stop()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; True if it ended (or never started)."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(max(0.0, timeout))
        if thread.is_alive():
            _log.warning("thread %s did not end within %.1fs; left running (daemon)", thread.name, timeout)
            return False
        return True

    def close(self, timeout: float) -> bool:
        """``stop()`` then ``join(timeout)``."""
        self.stop()
        return self.join(timeout)


_Task = tuple[Callable[..., Any], tuple[Any, ...]]


class WorkerPool:
    """At most ``size`` threads running submitted tasks in order of submission; threads start when needed.

    ``close(timeout)`` lets the tasks already submitted run (they are ahead of the stop marks), then joins
    the threads; after it ``submit`` raises ``RuntimeError``. A task's exception is logged, not lost.
    """

    def __init__(self, name: str, size: int) -> None:
        if size < 1:
            raise ValueError(f"worker pool {name}: size must be at least 1, not {size}")
        self.name = name
        self.size = size
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._workers: list[Worker] = []
        self._idle = 0  # threads waiting for a task and not yet claimed by a submitted one
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def idle(self) -> int:
        """Threads waiting for a task (a task submitted now goes to one of them rather than a new thread)."""
        with self._lock:
            return self._idle

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"worker pool {self.name} is closed")
            self._tasks.put((fn, args))
            if self._idle > 0:
                self._idle -= 1  # an idle thread takes it
            elif len(self._workers) < self.size:
                worker = Worker(self.name, self._serve)
                self._workers.append(worker)
                worker.start()

    def _serve(self) -> None:
        idle = False  # a thread is started for a task submitted with no thread idle: that one is its first
        while True:
            if idle:
                with self._lock:
                    self._idle += 1
            idle = True
            task = self._tasks.get()
            if task is None:
                return
            fn, args = task
            try:
                fn(*args)
            except Exception:
                _log.exception("worker pool %s: a task failed", self.name)

    def close(self, timeout: float) -> bool:
        """Run what was submitted, end the threads; True if every thread ended within ``timeout``."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            for _ in workers:
                self._tasks.put(None)
        deadline = time.monotonic() + timeout
        ended = True
        for worker in workers:
            ended = worker.join(deadline - time.monotonic()) and ended
        return ended
