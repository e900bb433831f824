"""Elasticsearch export: documents/s, otel-logging serve vs the OpenTelemetry Collector and the node's ceiling.

One local Elasticsearch node (scripts/elasticsearch.sh, or --es-url) receives, one after the other:

    collector      the collector built by scripts/build-collector.sh: otlp receiver -> memory_limiter ->
                   the shipped collector-config/gateway-elasticsearch.yaml (transform to the canonical
                   document, data stream logs-<dataset>-<namespace>, batch) -> elasticsearch exporter
                   (mapping mode bodymap)
    otel_logging   ``otel-logging serve --es-url URL`` with its default configuration: per-app files, and
                   the durable queue -> ElasticsearchDelivery (bulk ``create`` into logs-<dataset>-default)
    ceiling        the node's ceiling: the same documents (the records loadgen sends, converted to canonical
                   JSON lines before the clock starts) as pre-built ``_bulk`` bodies of --ceiling-bulk
                   ``create`` actions with ids Elasticsearch chooses, POSTed by --ceiling-threads threads over
                   plain keep-alive HTTP (http.client), nothing of otel-logging in the way; items answered
                   429 are sent again (auto-generated ids: nothing is stored twice). Both options take a
                   comma-separated list: after the warm-up every combination (threads x bulk size) runs once,
                   not measured, and the fastest is the ceiling's setting in every round, so that the ceiling is
                   the node's, not one sender's setting; each round then runs it once, like every other side
                   (not the best of several runs: that would set one draw of a noisy figure against the best
                   of four)
    ceiling_ids    the ceiling again, each ``create`` with the id otel-logging gives that record
                   (``sinks.elasticsearch.document_id``: time to the millisecond + a hash of the line, so that
                   a redelivered record is stored once): what the node can do for documents that carry such an
                   id, which it looks up before every create (auto-generated ids skip that lookup)

Both are fed by bench/loadgen.py (a separate process: 512-record requests, 4 senders, 4 apps) with the same
N records (rounded down to whole requests: 199,680 by default). The load generator is run with one distinct
request per send (loadgen's payloads are otherwise re-sent, and otel-logging stores a record identical to the
nanosecond only once) and with a service name fresh to the side, so each side writes to data streams of its
own.

documents/s = N / (time of the first send -> the side's data streams count N documents after a refresh).
Until their index operations (index stats, no refresh needed) reach N the streams are not refreshed: forced
refreshes four times a second (--poll refresh) make about four times the segments Elasticsearch's own 1 s
refresh makes, and every create with an id (otel-logging's, for deduplication) looks the id up in each
segment. The count is then checked to be exactly N (nothing lost, nothing duplicated). Peak RSS (VmHWM) and CPU
seconds of each server process are read from /proc (the CPU from the load's start, not the server's own
start-up), Elasticsearch's CPU seconds and where they went (GC, merges, refreshes, indexing) from its node stats.
Before the measured rounds each side runs once with --warmup records, not measured: a fresh JVM spends
up to twice the CPU per document on its first few hundred thousand. The sides run one after the other,
never at once; the order rotates from round to round (each side goes first once in three rounds);
otel-logging's files are deleted when its side stops (kept, the kernel would write them back during a later side).

Usage: .venv/bin/python bench/es_vs_collector.py [--records 200000] [--rounds 3] [--warmup 100000] [--es-url URL]
                                                 [--json PATH]
Last lines: one per round, then
    es_export: otel_logging X docs/s, ceiling C docs/s (X/C of it), ceiling_ids D docs/s (X/D of it),
               collector Y docs/s, ratio X/Y
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.procs import wait_for  # noqa: E402

ES_SCRIPT = REPO / "scripts" / "elasticsearch.sh"

# The collector's base: the receiver and the two processors gateway-elasticsearch.yaml refers to, with the
# settings of collector-config/gateway.yaml, and no other pipeline (gateway.yaml's `logs` pipeline would also
# forward every record to an otel-logging receiver).
COLLECTOR_BASE = """
extensions:
  health_check:
    endpoint: ${env:OTELCOL_HEALTH_ENDPOINT}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:BENCH_GRPC_ENDPOINT}
        max_recv_msg_size_mib: 64
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 1024
    spike_limit_mib: 256
  batch:
    send_batch_size: 8192
    send_batch_max_size: 16384
    timeout: 200ms
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
"""


@dataclass
class SideResult:
    side: str
    records: int
    docs_per_s: float
    ingest_per_s: float
    export_lag_s: float
    documents: int
    rss_mb: float
    cpu_s: float
    es_cpu_s: float
    node: NodeWork | None = None  # what the node spent during the side (es_cpu_s is its CPU)
    setting: str = ""  # the ceiling's: "<threads> threads x <bulk> docs"


# -- the load generator (a separate process) --------------------------------------------------


def loadgen_main(argv: list[str]) -> None:
    """bench/loadgen.py with a distinct request per send and service names ``<service>-<0..apps-1>``."""
    parser = argparse.ArgumentParser(prog="es_vs_collector.py loadgen")
    parser.add_argument("--service", required=True)
    parser.add_argument("--apps", type=int, default=4)
    parser.add_argument("--target", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "bench"))
    import loadgen

    build = loadgen.build_request
    requests_total = args.records // args.batch

    def distinct_request(app: str, batch: int, _seq_base: int) -> bytes:
        index = int(app.rsplit("-", 1)[1])  # loadgen names its payloads app-<index>
        return build(f"{args.service}-{index % args.apps}", batch, index * batch)

    loadgen.build_request = distinct_request  # type: ignore[assignment]
    sys.argv = [
        "loadgen.py",
        *("--target", args.target, "--records", str(args.records), "--batch", str(args.batch)),
        *("--senders", str(args.senders), "--apps", str(requests_total)),
    ]
    loadgen.main()


# -- measuring ---------------------------------------------------------------------------------


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a running process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


@dataclass(frozen=True)
class NodeWork:
    """What the Elasticsearch node has spent so far (seconds): its process's CPU, then where part of it went:
    garbage collection (all collectors), merges, refreshes and indexing (the indices' times, summed over
    threads)."""

    cpu_s: float
    gc_s: float
    merge_s: float
    refresh_s: float
    index_s: float

    def __sub__(self, before: NodeWork) -> NodeWork:
        return NodeWork(*(a - b for a, b in zip(self._values(), before._values(), strict=True)))

    def _values(self) -> tuple[float, ...]:
        return (self.cpu_s, self.gc_s, self.merge_s, self.refresh_s, self.index_s)

    def describe(self) -> str:
        return (
            f"Elasticsearch CPU {self.cpu_s:.1f} s (GC {self.gc_s:.1f} s; merges {self.merge_s:.1f} s, refreshes "
            f"{self.refresh_s:.1f} s, indexing {self.index_s:.1f} s)"
        )


def node_work(client: Any) -> NodeWork:
    """What the Elasticsearch node's process has spent so far (node stats)."""
    nodes = client.nodes.stats(node_id="_local", metric="process,jvm,indices")["nodes"]
    node = next(iter(nodes.values()))
    indices = node["indices"]
    gc = sum(c["collection_time_in_millis"] for c in node["jvm"]["gc"]["collectors"].values())
    return NodeWork(
        cpu_s=int(node["process"]["cpu"]["total_in_millis"]) / 1000,
        gc_s=gc / 1000,
        merge_s=indices["merges"]["total_time_in_millis"] / 1000,
        refresh_s=indices["refresh"]["total_time_in_millis"] / 1000,
        index_s=indices["indexing"]["index_time_in_millis"] / 1000,
    )


class LoadRun:
    """The load generator running in the background; ``first_send`` once it reports (monotonic clock)."""

    def __init__(self, target: str, service: str, records: int, batch: int, senders: int, apps: int) -> None:
        from tests.support.procs import child_env

        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "loadgen",
            *("--service", service, "--apps", str(apps), "--target", target),
            *("--records", str(records), "--batch", str(batch), "--senders", str(senders)),
        ]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - read when the process has ended
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr, env=child_env())
        self.report: dict[str, Any] | None = None
        self.reported_at = 0.0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                self.reported_at = time.monotonic()
                self.report = json.loads(line)

    def failed(self) -> str | None:
        if self.proc.poll() is not None and self.proc.returncode != 0:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode(errors="replace")
            return f"load generator exited with {self.proc.returncode}: {stderr[-2000:]}"
        if self.report is not None and self.report["failed"]:
            return f"load generator: {self.report['failed']} records refused by the server"
        return None

    def first_send(self) -> float:
        assert self.report is not None
        return self.reported_at - float(self.report["seconds"])

    def wait(self, timeout: float) -> None:
        self.proc.wait(timeout)
        self._thread.join(timeout)
        self._stderr.close()


# -- the node's ceiling: pre-built bulk bodies, auto-generated ids -------------------------------


def ceiling_bodies(service: str, args: argparse.Namespace, *, ids: bool = False) -> list[bytes]:
    """The records loadgen would send for ``service`` as canonical JSON lines, in ``_bulk`` bodies of
    ``create`` actions without ids, or (``ids``) with otel-logging's ids (built before the clock starts)."""
    sys.path.insert(0, str(REPO / "bench"))
    import loadgen

    from otel_logging.record.otlp import convert_request, parse_protobuf
    from otel_logging.sinks.elasticsearch import DataStreamNames, document_id

    names = DataStreamNames()
    actions: dict[str, bytes] = {}
    docs: list[bytes] = []
    for index in range(args.records // args.batch):
        request = parse_protobuf(
            loadgen.build_request(f"{service}-{index % args.apps}", args.batch, index * args.batch)
        )
        lines, services = convert_request(request).split_lines()
        for line, svc in zip(lines, services, strict=True):
            action = actions.get(svc)
            if action is None:
                action = actions[svc] = b'{"create":{"_index":' + json.dumps(names(svc)).encode()
            with_id = b',"_id":"' + document_id(line).encode() + b'"' if ids else b""
            docs.append(action + with_id + b"}}\n" + line)
    size = args.ceiling_bulk
    return [b"".join(docs[i : i + size]) for i in range(0, len(docs), size)]


class CeilingLoad:
    """``--ceiling-threads`` threads POSTing the pre-built bodies to ``/_bulk``; the same face as ``LoadRun``."""

    def __init__(self, url: str, bodies: list[bytes], threads: int) -> None:
        from urllib.parse import urlsplit

        self._where = urlsplit(url)
        self._bodies = list(reversed(bodies))  # popped from the end: sent in order
        self._lock = threading.Lock()
        self.problem: str | None = None
        self.report: dict[str, Any] | None = None
        self.reported_at = 0.0
        self._docs = sum(body.count(b"\n") // 2 for body in bodies)
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()
        self._waiter = threading.Thread(target=self._finish, daemon=True)
        self._waiter.start()

    def _send(self) -> None:
        import http.client

        conn = http.client.HTTPConnection(self._where.hostname or "127.0.0.1", self._where.port, timeout=120)
        headers = {"Content-Type": "application/x-ndjson"}
        try:
            while True:
                with self._lock:
                    if not self._bodies or self.problem:
                        return
                    body = self._bodies.pop()
                while body:
                    conn.request("POST", "/_bulk?filter_path=errors,items.*.status", body, headers)
                    response = conn.getresponse()
                    answer = json.loads(response.read())
                    if response.status == 429:  # the node is saturated: send it again a little later
                        time.sleep(0.05)
                        continue
                    if response.status != 200:
                        raise RuntimeError(f"bulk answered {response.status}: {answer}")
                    if not answer.get("errors"):
                        break
                    lines = body.split(b"\n")
                    again = []
                    for k, item in enumerate(answer["items"]):
                        status = next(iter(item.values()))["status"]
                        if status == 429:
                            again += lines[2 * k : 2 * k + 2]
                        elif not 200 <= status < 300:
                            raise RuntimeError(f"bulk item answered {status}")
                    body = b"\n".join(again) + b"\n" if again else b""
        except Exception as exc:
            self.problem = f"ceiling sender: {type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def _finish(self) -> None:
        for thread in self._threads:
            thread.join()
        self.reported_at = time.monotonic()
        self.report = {"acked": self._docs, "seconds": self.reported_at - self._started, "failed": 0}

    def failed(self) -> str | None:
        return self.problem

    def first_send(self) -> float:
        return self._started

    def wait(self, timeout: float) -> None:
        self._waiter.join(timeout)


def run_side(
    side: str,
    start_server: Callable[[], tuple[str, int, Callable[[], None]]],
    client: Any,
    args: argparse.Namespace,
) -> SideResult:
    """Start a server, load it, wait until its data streams hold every record; stop it."""
    from elasticsearch import ApiError

    service = f"esbench-{uuid.uuid4().hex[:8]}-{side.replace('_', '')}"
    streams = f"logs-{service.replace('-', '_')}_*-default"
    expected = args.records // args.batch * args.batch
    bodies = ceiling_bodies(service, args, ids=side == "ceiling_ids") if side.startswith("ceiling") else []
    target, pid, stop = start_server()
    cpu_before = proc_stats(pid)[1] if pid else 0.0  # its start-up (imports, JIT of nothing) is not the side's work
    node_before = node_work(client)
    try:
        load: LoadRun | CeilingLoad
        if side.startswith("ceiling"):
            load = CeilingLoad(target, bodies, args.ceiling_threads)
            del bodies
        else:
            load = LoadRun(target, service, args.records, args.batch, args.senders, args.apps)

        def indexed() -> int:
            """Documents in the side's data streams after a refresh."""
            try:
                client.indices.refresh(index=streams, allow_no_indices=True, ignore_unavailable=True)
                return int(client.count(index=streams, allow_no_indices=True, ignore_unavailable=True)["count"])
            except ApiError as exc:  # 503 while the shard of a data stream just created is starting
                if exc.status_code != 503:
                    raise
                return 0

        def operations() -> int:
            """Index operations done on the side's data streams (no refresh needed)."""
            stats = client.options(ignore_status=[404, 503]).indices.stats(index=streams, metric="indexing")
            primaries = stats.body.get("_all", {}).get("primaries", {})
            return int(primaries.get("indexing", {}).get("index_total", 0))

        def complete() -> bool:
            if (problem := load.failed()) is not None:
                raise SystemExit(f"{side}: {problem}")
            if args.poll == "stats" and operations() < expected:
                return False
            return indexed() >= expected

        interval = 0.1 if args.poll == "stats" else 0.25
        wait_for(complete, args.timeout, interval, f"{side}: {expected:,} documents in {streams}")
        done = time.monotonic()
        rss, cpu = proc_stats(pid) if pid else (0.0, 0.0)
        cpu -= cpu_before
        node = node_work(client) - node_before
        load.wait(60)
        if (problem := load.failed()) is not None or load.report is None:
            raise SystemExit(f"{side}: {problem or 'the load generator reported nothing'}")
        documents = indexed()
    finally:
        stop()
    if documents != expected:
        raise SystemExit(f"{side}: {documents:,} documents in {streams} for {expected:,} records sent")
    started = load.first_send()
    _drop(client, streams)
    return SideResult(
        side=side,
        records=expected,
        docs_per_s=expected / (done - started),
        ingest_per_s=load.report["acked"] / load.report["seconds"],
        export_lag_s=done - load.reported_at,
        documents=documents,
        rss_mb=rss,
        cpu_s=cpu,
        es_cpu_s=node.cpu_s,
        node=node,
        setting=f"{args.ceiling_threads} threads x {args.ceiling_bulk} docs" if side.startswith("ceiling") else "",
    )


def ceiling_settings(args: argparse.Namespace) -> list[tuple[int, int]]:
    """Every (threads, documents per bulk) the ceiling tries."""
    return [(threads, bulk) for threads in args.ceiling_threads for bulk in args.ceiling_bulk]


def with_setting(args: argparse.Namespace, threads: int, bulk: int) -> argparse.Namespace:
    """``args`` for one ceiling run: ``threads`` senders, ``bulk`` documents per body."""
    return argparse.Namespace(**{**vars(args), "ceiling_threads": threads, "ceiling_bulk": bulk})


def pick_ceiling_setting(
    side: str,
    starter: Callable[[], tuple[str, int, Callable[[], None]]],
    client: Any,
    args: argparse.Namespace,
) -> argparse.Namespace:
    """The arguments of ``side`` (a ceiling) with its setting: with several (threads x documents per bulk), each
    is run once with --records documents (not measured) and the fastest is kept for every round. Each round then
    measures the ceiling once, as it measures every other side: the best of four runs in each round would compare
    one draw of ours against the best of four draws of a noisy figure (the ceiling's runs of one round spread
    over 34-46k docs/s here)."""
    settings = ceiling_settings(args)
    best: tuple[float, argparse.Namespace] | None = None
    for threads, bulk in settings:
        one = with_setting(args, threads, bulk)
        if len(settings) == 1:
            return one
        result = run_side(side, starter, client, one)
        print(f"setting: {side} with {result.setting}: {result.docs_per_s:,.0f} docs/s", flush=True)
        if best is None or result.docs_per_s > best[0]:
            best = (result.docs_per_s, one)
    assert best is not None
    chosen = best[1]
    print(f"setting: {side} measured with {chosen.ceiling_threads} threads x {chosen.ceiling_bulk} docs", flush=True)
    return chosen


# -- the two servers ----------------------------------------------------------------------------


def ours(url: str, work: Path) -> Callable[[], tuple[str, int, Callable[[], None]]]:
    from tests.support.procs import start_serve

    def start() -> tuple[str, int, Callable[[], None]]:
        log_dir = work / f"logs-{uuid.uuid4().hex[:8]}"
        serve = start_serve(log_dir, "--es-url", url)

        def stop() -> None:
            serve.stop()
            # Its files deleted now, before the kernel writes them back (30 s after they were written): kept,
            # they would be written back during a later side's measurement.
            shutil.rmtree(log_dir, ignore_errors=True)

        return f"127.0.0.1:{serve.grpc_port}", serve.proc.pid, stop

    return start


def collector(url: str, work: Path, binary: Path) -> Callable[[], tuple[str, int, Callable[[], None]]]:
    from tests.support.collector_fixtures import start_collector
    from tests.support.procs import free_port

    base = work / "collector-base.yaml"
    base.write_text(COLLECTOR_BASE)

    def start() -> tuple[str, int, Callable[[], None]]:
        port = free_port()
        env = {"BENCH_GRPC_ENDPOINT": f"127.0.0.1:{port}", "ELASTICSEARCH_URL": url, "DATA_STREAM_NAMESPACE": "default"}
        proc = start_collector(binary, [str(base), "gateway-elasticsearch.yaml"], env, work / "collector", timeout=60)

        def stop() -> None:
            proc.stop()

        return f"127.0.0.1:{port}", proc.proc.pid, stop

    return start


def ceiling(url: str) -> Callable[[], tuple[str, int, Callable[[], None]]]:
    """No server: the ceiling's senders run in this process (no RSS or CPU of a server reported)."""

    def start() -> tuple[str, int, Callable[[], None]]:
        return url, 0, lambda: None

    return start


# -- main ---------------------------------------------------------------------------------------


def start_elasticsearch() -> tuple[str, str]:
    out = subprocess.run(["bash", str(ES_SCRIPT), "start"], check=True, capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values["url"], values["run_dir"]


def versions(binary: Path | None, client: Any) -> str:
    import elasticsearch

    nodes = client.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"]
    es_version = next(iter(nodes.values()))["version"]
    collector_version = (
        "no collector"
        if binary is None
        else subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    )
    return (
        f"Elasticsearch {es_version}, {collector_version}, "
        f"Python {platform.python_version()}, elasticsearch-py {elasticsearch.__versionstr__}, {os.cpu_count()} cores"
    )


def main() -> int:
    if sys.argv[1:2] == ["loadgen"]:
        loadgen_main(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512, help="records per OTLP request")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--apps", type=int, default=4, help="services (data streams) per side")
    parser.add_argument("--rounds", type=int, default=1, help="measure each side this often (order rotates)")
    parser.add_argument("--only", choices=list(SIDES), action="append", help="measure these sides only (repeatable)")
    parser.add_argument(
        "--ceiling-threads",
        type=_int_list,
        default=[4, 8],
        help="threads sending the ceiling's bulk bodies (comma-separated: each is tried, the best kept)",
    )
    parser.add_argument(
        "--ceiling-bulk",
        type=_int_list,
        default=[2000, 5000],
        help="documents per bulk body of the ceiling (comma-separated: each is tried, the best kept)",
    )
    parser.add_argument(
        "--poll",
        choices=["stats", "refresh"],
        default="stats",
        help="stats: wait on the index operation count (every 0.1 s), then refresh and count; "
        "refresh: refresh and count every 0.25 s",
    )
    parser.add_argument("--warmup", type=int, default=100_000, help="records per side sent first, not measured")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one side may take")
    parser.add_argument("--es-url", help="an Elasticsearch to use (default: start one with scripts/elasticsearch.sh)")
    parser.add_argument("--json", type=Path, help="also write the rounds as JSON (docs/perf/ format)")
    args = parser.parse_args()
    chosen = [side for side in SIDES if args.only is None or side in args.only]

    from elasticsearch import Elasticsearch

    from otel_logging.sinks.elasticsearch import install_templates
    from tests.support.collector_fixtures import build_collector

    binary = build_collector() if "collector" in chosen else None  # not built when not measured
    url, run_dir = (args.es_url, None) if args.es_url else start_elasticsearch()
    rounds: list[dict[str, SideResult]] = []
    try:
        client = Elasticsearch(url, request_timeout=120)
        wait_for(
            lambda: (
                client.options(ignore_status=[408, 503])
                .cluster.health(wait_for_status="yellow", timeout="5s")
                .body.get("status")
                in ("green", "yellow")
            ),
            180,
            0.2,
            "Elasticsearch healthy",
        )
        install_templates(client)  # the collector writes with require_data_stream: the template must exist
        about = versions(binary, client)
        with tempfile.TemporaryDirectory(prefix="es-vs-collector-") as tmp:
            work = Path(tmp)
            starters = {"otel_logging": ours(url, work), "ceiling": ceiling(url), "ceiling_ids": ceiling(url)}
            if binary is not None:
                starters["collector"] = collector(url, work, binary)
            if args.warmup:  # a fresh JVM is much slower for its first few hundred thousand documents
                warm = argparse.Namespace(**{**vars(args), "records": args.warmup})
                for side in chosen:
                    if side.startswith("ceiling"):  # its first setting: the warm-up is the node's, not a pick
                        warmed = run_side(side, starters[side], client, with_setting(warm, *ceiling_settings(warm)[0]))
                    else:
                        warmed = run_side(side, starters[side], client, warm)
                    print(f"warm-up: {side} {warmed.docs_per_s:,.0f} docs/s", flush=True)
            side_args = {
                side: pick_ceiling_setting(side, starters[side], client, args) if side.startswith("ceiling") else args
                for side in chosen
            }
            for round_ in range(args.rounds):
                order = chosen[round_ % len(chosen) :] + chosen[: round_ % len(chosen)]
                measured = {}
                for side in order:
                    measured[side] = run_side(side, starters[side], client, side_args[side])
                    _print_result(measured[side])
                rounds.append(measured)
        client.close()
    finally:
        if run_dir is not None:
            subprocess.run(["bash", str(ES_SCRIPT), "stop", "--run-dir", run_dir], check=False)
            subprocess.run(["rm", "-rf", run_dir], check=False)
    print(about)
    if args.json is not None:
        _write_json(args, chosen, rounds, about)
    if not rounds:
        return 0
    for i, measured in enumerate(rounds, 1):
        print(f"round {i}: " + _summary({side: r.docs_per_s for side, r in measured.items()}))
    # One round: its figures. Several: the best of each side (the ratios of each round are printed above).
    best = {side: max(m[side].docs_per_s for m in rounds) for side in chosen}
    print("es_export: " + _summary(best))
    return 0


SIDES = ("otel_logging", "ceiling", "ceiling_ids", "collector")


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, comma-separated")
    return values


def _summary(rate: dict[str, float]) -> str:
    """``otel_logging X docs/s, ceiling C docs/s (X/C of it), collector Y docs/s, ratio X/Y`` (the sides there)."""
    parts = []
    ours_rate = rate.get("otel_logging")
    for side in SIDES:
        if side in rate:
            text = f"{side} {rate[side]:,.0f} docs/s"
            if side.startswith("ceiling") and ours_rate is not None:
                text += f" ({ours_rate / rate[side]:.2f} of it)"
            parts.append(text)
    if ours_rate is not None and "collector" in rate:
        parts.append(f"ratio {ours_rate / rate['collector']:.2f}")
    return ", ".join(parts)


def _write_json(args: argparse.Namespace, chosen: list[str], rounds: list[dict[str, SideResult]], about: str) -> None:
    """The rounds in the docs/perf format (bench_json): ours first, then the baselines; ratio to the collector."""

    def ratio(baseline: str, target: float) -> dict[str, Any]:
        per_round = [round(m["otel_logging"].docs_per_s / m[baseline].docs_per_s, 3) for m in rounds]
        return {"name": f"otel_logging / {baseline}", "per_round": per_round, "target": target}

    out: dict[str, Any] = {
        "bench": "es_vs_collector",
        "metric": "documents/s into one Elasticsearch node",
        "higher_is_better": True,
        "sides": chosen,
        "rounds": [{side: round(m[side].docs_per_s, 1) for side in chosen} for m in rounds],
        "notes": f"{args.records // args.batch * args.batch:,} records per side and round, "
        f"{os.getloadavg()[0]:.2f} load average at the end; {about}",
    }
    if "otel_logging" in chosen and "collector" in chosen:
        out["ratio"] = ratio("collector", 2.0)
    if "otel_logging" in chosen and "ceiling" in chosen:
        out["ratio_to_ceiling"] = ratio("ceiling", 0.8)
    if "otel_logging" in chosen and "ceiling_ids" in chosen:
        out["ratio_to_ceiling_ids"] = ratio("ceiling_ids", 0.8)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


def _drop(client: Any, streams: str) -> None:
    """Delete the data streams (a minimal distribution has no DELETE _data_stream: it answers 400, 404 or 405,
    and they are left then)."""
    client.options(ignore_status=[400, 404, 405]).indices.delete_data_stream(name=streams)


def _print_result(r: SideResult) -> None:
    node = r.node.describe() if r.node is not None else f"Elasticsearch CPU {r.es_cpu_s:.1f} s"
    if r.side.startswith("ceiling"):
        print(
            f"{r.side:<13} {r.docs_per_s:9,.0f} docs/s  ({r.documents:,} documents, {r.setting}; bulk bodies "
            f"sent at {r.ingest_per_s:,.0f} docs/s, last document {r.export_lag_s:.1f} s after the last answer; "
            f"{node})",
            flush=True,
        )
        return
    print(
        f"{r.side:<13} {r.docs_per_s:9,.0f} docs/s  ({r.documents:,} documents; OTLP accepted at "
        f"{r.ingest_per_s:,.0f} rec/s, last document {r.export_lag_s:.1f} s after the last ack; "
        f"server peak RSS {r.rss_mb:.0f} MB, CPU {r.cpu_s:.1f} s; {node})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
