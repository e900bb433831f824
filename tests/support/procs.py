"""Start real ``otel-logging serve`` processes and wait on conditions with deadlines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``condition`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition} (last: {last!r})")
        time.sleep(interval)


def metric_values(text: str, name: str, **labels: str) -> list[float]:
    """The values of ``name``'s samples in a Prometheus text (``/metrics``) whose labels include ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ") and all(w in line for w in wanted)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@dataclass
class ServeProcess:
    """A running ``otel-logging serve`` subprocess."""

    proc: subprocess.Popen[bytes]
    log_dir: Path
    grpc_port: int
    http_port: int | None
    stderr_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def app_file(self, app: str) -> Path:
        return self.log_dir / f"{app}.jsonl"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_serve(
    log_dir: Path, *extra: str, grpc_port: int = 0, http_port: int = 0, timeout: float = 30
) -> ServeProcess:
    """Start the service on 127.0.0.1 and wait for its ``listening`` announcement."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir.parent / f"serve-{time.monotonic_ns()}.stderr"
    args = [
        PYTHON,
        "-m",
        "otel_logging",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        "--log-dir",
        str(log_dir),
        *extra,
    ]
    stderr_file = open(stderr_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr_file, cwd=REPO, env=child_env())
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line or proc.poll() is not None:
            break
    if not line:
        proc.kill()
        raise AssertionError(f"serve did not start: {stderr_path.read_text(errors='replace')}")
    info = json.loads(line)
    grpc = int(info["grpc"].rsplit(":", 1)[1])
    http = int(info["http"].rsplit(":", 1)[1]) if info.get("http") else None
    return ServeProcess(proc, log_dir, grpc, http, stderr_path, args)


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for child processes: this repo importable, no stray OTEL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def json_of_script(code: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run a Python snippet in a fresh process (a benchmark's side) and return the JSON object on its last line;
    SystemExit with its stderr's tail when it fails."""
    result = run_app(code, *args, timeout=timeout, cmd_prefix=None)
    if result.returncode != 0:
        raise SystemExit(f"{args[0] if args else 'the script'} failed: {result.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def run_app(
    code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120, cmd_prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet as a separate app process and return its completed process."""
    command = [*(cmd_prefix or []), PYTHON, "-c", code, *args]
    return subprocess.run(command, env=env or child_env(), capture_output=True, text=True, timeout=timeout, cwd=REPO)


# Older name; prefer child_env (pytest would collect a module-level ``test_env`` import as a test).
test_env = child_env


def start_run_sh(tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """``scripts/run.sh`` (what ``make run`` starts) with this venv, logs under ``tmp_path`` and ``env`` (ports,
    retention), in its own process group as a terminal's foreground job; stdout piped, stderr in ``run.stderr``."""
    variables = {"BIN": str(Path(PYTHON).parent), "LOG_DIR": str(tmp_path / "logs"), **env}
    with open(tmp_path / "run.stderr", "wb") as stderr:  # the child keeps its own descriptor
        return subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run.sh")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
            env=child_env(**variables),
            start_new_session=True,
        )


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
