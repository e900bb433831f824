"""Scale-out, proven with nodes killed: 16 apps -> a collector gateway -> 3 receivers -> a 3-node Elasticsearch cluster.

The topology of docs/scaling-out.md, all on 127.0.0.1: the gateway runs collector-config/scale-out.yaml
(load_balancing by service, its sending queue in file_storage), three ``otel-logging serve`` each with its own
log dir and every node's URL, and three Elasticsearch processes (all master-eligible, one replica per shard).
While the apps send, one receiver is killed with SIGKILL and restarted 30 s later on the same port, one
Elasticsearch node (not the master) is killed and restarted 60 s later, and the gateway is killed and restarted.
Afterwards every record is in exactly one receiver's file of its app, the cluster holds each record once (by
service and by document id), and the dashboard's Elasticsearch source counts what the files hold. The figures
are printed as a table (``-s``), one line per fault.

``OTEL_LOGGING_SCALE_OUT_RECORDS`` (default 1,000,000) changes how many records the 16 apps send in all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource
from otel_logging.sinks.elasticsearch import document_id
from tests.support.collector_fixtures import (  # noqa: F401 - the fixture is used by name
    CollectorProcess,
    collector_binary_fixture,
    start_collector,
)
from tests.support.es_cluster import EsCluster
from tests.support.procs import (
    ServeProcess,
    child_env,
    count_lines,
    free_port,
    metric_values,
    start_serve,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.heavy, pytest.mark.timeout(1800)]

APPS = [f"shop-{k:02d}" for k in range(16)]
RECORDS = int(os.environ.get("OTEL_LOGGING_SCALE_OUT_RECORDS", "1000000"))
RECEIVER_DOWN_S = 30.0
ES_NODE_DOWN_S = 60.0
MAX_DUPLICATE_SHARE = 0.0001  # 0.01 %

APP = textwrap.dedent(
    """
    import logging, sys, otel_logging
    name, endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The queue holds everything the app logs while the gateway is down (nothing is dropped).
    h = otel_logging.setup(name, endpoint, max_queue_size=count)
    log = logging.getLogger(name)
    for seq in range(count):
        log.info("order %d placed", seq, extra={"seq": seq})
    flushed = h.force_flush(900_000)
    s = h.stats()
    print(f"APP flushed={flushed} exported={s.exported} dropped={s.dropped}", flush=True)
    """
)


def metrics_text(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except (OSError, urllib.error.URLError):
        return ""


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples of a Prometheus text whose labels include ``labels``."""
    return sum(metric_values(text, name, **labels))


@dataclass
class Receiver:
    """One ``otel-logging serve`` on fixed ports (so it can be restarted where the gateway expects it)."""

    log_dir: Path
    es_urls: list[str]
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    serve: ServeProcess | None = None

    def start(self) -> None:
        es_args = [arg for url in self.es_urls for arg in ("--es-url", url)]
        self.serve = start_serve(
            self.log_dir, "--drop-replayed-writes", *es_args, grpc_port=self.grpc_port, http_port=self.http_port
        )

    def kill9(self) -> None:
        assert self.serve is not None
        self.serve.proc.kill()
        self.serve.proc.wait(30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def app_files(self, app: str) -> list[Path]:
        if not self.log_dir.exists():
            return []
        return sorted(p for p in self.log_dir.iterdir() if p.is_file() and p.name.startswith(f"{app}.jsonl"))

    def lines(self) -> int:
        return sum(count_lines(path) for app in APPS for path in self.app_files(app))

    def apps(self) -> list[str]:
        return [app for app in APPS if self.app_files(app)]


@dataclass
class Fault:
    name: str
    scope: str
    apps: list[str]
    killed_at: float = 0.0
    restarted_at: float = 0.0
    recovered_at: float = 0.0
    note: str = ""

    @property
    def recovery_s(self) -> float:
        return self.recovered_at - self.restarted_at if self.recovered_at else float("nan")


def progress(text: str) -> None:
    print(f"SCALE-OUT {time.strftime('%H:%M:%S')} {text}", flush=True)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    wait_for(condition, timeout, interval=0.1, what=what)
    return time.monotonic()


def file_contents(receivers: list[Receiver]) -> tuple[dict[str, list[int]], dict[str, list[int]], set[str], int]:
    """Per app: the seq numbers in the files (with repeats), which receivers hold its files; the document ids of
    the distinct lines; lines that are not records."""
    seqs: dict[str, list[int]] = {app: [] for app in APPS}
    holders: dict[str, list[int]] = {app: [] for app in APPS}
    ids: set[str] = set()
    torn = 0
    for n, receiver in enumerate(receivers):
        for app in APPS:
            paths = receiver.app_files(app)
            if paths:
                holders[app].append(n)
            for path in paths:
                with open(path, "rb") as f:
                    for line in f:
                        try:
                            seqs[app].append(int(orjson.loads(line)["attributes"]["seq"]))
                        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                            torn += 1
                            continue
                        ids.add(document_id(line))
    return seqs, holders, ids, torn


def test_three_receivers_and_a_three_node_cluster_lose_nothing_when_nodes_are_killed(
    collector_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    # Not pytest's tmp_path: other pytest sessions of the same user remove all but their 3 newest base dirs,
    # this one's too while it runs (minutes). Removed at the end when the test passes.
    tmp_path = Path(tempfile.mkdtemp(prefix="otel-logging-scale-out."))
    passed = False
    per_app = RECORDS // len(APPS)
    sent = per_app * len(APPS)
    monkeypatch.setenv(
        "OTEL_LOGGING_ES_HEAP", os.environ.get("OTEL_LOGGING_ES_HEAP", "512m")
    )  # 256m: GC took 60 % of the CPU
    cluster = EsCluster(3)
    receivers: list[Receiver] = []
    gateway: CollectorProcess | None = None
    apps: list[subprocess.Popen[str]] = []
    try:
        cluster.start()
        cluster_ready_s = time.monotonic() - started
        progress(f"cluster ready in {cluster_ready_s:.0f} s")
        receivers = [Receiver(tmp_path / f"receiver-{n + 1}", cluster.urls) for n in range(3)]
        for receiver in receivers:
            receiver.start()
        queue_dir = tmp_path / "gateway-queue"
        queue_dir.mkdir()
        grpc_port = free_port()
        gateway_env = {
            "LB_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
            "LB_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "LB_QUEUE_DIR": str(queue_dir),
            "LB_RECEIVERS": "[" + ", ".join(f"127.0.0.1:{r.grpc_port}" for r in receivers) + "]",
        }
        gateway = start_collector(collector_binary, ["scale-out.yaml"], gateway_env, tmp_path / "gateway")

        load_started = time.monotonic()
        apps = [
            subprocess.Popen(
                [sys.executable, "-c", APP, app, f"http://127.0.0.1:{grpc_port}", str(per_app)],
                env=child_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for app in APPS
        ]

        def in_files() -> int:
            return sum(r.lines() for r in receivers)

        # -- the faults, overlapping, while the apps send -----------------------------------------------------
        wait_for(lambda: in_files() >= sent // 10, 600, interval=0.2, what=f"{sent // 10} records in the files")
        victim = max(receivers, key=lambda r: len(r.apps()))
        victim_apps = victim.apps()
        receiver_fault = Fault("receiver kill -9", f"the {len(victim_apps)} apps of {victim.log_dir.name}", victim_apps)
        victim.kill9()
        receiver_fault.killed_at = time.monotonic()
        receiver_files_at_kill = in_files()

        master = cluster.master()
        es_victim = next(n for n in cluster.nodes if n.name != master)
        es_fault = Fault("Elasticsearch node kill -9", f"{es_victim.name} (master: {master}); all apps", APPS)
        es_client = Elasticsearch(cluster.urls, request_timeout=60)
        es_count_at_kill = es_client.count(index="logs-*")["count"]  # after the kill, searches fail for a while
        es_victim.kill9()
        es_fault.killed_at = time.monotonic()

        wait_until(lambda: time.monotonic() - receiver_fault.killed_at >= RECEIVER_DOWN_S, 60, "the receiver's 30 s")
        before_restart = victim.lines()
        victim.start()
        receiver_fault.restarted_at = time.monotonic()
        receiver_fault.recovered_at = wait_until(
            lambda: victim.lines() > before_restart, 300, f"a record on {victim.log_dir.name} after its restart"
        )
        progress(f"receiver {victim.log_dir.name} back, recovery {receiver_fault.recovery_s:.1f} s")

        gateway_fault = Fault("gateway kill -9", "all apps", APPS)
        gateway_files_at_kill = in_files()
        gateway.proc.kill()
        gateway.proc.wait(30)
        gateway_fault.killed_at = time.monotonic()
        gateway = start_collector(collector_binary, ["scale-out.yaml"], gateway_env, tmp_path / "gateway")
        gateway_fault.restarted_at = time.monotonic()
        restarted_gateway = gateway
        gateway_fault.recovered_at = wait_until(
            lambda: (
                restarted_gateway.metric("otelcol_receiver_accepted_log_records", default=0) > 0
                or restarted_gateway.metric("otelcol_exporter_sent_log_records", default=0) > 0
            ),
            300,
            "the restarted gateway accepting or sending records",
        )
        replayed_queue = restarted_gateway.metric("otelcol_exporter_sent_log_records", default=0)
        progress(f"gateway back, recovery {gateway_fault.recovery_s:.1f} s")

        wait_until(lambda: time.monotonic() - es_fault.killed_at >= ES_NODE_DOWN_S, 120, "the node's 60 s")

        def node_ok() -> float:
            texts = [metrics_text(r.url) for r in receivers]
            return sum(
                metric_sum(t, "otel_logging_sink_node_requests_total", node=es_victim.url)
                - metric_sum(t, "otel_logging_sink_node_errors_total", node=es_victim.url)
                for t in texts
            )

        node_errors = sum(
            metric_sum(metrics_text(r.url), "otel_logging_sink_node_errors_total", node=es_victim.url)
            for r in receivers
        )
        ok_before = node_ok()
        es_fault.restarted_at = time.monotonic()
        es_victim.start()
        # Back: in the cluster again (its shard copies recover from there). The receivers send to it again once
        # their client's timeout for it has passed, if they still have records to send by then.
        es_fault.recovered_at = wait_until(
            lambda: (cluster.health() or {}).get("number_of_nodes") == 3, 600, f"{es_victim.name} back in the cluster"
        )
        es_fault.note = (
            f"{es_victim.name} process up {es_fault.recovered_at - es_fault.restarted_at:.0f} s after its start"
        )
        try:
            first_bulk = wait_until(lambda: node_ok() > ok_before, 60, f"a bulk request answered by {es_victim.name}")
            es_fault.note += f", first bulk request answered by it {first_bulk - es_fault.restarted_at:.0f} s after"
        except AssertionError:
            es_fault.note += ", no bulk request answered by it within 60 s of that (the receivers had none to send?)"

        # -- everything arrives ---------------------------------------------------------------------------
        for app, proc in zip(APPS, apps, strict=True):
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"{app}: {err[-3000:]}"
            assert "flushed=True" in out and "dropped=0" in out, f"{app}: {out} {err[-2000:]}"
        load_s = time.monotonic() - load_started
        progress(f"apps done in {load_s:.0f} s; {es_fault.note}")
        wait_for(lambda: in_files() >= sent, 600, interval=0.5, what=f"{sent} records in the receivers' files")

        def es_total() -> int:
            try:
                es_client.indices.refresh(index="logs-*")
                return int(es_client.count(index="logs-*")["count"])
            except Exception:  # a node still recovering: ask again
                return -1

        progress(f"all {sent} in the files; waiting for Elasticsearch")
        wait_for(lambda: es_total() >= sent, 900, interval=1.0, what=f"{sent} documents in Elasticsearch")
        cluster.wait_for_nodes(3, "green", 300)
        drained_s = time.monotonic() - load_started

        seqs, holders, file_ids, torn = file_contents(receivers)
        by_service = es_client.search(index="logs-*", size=0, aggs={"s": {"terms": {"field": "service", "size": 100}}})
        es_by_service = {b["key"]: b["doc_count"] for b in by_service["aggregations"]["s"]["buckets"]}
        es_ids = [hit["_id"] for hit in helpers.scan(es_client, index="logs-*", _source=False, size=5000)]
        dashboard = ElasticsearchSource(cluster.urls[0])
        dashboard_counts = {app: dashboard.count(LogFilter(apps=(app,))) for app in APPS}
        dashboard.close()
        node_samples = [
            line
            for line in metrics_text(receivers[0].url).splitlines()
            if line.startswith("otel_logging_sink_node_") and es_victim.url in line
        ]

        # -- the table -------------------------------------------------------------------------------------
        def row(fault: Fault) -> str:
            app_sent = per_app * len(fault.apps)
            files = sum(len(seqs[a]) for a in fault.apps)
            unique = sum(len(set(seqs[a])) for a in fault.apps)
            es = sum(es_by_service.get(a, 0) for a in fault.apps)
            return (
                f"| {fault.name:<27} | {fault.scope:<40} | {app_sent:>9,} | {unique:>9,} | {es:>9,} | "
                f"{files - unique:>5} | {fault.recovery_s:>6.1f} s |"
            )

        total_lines = sum(len(s) for s in seqs.values())
        total_unique = sum(len(set(s)) for s in seqs.values())
        table = [
            f"SCALE-OUT {sent:,} records from {len(APPS)} apps; cluster ready in {cluster_ready_s:.0f} s; "
            f"apps done in {load_s:.0f} s; all in ES {drained_s:.0f} s after the apps started",
            "| fault                       | records of                               |      sent |  in files "
            "|     in ES | dups. | recovery |",
            row(receiver_fault),
            row(es_fault),
            row(gateway_fault),
            f"| {'total':<27} | {'':<40} | {sent:>9,} | {total_unique:>9,} | {sum(es_by_service.values()):>9,} | "
            f"{total_lines - total_unique:>5} |          |",
            f"at the kills: {receiver_files_at_kill:,} in files (receiver), {es_count_at_kill:,} in ES (node), "
            f"{gateway_files_at_kill:,} in files (gateway); the restarted gateway sent {replayed_queue:,.0f} "
            f"records by the time it was seen working; {es_fault.note}; node errors seen by the receivers "
            f"while it was down: {node_errors:.0f}",
            "receiver-1 /metrics for the killed node: " + "; ".join(node_samples),
            f"apps per receiver: { {r.log_dir.name: r.apps() for r in receivers} }",
        ]
        print("\n".join(table))

        # -- the assertions --------------------------------------------------------------------------------
        assert receiver_files_at_kill < sent and gateway_files_at_kill < sent, "a fault came after the load"
        assert es_count_at_kill < sent, "the node was killed after everything was in Elasticsearch"
        assert receiver_fault.apps, "the killed receiver held no app"
        assert torn == 0
        for app in APPS:
            assert len(holders[app]) == 1, f"{app} has files on receivers {holders[app]}"
            missing = set(range(per_app)) - set(seqs[app])
            assert not missing, f"{app}: {len(missing)} records missing from the files, e.g. {sorted(missing)[:5]}"
        duplicates = total_lines - total_unique
        assert duplicates <= sent * MAX_DUPLICATE_SHARE, f"{duplicates} duplicates in the files"
        assert es_by_service == {app: per_app for app in APPS}, es_by_service
        replicas = es_client.indices.get_settings(index="logs-*", name="index.number_of_replicas")
        assert {v["settings"]["index"]["number_of_replicas"] for v in replicas.body.values()} == {"1"}, replicas
        assert len(es_ids) == len(set(es_ids)) == sent
        assert set(es_ids) == file_ids, "the cluster's documents are not the files' records"
        assert dashboard_counts == {app: len(set(seqs[app])) for app in APPS}, dashboard_counts
        assert node_errors > 0, "no receiver saw the dead node on /metrics"
        print(f"SCALE-OUT wall time {time.monotonic() - started:.0f} s")
        passed = True
    finally:
        for proc in apps:
            if proc.poll() is None:
                proc.kill()
        for receiver in receivers:
            if receiver.serve is not None and receiver.serve.proc.poll() is None:
                receiver.serve.stop()
        if gateway is not None:
            gateway.stop()
        cluster.stop()
        if passed:
            shutil.rmtree(tmp_path, ignore_errors=True)
        else:
            print(f"SCALE-OUT files kept in {tmp_path}")
