"""``make run`` (scripts/run.sh): the service and the dashboard start together, both addresses are printed,
and Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import group_alive, run_app, start_run_sh, wait_for

pytestmark = pytest.mark.integration


def test_run_starts_both_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    proc = start_run_sh(tmp_path, GRPC_PORT="0", HTTP_PORT="0", DASHBOARD_PORT="0")
    stderr_path = tmp_path / "run.stderr"
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # run.sh prints this once the dashboard answers
        match = re.search(r"Dashboard:\s+(http://127\.0\.0\.1:\d+)", line)
        assert match, f"{line!r}; stderr: {stderr_path.read_text(errors='replace')}"
        with urllib.request.urlopen(match.group(1) + "/_stcore/health", timeout=10) as response:
            assert response.status == 200
        service = re.search(
            r"OTLP/gRPC on 127\.0\.0\.1:(\d+), OTLP/HTTP on (http://\S+/v1/logs)", stderr_path.read_text()
        )
        assert service, stderr_path.read_text()
        health = service.group(2).replace("/v1/logs", "/healthz")
        with urllib.request.urlopen(health, timeout=10) as response:
            assert response.status == 200
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
        wait_for(lambda: not group_alive(proc.pid), timeout=30, what="service and dashboard to exit")
        assert "stopped cleanly" in stderr_path.read_text()
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


ERRORS = """
import logging, sys
import otel_logging
handle = otel_logging.setup("checkout", sys.argv[1])
for i in range(5):
    logging.getLogger("shop").error("payment %d failed", i)
assert handle.force_flush(30)
"""


def test_run_with_alerts_prints_the_alert_and_nothing_of_streamlits_own(tmp_path: Path) -> None:
    """``make run ALERTS=rules.toml``: the dashboard evaluates the rules and the terminal shows each alert as it
    fires, and no log line of Streamlit's (its server's start, a fragment warning)."""
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nname = "errors"\nquery = "level:error"\nwindow = "5m"\nevery = "1s"\ncount_above = 3\n')
    proc = start_run_sh(tmp_path, GRPC_PORT="0", HTTP_PORT="0", DASHBOARD_PORT="0", ALERTS=str(rules))
    stderr_path = tmp_path / "run.stderr"
    try:
        assert proc.stdout is not None
        assert "Dashboard:" in proc.stdout.readline().decode(), stderr_path.read_text(errors="replace")
        port = re.search(r"OTLP/gRPC on 127\.0\.0\.1:(\d+)", stderr_path.read_text())
        assert port, stderr_path.read_text()
        result = run_app(ERRORS, f"http://127.0.0.1:{port.group(1)}")
        assert result.returncode == 0, result.stderr
        line = proc.stdout.readline().decode()  # blocks until run.sh prints the alert (the test's timeout bounds it)
        alert = json.loads(line)
        assert (alert["event"], alert["status"], alert["rule"], alert["value"]) == ("alert", "firing", "errors", 5)
        assert "Uvicorn" not in stderr_path.read_text() and "Streamlit" not in stderr_path.read_text()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
