"""A real single-node Elasticsearch for the tests, started by ``scripts/elasticsearch.sh``.

Use it by importing the fixture into a test module (``from tests.support.es_fixtures import es_node``).
If Elasticsearch cannot be fetched or started, the tests that need it fail with the reason; they are
never skipped.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from tests.support.procs import REPO

SCRIPT = REPO / "scripts" / "elasticsearch.sh"
START_TIMEOUT_S = 180.0


@dataclass
class EsNode:
    """A running node: ``url``, its run dir (data kept across ``stop``/``start``) and port."""

    url: str
    run_dir: Path
    port: int

    def client(self) -> Elasticsearch:
        return Elasticsearch(self.url, request_timeout=60)

    def health(self) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.url}/_cluster/health", timeout=5) as response:
                return orjson.loads(response.read()).get("status")
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def stop(self) -> None:
        _script("stop", "--run-dir", str(self.run_dir))
        if self.health() is not None:
            raise AssertionError(f"Elasticsearch at {self.url} still answers after stop")

    def start(self) -> None:
        """Start again on the same port with the same data."""
        _script("start", "--run-dir", str(self.run_dir), "--port", str(self.port))
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.health() not in ("green", "yellow"):
            if time.monotonic() > deadline:
                pytest.fail(f"Elasticsearch at {self.url} not healthy after {START_TIMEOUT_S:.0f}s; {self._log_tail()}")
            time.sleep(0.2)

    def _log_tail(self) -> str:
        logs = sorted((self.run_dir / "logs").glob("*.log"))
        tail = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
        return f"logs in {self.run_dir / 'logs'}:\n{tail}"


def _script(*args: str) -> str:
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=os.environ.copy()
    )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/elasticsearch.sh {' '.join(args)} failed (exit {result.returncode}): Elasticsearch is needed by "
            f"this test and could not be had.\n{result.stderr[-4000:]}"
        )
    return result.stdout


def start_node() -> EsNode:
    output = _script("start")
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    url = values["url"]
    node = EsNode(url=url, run_dir=Path(values["run_dir"]), port=int(url.rsplit(":", 1)[1]))
    node.wait_healthy()
    return node


@pytest.fixture(scope="session")
def es_node() -> Iterator[EsNode]:
    """One Elasticsearch node for the session (tests use their own data streams: names unique per test)."""
    node = start_node()
    try:
        yield node
    finally:
        _script("stop", "--run-dir", str(node.run_dir))
        subprocess.run(["rm", "-rf", str(node.run_dir)], check=False)
