"""A real three-node Elasticsearch cluster on 127.0.0.1 (``scripts/elasticsearch.sh start --node-name ...``).

Each node is its own process with its own run dir (data, logs, config), HTTP port and transport port; all
three are master-eligible, so the cluster keeps a master when any one of them is killed. ``kill9`` and
``start`` on one node (same ports, same data) are what the scale-out fault test does to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.es_fixtures import EsNode, run_script, stop_quietly
from tests.support.procs import free_port

START_TIMEOUT_S = 240.0  # three nodes forming a cluster on a loaded machine: longer than one node's start


@dataclass
class ClusterNode(EsNode):
    """An ``EsNode`` of the cluster, with its node name and transport port (its run dir keeps both)."""

    name: str
    transport_port: int

    def pid(self) -> int | None:
        try:
            return int((self.run_dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill9(self) -> None:
        pid = self.pid()
        assert pid is not None, f"node {self.name} has no pid file"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.name} (pid {pid}) still there 30 s after SIGKILL")
            time.sleep(0.05)

    def start(self, *cluster_args: str) -> None:
        """Start (or restart: the run dir keeps data, ports and cluster settings) without waiting for health, unlike
        ``EsNode.start``: a node waits for the others to form the cluster (``EsCluster.wait_for_nodes``)."""
        output = run_script(
            "start", "--version", self.version, "--run-dir", str(self.run_dir), "--port", str(self.port), *cluster_args
        )
        values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        self.version = values["version"]  # the release the major resolved to


class EsCluster:
    """Three master-eligible nodes of the pinned 8.x release; ``OTEL_LOGGING_ES_HEAP`` sets each heap."""

    def __init__(self, size: int = 3, version: str = "8") -> None:
        root = Path(tempfile.mkdtemp(prefix="otel-logging-es-cluster."))
        os.chmod(root, 0o755)
        self.nodes = []
        for i in range(size):
            port = free_port()
            self.nodes.append(
                ClusterNode(
                    url=f"http://127.0.0.1:{port}",
                    run_dir=root / f"node-{i + 1}",
                    port=port,
                    version=version,
                    name=f"node-{i + 1}",
                    transport_port=free_port(),
                )
            )
        self.root = root

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self) -> None:
        seeds = ",".join(f"127.0.0.1:{n.transport_port}" for n in self.nodes)
        masters = ",".join(n.name for n in self.nodes)

        def one(node: ClusterNode) -> None:
            node.run_dir.mkdir(parents=True)
            node.start(
                "--node-name",
                node.name,
                "--transport-port",
                str(node.transport_port),
                "--seed-hosts",
                seeds,
                "--initial-masters",
                masters,
            )

        # At once: a node's start waits (up to discovery.initial_state_timeout) for the others to form the cluster.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(one, self.nodes))
        self.wait_for_nodes(len(self.nodes), "green")

    def health(self) -> dict[str, Any] | None:
        """The cluster's health as the first node that answers gives it."""
        for node in self.nodes:
            health = node.cluster_health(timeout=2)
            if health is not None:
                return health
        return None

    def wait_for_nodes(self, count: int, status: str | None = None, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        ok = ("green",) if status == "green" else ("green", "yellow")
        while True:
            health = self.health()
            if health and health.get("number_of_nodes") == count and health.get("status") in ok:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(n.log_tail() for n in self.nodes)
                raise AssertionError(f"cluster not at {count} nodes ({status}) after {timeout:.0f}s: {health}\n{tails}")
            time.sleep(0.25)

    def master(self) -> str | None:
        for node in self.nodes:
            try:
                with urllib.request.urlopen(f"{node.url}/_cat/master?h=node", timeout=2) as response:
                    return response.read().decode().strip() or None
            except (OSError, urllib.error.URLError):
                continue
        return None

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: stop_quietly(n.run_dir), self.nodes))
        subprocess.run(["rm", "-rf", str(self.root)], check=False)
