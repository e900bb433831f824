"""``AlertsHost``: the evaluator as threads of a process that holds the source (dashboard, store follow)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from otel_logging.alerts.host import AlertsHost
from otel_logging.dashboard.sources.files import FileSource
from tests.support.procs import wait_for
from tests.unit.alerts.support import NOW, burst, write_records

RULES = '[[rule]]\nname = "errors"\nquery = "level:error"\nwindow = "7d"\nevery = "1s"\ncount_above = 0\n'


class Broken(FileSource):
    def refresh(self, force: bool = False, progress: Any = None) -> Any:
        raise RuntimeError("disk on fire")


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("otel-logging-alerts")}


def test_the_host_evaluates_on_the_callers_source_and_joins_its_threads(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    write_records(log_dir, "shop", burst(NOW, 3))
    (tmp_path / "alerts.toml").write_text(RULES)
    events: list[dict[str, Any]] = []
    source = FileSource(log_dir)
    host = AlertsHost(
        tmp_path / "alerts.toml", source, log_dir, dashboard_url="http://x", emit=events.append, metrics_port=0
    )
    host.start()
    wait_for(lambda: [e for e in events if e.get("status") == "firing"], timeout=30, what="the rule firing")
    with urlopen(host.metrics_url, timeout=10) as response:
        assert 'otel_logging_alerts_rule_firing{rule="errors"} 1' in response.read().decode()
    assert _threads() == {"otel-logging-alerts", "otel-logging-alerts-metrics", "otel-logging-alerts-delivery"}
    host.stop()
    assert _threads() == set() and host.failed == ""
    assert source.refresh(force=True).records == 3  # the caller's source stays open
    source.close()


def test_an_evaluator_that_fails_says_so_and_stops(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    write_records(log_dir, "shop", burst(NOW, 1))
    (tmp_path / "alerts.toml").write_text(RULES)
    events: list[dict[str, Any]] = []
    source = Broken(log_dir)
    host = AlertsHost(tmp_path / "alerts.toml", source, log_dir, dashboard_url="http://x", emit=events.append)
    host.start()
    assert host.wait(30), "the host did not stop after its evaluator failed"
    assert host.failed == "RuntimeError: disk on fire"
    assert {"event": "evaluator_failed", "error": "RuntimeError: disk on fire"} in events
    host.stop()
    assert _threads() == set()
    source.close()


def test_a_metrics_port_in_use_is_refused_when_the_host_is_made(tmp_path: Path) -> None:
    """The caller gets the OSError before anything starts (the commands print it as one line, exit 1)."""
    import socket

    log_dir = tmp_path / "logs"
    write_records(log_dir, "shop", burst(NOW, 1))
    (tmp_path / "alerts.toml").write_text(RULES)
    source = FileSource(log_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            AlertsHost(tmp_path / "alerts.toml", source, log_dir, dashboard_url="http://x", metrics_port=port)
    assert _threads() == set()
    source.close()
