"""Mistakes a new user makes get a clear answer, with real processes.

An app (a subprocess calling ``otel_logging.setup``) against a real ``otel-logging serve``: a scheme-less
endpoint, TLS to the plaintext port, the OTLP/HTTP port given to gRPC, a closed port. ``serve``,
``dashboard`` and ``make run`` (scripts/run.sh) with a port taken; the service dying under ``make run``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import (
    PYTHON,
    REPO,
    ServeProcess,
    child_env,
    free_port,
    group_alive,
    read_jsonl,
    run_app,
    start_run_sh,
    wait_for,
)

pytestmark = pytest.mark.integration

# The app logs three records, waits (deadline 15 s) until otel-logging has reported a failed export on
# stderr, or until the records were delivered, and prints when; then exits and prints when it started to.
APP = textwrap.dedent(
    """
    import logging, sys, time, otel_logging

    class Tee:
        def __init__(self, inner):
            self.inner, self.text, self.first = inner, "", None
        def write(self, s):
            if self.first is None and "otel-logging:" in s:
                self.first = time.monotonic()
            self.text += s
            return self.inner.write(s)
        def flush(self):
            self.inner.flush()

    sys.stderr = tee = Tee(sys.stderr)
    handle = otel_logging.setup("mistake", sys.argv[1])
    started = time.monotonic()
    for i in range(3):
        logging.getLogger("app").info("record %d", i)
    deadline = started + 15
    while time.monotonic() < deadline and tee.first is None and handle.stats().exported < 3:
        time.sleep(0.05)
    if tee.first is not None:
        print(f"REPORTED_AFTER {tee.first - started:.2f}", flush=True)
    print("STATS", handle.stats(), flush=True)
    print(f"EXITING_AT {time.time():.3f}", flush=True)
    """
)


def run(endpoint: str) -> tuple[str, str, float]:
    """(stdout, stderr, seconds the app took to exit after its last line)."""
    result = run_app(APP, endpoint, timeout=90)
    ended = time.time()
    assert result.returncode == 0, result.stderr
    exiting = float(re.search(r"EXITING_AT (\S+)", result.stdout).group(1))  # type: ignore[union-attr]
    return result.stdout, result.stderr, ended - exiting


def test_scheme_less_loopback_endpoint_is_plaintext_and_delivers(serve: ServeProcess) -> None:
    stdout, stderr, exit_wait = run(f"127.0.0.1:{serve.grpc_port}")
    assert "otel-logging:" not in stderr and "Handshake" not in stderr, stderr
    assert "exported=3" in stdout and "dropped=0" in stdout
    assert [r["body"] for r in read_jsonl(serve.app_file("mistake"))] == [f"record {i}" for i in range(3)]
    assert exit_wait < 3, exit_wait


def _endpoints(serve: ServeProcess) -> dict[str, tuple[str, str]]:
    """mistake -> (endpoint, the cause the report must name)."""
    assert serve.http_port is not None
    return {
        "tls to the plaintext port": (
            f"https://127.0.0.1:{serve.grpc_port}",
            f"the TLS handshake with 127.0.0.1:{serve.grpc_port} failed: the port probably serves plaintext gRPC",
        ),
        "the http port": (
            f"127.0.0.1:{serve.http_port}",
            f"127.0.0.1:{serve.http_port} answers HTTP/1.1, not gRPC: it looks like an OTLP/HTTP port",
        ),
        "a closed port": (
            f"127.0.0.1:{(closed := free_port())}",
            f"connection refused: nothing listens on 127.0.0.1:{closed}",
        ),
    }


@pytest.mark.parametrize("mistake", ["tls to the plaintext port", "the http port", "a closed port"])
def test_a_wrong_endpoint_is_reported_once_early_and_exit_waits_only_the_short_default(
    serve: ServeProcess, mistake: str
) -> None:
    endpoint, cause = _endpoints(serve)[mistake]
    stdout, stderr, exit_wait = run(endpoint)

    reported = re.search(r"REPORTED_AFTER (\S+)", stdout)
    assert reported, f"nothing reported while the app ran; stderr: {stderr}"
    assert float(reported.group(1)) < 5.0  # within a few seconds of the first record
    assert stderr.count(f"otel-logging: cannot export logs to {endpoint}: {cause}") == 1, stderr
    assert stderr.count("otel-logging: cannot export") == 1
    # Exit waits export_timeout_ms (default 5 s), not 30 s; what it gave up on is counted.
    assert 4.0 < exit_wait < 12.0, exit_wait
    assert f"otel-logging: 3 log record(s) were dropped in this process, 0 exported to {endpoint}." in stderr
    assert "not delivered within the exit wait of 5 s (export_timeout_ms / OTEL_BLRP_EXPORT_TIMEOUT)" in stderr
    assert "unreachable" not in stderr
    assert read_jsonl(serve.app_file("mistake")) == []


def test_the_exit_wait_is_one_setting(serve: ServeProcess) -> None:
    """OTEL_BLRP_EXPORT_TIMEOUT (or export_timeout_ms=) bounds how long exit waits for delivery."""
    closed = free_port()
    started = time.monotonic()
    result = run_app(
        "import logging, sys, otel_logging\n"
        "otel_logging.setup('mistake', sys.argv[1], export_timeout_ms=1000)\n"
        "logging.getLogger().warning('lost')\n",
        f"127.0.0.1:{closed}",
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "1 log record(s) were dropped in this process" in result.stderr
    assert "within the exit wait of 1 s" in result.stderr
    assert took < 5.0, took  # interpreter start + 1 s, not 5 s or 30 s


# -- a port taken: one line, exit 2, nothing started ---------------------------------------------------
@contextlib.contextmanager
def occupied_port() -> Iterator[int]:
    """A port another program listens on (this test process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    ("flag", "what"),
    [("--port", "--port, OTLP/gRPC on 127.0.0.1"), ("--http-port", "--http-port, OTLP/HTTP on 127.0.0.1")],
)
def test_serve_with_a_port_taken_says_so_in_one_line(tmp_path: Path, flag: str, what: str) -> None:
    with occupied_port() as port:
        ports = {"--port": "0", "--http-port": "0", flag: str(port)}
        result = subprocess.run(
            [PYTHON, "-m", "otel_logging", "serve", "--host", "127.0.0.1", *itertools.chain(*ports.items()),
             "--log-dir", str(tmp_path / "logs")],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=child_env(),
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"otel-logging serve: port {port} is in use ({what}); stop what listens there or choose another port"
    ]
    assert not (tmp_path / "logs").exists()


def test_dashboard_with_its_port_taken_says_so_and_does_not_report_the_other_program(tmp_path: Path) -> None:
    with occupied_port() as port:
        result = subprocess.run(
            [PYTHON, "-m", "otel_logging", "dashboard", "--port", str(port), "--log-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=child_env(),
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""  # no "listening" announcement
    assert result.stderr.splitlines() == [
        f"otel-logging dashboard: port {port} is in use (--port, the dashboard on 127.0.0.1); "
        "stop what listens there or choose another port"
    ]


@pytest.mark.parametrize(
    ("variable", "what"),
    [
        ("GRPC_PORT", "the service's OTLP/gRPC"),
        ("HTTP_PORT", "the service's OTLP/HTTP"),
        ("DASHBOARD_PORT", "the dashboard"),
    ],
)
def test_make_run_with_a_port_taken_starts_nothing_and_says_which(tmp_path: Path, variable: str, what: str) -> None:
    with occupied_port() as port:
        ports = {"GRPC_PORT": "0", "HTTP_PORT": "0", "DASHBOARD_PORT": "0", variable: str(port)}
        proc = start_run_sh(tmp_path, RETAIN_AGE="", **ports)
        try:
            assert proc.wait(timeout=60) == 2
        finally:
            if group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.stdout is not None and proc.stdout.read() == b""
    assert (tmp_path / "run.stderr").read_text().splitlines() == [
        f"make run: port {port} is in use ({variable}, {what}); stop what listens there or choose another: "
        f"make run {variable}=<port>"
    ]
    assert not (tmp_path / "logs").exists()  # nothing half-started
    assert not group_alive(proc.pid)


def _serve_pid(pgid: int) -> int:
    """The ``otel-logging serve`` process in run.sh's process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[2]) == pgid and b"serve" in cmdline and b"bash" not in cmdline[0]:
            return int(stat.parent.name)
    return 0


def test_make_run_stops_the_dashboard_and_says_why_when_the_service_dies(tmp_path: Path) -> None:
    proc = start_run_sh(tmp_path, RETAIN_AGE="", GRPC_PORT="0", HTTP_PORT="0", DASHBOARD_PORT="0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"Dashboard:\s+(http://127\.0\.0\.1:\d+)", line)
        assert match, f"{line!r}; stderr: {(tmp_path / 'run.stderr').read_text(errors='replace')}"
        serve_pid = wait_for(lambda: _serve_pid(proc.pid), timeout=10, what="the service's process")
        os.kill(serve_pid, signal.SIGKILL)  # the service dies
        assert proc.wait(timeout=60) == 1
        wait_for(lambda: not group_alive(proc.pid), timeout=30, what="the dashboard to be stopped")
        stderr = (tmp_path / "run.stderr").read_text()
        assert "make run: the service (otel-logging serve) exited unexpectedly (killed by signal 9); " in stderr
        assert "stopping the dashboard" in stderr
        with pytest.raises(OSError):
            urllib.request.urlopen(match.group(1) + "/_stcore/health", timeout=5)
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


# -- aggregate: secrets masked as on the app side; a missing path creates nothing ----------------------------
def _aggregate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "otel_logging", "aggregate", "--app", "legacy", *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=child_env(OTEL_LOGGING_STATE_DIR=str(tmp_path / "state")),
    )  # fmt: skip


def test_aggregate_masks_secrets_by_default_and_no_redact_keeps_them(tmp_path: Path) -> None:
    logs = tmp_path / "old"
    logs.mkdir()
    (logs / "app.log").write_text(  # stdlib lines (the native reader's path, when installed)
        "2026-12-03 05:00:00,123 - auth - INFO - login ok password=SuperSecret123 user=ann\n"
        "2026-12-03 05:00:01,000 - auth - INFO - header Authorization: Bearer abcdefghijklmnop\n"
    )
    (logs / "app.jsonl").write_text(  # JSON lines with a sensitive key
        '{"timestamp": "2026-12-03T05:00:02Z", "level": "INFO", "message": "charged", "api_key": "k-123456"}\n'
    )
    result = _aggregate(tmp_path, str(logs), "--log-dir", "masked")
    assert result.returncode == 0, result.stderr
    assert "otel-logging aggregate: 3 records from 2 files (0 failed)" in result.stderr
    text = (tmp_path / "masked" / "legacy.jsonl").read_text()
    assert "SuperSecret123" not in text and "abcdefghijklmnop" not in text and "k-123456" not in text
    records = read_jsonl(tmp_path / "masked" / "legacy.jsonl")
    bodies = sorted(str(r["body"]) for r in records)
    assert "login ok password=[REDACTED] user=ann" in bodies
    assert "header Authorization: Bearer [REDACTED]" in bodies
    assert [r["attributes"]["api_key"] for r in records if r["body"] == "charged"] == ["[REDACTED]"]

    kept = _aggregate(tmp_path, str(logs), "--log-dir", "raw", "--no-redact", "--checkpoint", "raw.checkpoint")
    assert kept.returncode == 0, kept.stderr
    assert "password=SuperSecret123" in (tmp_path / "raw" / "legacy.jsonl").read_text()


def test_aggregate_of_a_missing_path_creates_nothing_and_says_so(tmp_path: Path) -> None:
    result = _aggregate(tmp_path, "nope.log")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "otel-logging aggregate: nothing to read: nope.log: no such file or directory; nothing was written"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no ./logs, no checkpoint state

    (tmp_path / "one.log").write_text("2026-12-03 05:00:00,123 - a - INFO - hello\n")
    result = _aggregate(tmp_path, "one.log")
    assert result.returncode == 0, result.stderr
    assert "otel-logging aggregate: 1 record from 1 file (0 failed)" in result.stderr
