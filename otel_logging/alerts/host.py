"""The evaluator as a part of a process that already holds a ``LogSource``: ``otel-logging alerts run``, the
dashboard's server (``otel-logging dashboard --alerts``) and ``otel-logging store follow --alerts``.

The store is a DuckDB file that one process holds at a time, so alerts over the files are evaluated by the
process that holds the store (the dashboard's server, or the follower when no dashboard runs) on the very
store the page reads, not on a copy of their own (docs/alerts.md#where-the-rules-are-evaluated).
``AlertsHost`` owns the evaluator's thread and the optional ``/metrics`` server's thread; ``stop`` joins both.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from otel_logging.alerts import default_state_path
from otel_logging.alerts.notify import Emit
from otel_logging.alerts.runner import AlertsRunner
from otel_logging.alerts.state import StateFile
from otel_logging.dashboard.query import LogSource
from otel_logging.dashboard.saved_views import query_lookup

_print_lock = threading.Lock()


def emit_json_line(event: dict[str, Any], stream: TextIO | None = None) -> None:
    """One JSON line per event on ``stream`` (default: stdout): the evaluator's own log."""
    with _print_lock:
        print(json.dumps(event, default=str), file=stream or sys.stdout, flush=True)


def metrics_server(runner: AlertsRunner, port: int) -> ThreadingHTTPServer:
    """``GET /metrics`` on 127.0.0.1:``port`` (0: any free port): the runner's counters."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            data = runner.metrics_text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


class AlertsHost:
    """The rules of ``rules_path`` evaluated over ``source`` on a thread of this process.

    Constructing it reads the rule file (a ``RuleFileError`` names every problem) and the state; ``start``
    starts the evaluator (and the metrics server when ``metrics_port`` is given); ``stop`` ends and joins them.
    The source stays the caller's: it is neither refreshed outside the evaluator's ticks nor closed here.
    """

    def __init__(
        self,
        rules_path: Path,
        source: LogSource,
        log_dir: Path,
        *,
        dashboard_url: str,
        state_path: Path | None = None,
        emit: Emit = emit_json_line,
        metrics_port: int | None = None,
    ) -> None:
        log_dir = log_dir.resolve()
        self.runner = AlertsRunner(
            rules_path,
            source,
            StateFile((state_path or default_state_path(log_dir)).resolve()),
            emit,
            dashboard_url=dashboard_url,
            views=query_lookup(log_dir),
        )
        self.emit = emit
        self.failed = ""  # why the evaluator's thread ended on its own, if it did
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Bound now, so that a port in use is the caller's error at start (``OSError``), not a thread's.
        self._server = None if metrics_port is None else metrics_server(self.runner, metrics_port)
        self.metrics_url = "" if self._server is None else f"http://127.0.0.1:{self._server.server_address[1]}/metrics"

    def start(self) -> None:
        global _running
        if self._server is not None:
            self._start(self._server.serve_forever, "otel-logging-alerts-metrics")
            self.emit({"event": "metrics", "url": self.metrics_url})
        self._start(self._evaluate, "otel-logging-alerts")
        _running = self

    def _evaluate(self) -> None:
        try:
            self.runner.run(self._stop)
        except Exception as exc:  # a bug, not one rule's failure (the runner keeps those per rule): say so, stop
            self.failed = f"{type(exc).__name__}: {exc}"
            self.emit({"event": "evaluator_failed", "error": self.failed})
            self._stop.set()

    def _start(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def reload(self) -> None:
        """Read the rule file again at the next turn of the loop (what SIGHUP asks)."""
        self.runner.reload_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopped (or ``timeout``); whether it was."""
        return self._stop.wait(timeout)

    def request_stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler); ``stop`` joins."""
        self._stop.set()

    def stop(self) -> None:
        global _running
        self._stop.set()
        if self._server is not None:
            if self._threads:  # serving: shutdown waits for serve_forever to return
                self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if _running is self:
            _running = None

    @property
    def state_path(self) -> Path:
        return self.runner.state_file.path


_running: AlertsHost | None = None  # the host started in this process (the dashboard's panel looks at it)


def running_host() -> AlertsHost | None:
    """The evaluator this process runs, if any: the dashboard's server runs one with ``--alerts``."""
    return _running
