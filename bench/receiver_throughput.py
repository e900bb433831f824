"""Receiver throughput: records/s and records per server CPU-second into per-app files, otel-logging vs the Collector.

The same load generator (bench/loadgen.py, a separate process: 512-record requests, 4 concurrent
senders, 4 apps) drives, in the same run, one fresh server per side and round:

    otel_logging   otel-logging serve (default durability: written to the OS before the reply)
    collector      the collector built by scripts/build-collector.sh: otlp receiver -> file exporter (JSON)

Each fresh server first takes --warmup records (51,200 by default), not measured, for both sides alike: the
cost measured is a running server's, not its first second's (imports, buffer pools, first page faults).
The sides alternate across rounds (otel_logging first in even rounds, the collector first in odd ones).
Each run ends when every request is acknowledged (and, for the collector, its file holds them all); the
records are counted in the output files. Per side and round: records/s (wall clock of the load), records
per server CPU-second (the server process's user+sys CPU time from /proc/<pid>/stat over the load: the
machine's 2 cores are shared with the load generator, so this is the cost that does not depend on it), and
peak RSS (VmHWM from /proc/<pid>/status). Each side's output files are deleted once counted, so that every
side starts on the same empty disk (files kept from earlier sides made later ones pay more kernel time).
otel-logging serves OTLP/gRPC with its default transport (the native one when built; --grpc-server grpcio: grpcio's).
With --tls both servers serve TLS (a certificate of a CA made for the run, which the load generator trusts).

Then an overload run: a fresh otel-logging serve hit by --overload-senders senders (default 64) of
2,048-record requests at once, more than its workers take (16 workers, 64 requests in flight at
most; the rest are refused with RESOURCE_EXHAUSTED, which clients retry): its peak RSS is reported.

Usage: python bench/receiver_throughput.py [--records 400000] [--rounds 3] [--warmup 51200] [--overload-senders 64]
                                          [--grpc-server auto|native|grpcio] [--tls] [--json PATH]
Last line: receiver_throughput: otel_logging X rec/CPU-s, collector Y rec/CPU-s, ratio X/Y (min-max per round)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.certs import Pki, make_pki  # noqa: E402
from tests.support.faults import cpu_seconds, peak_rss_mb  # noqa: E402
from tests.support.procs import child_env, count_lines, free_port, start_serve, wait_for  # noqa: E402

COLLECTOR_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
        max_recv_msg_size_mib: 64{tls}
exporters:
  file:
    path: {path}
    format: json
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
"""


TLS: Pki | None = None  # --tls: the run's certificates (both servers serve TLS, the load generator trusts the CA)


def load(target: str, records: int, *extra: str) -> dict[str, float]:
    ca = ("--ca", str(TLS.ca_cert)) if TLS else ()
    loadgen = [sys.executable, str(REPO / "bench" / "loadgen.py"), "--target", target, "--records", str(records)]
    out = subprocess.run(
        [*loadgen, *extra, *ca],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def collector_binary() -> str:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-collector.sh")], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def count_collector_records(path: Path) -> int:
    total = 0
    with open(path, "rb") as f:
        for line in f:
            request = json.loads(line)
            for rl in request.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    total += len(sl.get("logRecords", []))
    return total


@dataclass
class Side:
    rate: float  # records acknowledged per second of wall clock
    per_cpu: float  # records acknowledged per server CPU-second
    cpu_s: float
    rss_mb: float
    acked: int
    stored: int  # records counted in the output files


def serve_args(grpc_server: str) -> tuple[str, ...]:
    tls = ("--tls-cert", str(TLS.server_cert), "--tls-key", str(TLS.server_key)) if TLS else ()
    return ("--grpc-server", grpc_server, *tls)


def run_ours(work: Path, records: int, warmup: int, grpc_server: str = "auto") -> Side:
    logs = work / "logs"
    serve = start_serve(logs, *serve_args(grpc_server), http_port=-1)
    try:
        warmed = load(f"127.0.0.1:{serve.grpc_port}", warmup)["acked"] if warmup else 0
        cpu_before = cpu_seconds(serve.proc.pid)
        result = load(f"127.0.0.1:{serve.grpc_port}", records)
        cpu = cpu_seconds(serve.proc.pid) - cpu_before
        rss = peak_rss_mb(serve.proc.pid)
    finally:
        serve.stop()
    stored = sum(count_lines(p) for p in logs.glob("*.jsonl")) - int(warmed)
    shutil.rmtree(work)
    return _side(result, cpu, rss, stored)


def run_collector(work: Path, records: int, binary: str, warmup: int) -> Side:
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    out_file = work / "collector.json"
    config = work / "collector.yaml"
    tls = f"\n        tls:\n          cert_file: {TLS.server_cert}\n          key_file: {TLS.server_key}" if TLS else ""
    config.write_text(COLLECTOR_CONFIG.format(port=port, path=out_file, tls=tls))
    collector = subprocess.Popen(
        [binary, "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: _listening(port), timeout=60, what="collector listening")
        warmed = load(f"127.0.0.1:{port}", warmup)["acked"] if warmup else 0
        if warmed:
            wait_for(lambda: count_collector_records(out_file) >= warmed, timeout=120, what="file export (warm-up)")
        cpu_before = cpu_seconds(collector.pid)
        result = load(f"127.0.0.1:{port}", records)
        wait_for(lambda: count_collector_records(out_file) >= warmed + result["acked"], timeout=120, what="file export")
        cpu = cpu_seconds(collector.pid) - cpu_before
        rss = peak_rss_mb(collector.pid)
    finally:
        collector.terminate()
        collector.wait(60)
    stored = count_collector_records(out_file) - int(warmed)
    shutil.rmtree(work)
    return _side(result, cpu, rss, stored)


def _side(result: dict[str, float], cpu: float, rss: float, stored: int) -> Side:
    acked = int(result["acked"])
    return Side(acked / result["seconds"], acked / max(cpu, 1e-9), cpu, rss, acked, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=51_200,
        help="records each fresh server takes first, not measured (a long-running server's cost, not its first second)",
    )
    parser.add_argument("--overload-senders", type=int, default=64, help="0: no overload run")
    parser.add_argument("--grpc-server", choices=("auto", "native", "grpcio"), default="auto", help="otel-logging's")
    parser.add_argument("--tls", action="store_true", help="both servers serve TLS (certificates made for the run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rounds as JSON (bench_json format)")
    args = parser.parse_args()
    binary = collector_binary()
    global TLS
    tls_dir = tempfile.TemporaryDirectory()
    TLS = make_pki(Path(tls_dir.name)) if args.tls else None
    rounds: list[dict[str, Side]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            work = Path(tmp) / f"round-{i}"
            sides: dict[str, Side] = {}
            for name in ("otel_logging", "collector") if i % 2 == 0 else ("collector", "otel_logging"):
                if name == "otel_logging":
                    sides[name] = run_ours(work / name, args.records, args.warmup, args.grpc_server)
                else:
                    sides[name] = run_collector(work / name, args.records, binary, args.warmup)
            ours, theirs = sides["otel_logging"], sides["collector"]
            print(
                f"round {i + 1}: otel_logging {ours.rate:9,.0f} rec/s {ours.per_cpu:9,.0f} rec/CPU-s "
                f"(CPU {ours.cpu_s:.2f} s) RSS {ours.rss_mb:.0f} MB acked {ours.acked:,} files {ours.stored:,} | "
                f"collector {theirs.rate:9,.0f} rec/s {theirs.per_cpu:9,.0f} rec/CPU-s (CPU {theirs.cpu_s:.2f} s) "
                f"RSS {theirs.rss_mb:.0f} MB acked {theirs.acked:,} file {theirs.stored:,} | "
                f"ratio per CPU-s {ours.per_cpu / theirs.per_cpu:.2f}, rec/s {ours.rate / theirs.rate:.2f}",
                flush=True,
            )
            rounds.append(sides)

        flood_line = ""
        if args.overload_senders:
            overload_dir = Path(tmp) / "overload"
            serve = start_serve(overload_dir, *serve_args(args.grpc_server), http_port=-1)
            try:
                flood = load(
                    f"127.0.0.1:{serve.grpc_port}",
                    args.records,
                    "--senders",
                    str(args.overload_senders),
                    "--batch",
                    "2048",
                )
                flood_rss = peak_rss_mb(serve.proc.pid)
            finally:
                serve.stop()
            flood_written = sum(count_lines(p) for p in overload_dir.glob("*.jsonl"))
            flood_line = (
                f"overload     {args.overload_senders} senders x 2048-record requests: acked {flood['acked']:,.0f}, "
                f"refused {flood['failed']:,.0f} (retryable), files {flood_written:,}, peak RSS {flood_rss:.0f} MB"
            )

    def span(values: list[float], fmt: str = ",.0f") -> str:
        return f"{min(values):{fmt}}-{max(values):{fmt}}"

    per_cpu_ratios = [r["otel_logging"].per_cpu / r["collector"].per_cpu for r in rounds]
    rate_ratios = [r["otel_logging"].rate / r["collector"].rate for r in rounds]
    for name in ("otel_logging", "collector"):
        print(
            f"{name:12} {span([r[name].rate for r in rounds])} rec/s, "
            f"{span([r[name].per_cpu for r in rounds])} rec/CPU-s, "
            f"peak RSS {span([r[name].rss_mb for r in rounds])} MB"
        )
    if flood_line:
        print(flood_line)
    print(
        f"cores: {os.cpu_count()} (shared by the load generator and the server); {args.records:,} records per run; "
        f"otel-logging --grpc-server {args.grpc_server}" + ("; TLS on both sides" if TLS else "")
    )
    print(f"records/s ratio {span(rate_ratios, '.2f')}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "bench": "receiver_throughput",
                    "metric": "records per server CPU-second",
                    "higher_is_better": True,
                    "sides": ["otel_logging", "collector"],
                    "rounds": [
                        {name: round(r[name].per_cpu) for name in ("otel_logging", "collector")} for r in rounds
                    ],
                    "ratio": {
                        "name": "otel_logging / collector",
                        "per_round": [round(x, 2) for x in per_cpu_ratios],
                        "target": 2.0,
                    },
                    "notes": (
                        f"{os.cpu_count()} shared cores; {args.records:,} records per run, 512-record requests, "
                        f"otel-logging --grpc-server {args.grpc_server}{', TLS on both sides' if TLS else ''}, "
                        f"4 senders, 4 apps; records/s ratio {span(rate_ratios, '.2f')}; peak RSS otel_logging "
                        f"{span([r['otel_logging'].rss_mb for r in rounds])} MB, collector "
                        f"{span([r['collector'].rss_mb for r in rounds])} MB"
                    ),
                },
                indent=2,
            )
            + "\n"
        )
    ours_cpu = [r["otel_logging"].per_cpu for r in rounds]
    theirs_cpu = [r["collector"].per_cpu for r in rounds]
    print(
        f"receiver_throughput: otel_logging {span(ours_cpu)} rec/CPU-s, collector {span(theirs_cpu)} rec/CPU-s, "
        f"ratio {span(per_cpu_ratios, '.2f')}"
    )


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    main()
