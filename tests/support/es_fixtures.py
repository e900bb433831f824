"""Real single-node Elasticsearch servers for the tests, started by ``scripts/elasticsearch.sh``.

Three session fixtures (registered in ``tests/integration/conftest.py``), each node started once per session
and stopped at its end:

- ``es_node``: Elasticsearch 8.x (the script's pinned 8.19.21), what most tests use;
- ``es_node_9``: Elasticsearch 9.x (the script's pinned 9.2.0, run on a Java 21+ found at run time);
- ``es_node_each``: parametrized over both (ids ``es8``, ``es9``), for the tests that must pass on every
  supported major; it hands out the same two nodes.

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
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch

from tests.support.procs import REPO

SCRIPT = REPO / "scripts" / "elasticsearch.sh"
START_TIMEOUT_S = 180.0
MAJORS = ("8", "9")  # the supported server majors; the script maps each to its pinned release


@dataclass
class EsNode:
    """A running node: ``url``, its run dir (data kept across ``stop``/``start``), port and version."""

    url: str
    run_dir: Path
    port: int
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def client(self) -> Elasticsearch:
        return Elasticsearch(self.url, request_timeout=60)

    def health(self) -> str | None:
        return (self.cluster_health() or {}).get("status")

    def cluster_health(self, timeout: float = 5) -> dict[str, Any] | None:
        """``GET /_cluster/health`` as this node answers it, or None if it does not."""
        try:
            with urllib.request.urlopen(f"{self.url}/_cluster/health", timeout=timeout) as response:
                return dict(orjson.loads(response.read()))
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def server_version(self) -> str | None:
        """The version the node itself reports (``GET /`` is absent from the test distribution)."""
        try:
            with urllib.request.urlopen(f"{self.url}/_nodes/_local?filter_path=nodes.*.version", timeout=5) as response:
                nodes = orjson.loads(response.read()).get("nodes", {})
        except (OSError, urllib.error.URLError, ValueError):
            return None
        return next((n.get("version") for n in nodes.values()), None)

    def stop(self) -> None:
        run_script("stop", "--run-dir", str(self.run_dir))
        if self.health() is not None:
            raise AssertionError(f"Elasticsearch at {self.url} still answers after stop")

    def start(self) -> None:
        """Start again on the same port with the same data."""
        run_script("start", "--version", self.version, "--run-dir", str(self.run_dir), "--port", str(self.port))
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.health() not in ("green", "yellow"):
            if time.monotonic() > deadline:
                pytest.fail(f"Elasticsearch at {self.url} not healthy after {START_TIMEOUT_S:.0f}s; {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        logs = sorted((self.run_dir / "logs").glob("*.log"))
        tail = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
        return f"logs in {self.run_dir / 'logs'}:\n{tail}"


def run_script(*args: str) -> str:
    """``scripts/elasticsearch.sh ARGS``: its output; the test fails with the script's errors if it fails."""
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=os.environ.copy()
    )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/elasticsearch.sh {' '.join(args)} failed (exit {result.returncode}): Elasticsearch is needed by "
            f"this test and could not be had.\n{result.stderr[-4000:]}"
        )
    return result.stdout


def start_node(version: str) -> EsNode:
    """Start a node of ``version`` (``X.Y.Z``, or a major: ``8``, ``9``) and wait until it is healthy."""
    output = run_script("start", "--version", version)
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    url = values["url"]
    node = EsNode(url=url, run_dir=Path(values["run_dir"]), port=int(url.rsplit(":", 1)[1]), version=values["version"])
    try:
        node.wait_healthy()
    except BaseException:  # never leave a node running that no fixture will stop
        stop_quietly(node.run_dir)
        raise
    return node


def stop_quietly(run_dir: Path) -> None:
    """Stop the node of ``run_dir`` when a test is already failing (errors ignored: the first failure is the one)."""
    subprocess.run(["bash", str(SCRIPT), "stop", "--run-dir", str(run_dir)], check=False, timeout=60)


def _session_node(version: str) -> Iterator[EsNode]:
    node = start_node(version)
    try:
        yield node
    finally:
        run_script("stop", "--run-dir", str(node.run_dir))
        subprocess.run(["rm", "-rf", str(node.run_dir)], check=False)


@pytest.fixture(scope="session")
def es_node() -> Iterator[EsNode]:
    """One Elasticsearch 8.x node for the session (tests use their own data streams: names unique per test)."""
    yield from _session_node("8")


@pytest.fixture(scope="session")
def es_node_9() -> Iterator[EsNode]:
    """One Elasticsearch 9.x node for the session."""
    yield from _session_node("9")


@pytest.fixture(scope="session", params=MAJORS, ids=[f"es{major}" for major in MAJORS])
def es_node_each(request: pytest.FixtureRequest) -> EsNode:
    """The node of each supported major in turn (the ``es_node`` and ``es_node_9`` nodes, not new ones)."""
    node: EsNode = request.getfixturevalue("es_node" if request.param == "8" else "es_node_9")
    assert node.major == int(request.param), f"asked for Elasticsearch {request.param}.x, got {node.version}"
    assert node.server_version() == node.version, f"{node.url} reports {node.server_version()}, not {node.version}"
    return node
