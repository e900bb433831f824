"""Receiver throughput: records/s into per-app files, otel-logging vs the OpenTelemetry Collector.

The same load generator (bench/loadgen.py, a separate process: 512-record requests, 4 concurrent
senders, 4 apps) drives, in the same run:

    otel_logging   otel-logging serve (default durability: written to the OS before the reply)
    collector      the collector built by scripts/build-collector.sh: otlp receiver -> file exporter (JSON)

Each run ends when every request is acknowledged; the records are counted in the output files.
Peak RSS of each server is read from /proc/<pid>/status (VmHWM).

Then an overload run: a fresh otel-logging serve hit by --overload-senders senders (default 64) of
2,048-record requests at once, more than its workers take (16 workers, 64 requests in flight at
most; the rest are refused with RESOURCE_EXHAUSTED, which clients retry): its peak RSS is reported.

Usage: python bench/receiver_throughput.py [--records 400000] [--overload-senders 64]
Last line: receiver_throughput: otel_logging X rec/s, collector Y rec/s, ratio X/Y
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.procs import child_env, count_lines, free_port, start_serve, wait_for  # noqa: E402

COLLECTOR_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
        max_recv_msg_size_mib: 64
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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(target: str, records: int, *extra: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "loadgen.py"), "--target", target, "--records", str(records), *extra],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--overload-senders", type=int, default=64)
    args = parser.parse_args()
    binary = collector_binary()
    with tempfile.TemporaryDirectory() as tmp:
        serve = start_serve(Path(tmp) / "logs", http_port=-1)
        try:
            ours = load(f"127.0.0.1:{serve.grpc_port}", args.records)
            ours_rss = peak_rss_mb(serve.proc.pid)
        finally:
            serve.stop()
        written = sum(count_lines(p) for p in (Path(tmp) / "logs").glob("*.jsonl"))

        port = free_port()
        out_file = Path(tmp) / "collector.json"
        config = Path(tmp) / "collector.yaml"
        config.write_text(COLLECTOR_CONFIG.format(port=port, path=out_file))
        collector = subprocess.Popen(
            [binary, "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: _listening(port), timeout=60, what="collector listening")
            theirs = load(f"127.0.0.1:{port}", args.records)
            theirs_rss = peak_rss_mb(collector.pid)
            wait_for(lambda: count_collector_records(out_file) >= theirs["acked"], timeout=120, what="file export")
        finally:
            collector.terminate()
            collector.wait(60)
        collected = count_collector_records(out_file)

        overload_dir = Path(tmp) / "overload"
        serve = start_serve(overload_dir, http_port=-1)
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

    ours_rate = ours["acked"] / ours["seconds"]
    theirs_rate = theirs["acked"] / theirs["seconds"]
    print(f"otel_logging {ours_rate:10,.0f} rec/s  acked {ours['acked']:,} files {written:,} RSS {ours_rss:.0f} MB")
    print(
        f"collector    {theirs_rate:10,.0f} rec/s  acked {theirs['acked']:,} file {collected:,} RSS {theirs_rss:.0f} MB"
    )
    print(
        f"overload     {args.overload_senders} senders x 2048-record requests: acked {flood['acked']:,.0f}, "
        f"refused {flood['failed']:,.0f} (retryable), files {flood_written:,}, peak RSS {flood_rss:.0f} MB"
    )
    print(f"cores: {os.cpu_count()} (shared by the load generator and the server)")
    print(
        f"receiver_throughput: otel_logging {ours_rate:,.0f} rec/s, collector {theirs_rate:,.0f} rec/s, "
        f"ratio {ours_rate / theirs_rate:.2f}"
    )


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    main()
