"""Mistakes a new user makes get a clear answer, with real processes.

An app (a subprocess calling ``otel_logging.setup``) against a real ``otel-logging serve``: a scheme-less
endpoint, TLS to the plaintext port, the OTLP/HTTP port given to gRPC, a closed port.
"""

from __future__ import annotations

import re
import textwrap
import time

import pytest

from tests.support.procs import ServeProcess, free_port, read_jsonl, run_app

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
    assert 4.0 < exit_wait < 9.0, exit_wait
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
