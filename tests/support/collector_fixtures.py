"""The OpenTelemetry Collector for integration tests: built once per session, run on free 127.0.0.1 ports."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import REPO, ServeProcess, free_port, metric_values, start_serve, wait_for

CONFIG_DIR = REPO / "collector-config"
BUILD_SCRIPT = REPO / "scripts" / "build-collector.sh"
BUILD_TIMEOUT_S = 30 * 60


def build_collector() -> Path:
    """Run scripts/build-collector.sh (a no-op when the cached binary matches the manifest)."""
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=REPO
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{BUILD_SCRIPT} failed with exit code {result.returncode}; its output ends with:\n"
            + "\n".join(result.stderr.splitlines()[-30:])
        )
    binary = Path(result.stdout.strip().splitlines()[-1])
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} printed {binary}, which is not an executable file")
    print(f"collector {binary} ready in {time.monotonic() - started:.1f} s")
    return binary


@pytest.fixture(scope="session", name="collector_binary")
def collector_binary_fixture() -> Path:
    return build_collector()


@dataclass
class CollectorProcess:
    """A running collector with its health check and Prometheus metrics on free ports."""

    proc: subprocess.Popen[bytes]
    health_port: int
    metrics_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"collector exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def metric(self, name: str, default: float | None = None) -> float:
        """Sum of a metric of the collector's own telemetry over all its label sets (``default`` if absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        values = metric_values(text, name)
        if not values:
            if default is not None:
                return default
            raise AssertionError(f"the collector reports no metric {name!r}")
        return sum(values)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` (an exporter still retrying an unreachable peer can hold
        the shutdown for minutes)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def start_collector(
    binary: Path, configs: list[str], env: Mapping[str, str], work_dir: Path, timeout: float = 30
) -> CollectorProcess:
    """Start the collector with ``collector-config/<configs>`` and wait until its health check answers 200."""
    work_dir.mkdir(parents=True, exist_ok=True)
    health_port, metrics_port = free_port(), free_port()
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health_port}",
        "OTELCOL_METRICS_PORT": str(metrics_port),
        **env,
    }
    log_path = work_dir / f"collector-{time.monotonic_ns()}.log"
    args = [str(binary)]
    for config in configs:
        args += ["--config", str(CONFIG_DIR / config)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=work_dir)
    collector = CollectorProcess(proc, health_port, metrics_port, log_path)
    try:
        wait_for(collector.healthy, timeout, what=f"collector {configs} health check on port {health_port}")
    except BaseException:
        collector.stop()
        raise
    # `validate` is silent about them: deprecated component names only show when the collector starts.
    deprecated = [line for line in collector.log().splitlines() if "deprecated" in line]
    if deprecated:
        collector.stop()
        raise AssertionError(f"collector {configs} warns: {deprecated}")
    return collector


RunCollector = Callable[[list[str], Mapping[str, str]], CollectorProcess]


@pytest.fixture(name="run_collector")
def run_collector_fixture(collector_binary: Path, tmp_path: Path) -> Iterator[RunCollector]:
    """``run_collector(configs, env)`` starts a collector that is stopped at the end of the test."""
    started: list[CollectorProcess] = []

    def run(configs: list[str], env: Mapping[str, str]) -> CollectorProcess:
        collector = start_collector(collector_binary, configs, env, tmp_path / "collector")
        started.append(collector)
        return collector

    yield run
    for collector in started:
        if collector.proc.poll() is None:
            collector.stop()


StartReceiver = Callable[..., ServeProcess]


@pytest.fixture(name="start_receiver")
def start_receiver_fixture() -> Iterator[StartReceiver]:
    """``start_receiver(log_dir, grpc_port=0)`` starts ``otel-logging serve``; all are stopped after the test."""
    started: list[ServeProcess] = []

    def start(log_dir: Path, grpc_port: int = 0) -> ServeProcess:
        receiver = start_serve(log_dir, grpc_port=grpc_port)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        if receiver.proc.poll() is None:
            receiver.stop()
