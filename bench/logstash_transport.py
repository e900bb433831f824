"""Throughput of the Logstash transport (confirmed batches) against plain ``sendall`` (fire and forget).

Both send the same canonical-record-sized JSON lines to the same json_lines peer process
(tests/support/jsonl_peer.py) over loopback, one after the other; the peer's file is read to
check that every line arrived. The baseline does no acknowledgement check at all, so the
ratio is the price of knowing that a batch reached the peer.

    .venv/bin/python bench/logstash_transport.py [--records 500000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otel_logging.sinks.logstash import LogstashTransport  # noqa: E402
from tests.support.procs import child_env, count_lines, wait_for  # noqa: E402


def make_lines(count: int) -> list[bytes]:
    record = {
        "@timestamp": "2026-01-02T03:04:05.123456789Z",
        "observed_timestamp": "2026-01-02T03:04:05.123456999Z",
        "severity_text": "INFO",
        "severity_number": 9,
        "body": "order 1234 placed by user 42 with 3 items",
        "logger": "shop.orders",
        "service": "shop",
        "attributes": {"order.id": 1234, "user.id": 42, "items": 3},
        "resource": {"service.name": "shop", "host.name": "web-1"},
    }
    return [json.dumps({**record, "seq": i}).encode() + b"\n" for i in range(count)]


def start_peer(out: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.jsonl_peer", "--out", str(out)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env=child_env(),
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["port"]


def run(label: str, send_all, lines: list[bytes], batch: int, out: Path) -> float:
    start = time.perf_counter()
    send_all(lines, batch)
    wait_for(lambda: count_lines(out) >= len(lines), 120, what=f"{label}: all lines at the peer")
    elapsed = time.perf_counter() - start
    rate = len(lines) / elapsed
    print(f"{label:<40} {len(lines):>8} lines in {elapsed:6.2f} s = {rate:>10,.0f} lines/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    lines = make_lines(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        base_out, confirmed_out = Path(tmp) / "baseline.jsonl", Path(tmp) / "confirmed.jsonl"
        peers = []
        try:
            proc, port = start_peer(base_out)
            peers.append(proc)
            sock = socket.create_connection(("127.0.0.1", port))

            def plain(all_lines: list[bytes], batch: int) -> None:
                for i in range(0, len(all_lines), batch):
                    sock.sendall(b"".join(all_lines[i : i + batch]))

            baseline = run("baseline: sendall, no confirmation", plain, lines, args.batch, base_out)
            sock.close()

            proc, port = start_peer(confirmed_out)
            peers.append(proc)
            transport = LogstashTransport("127.0.0.1", port)

            def confirmed(all_lines: list[bytes], batch: int) -> None:
                for i in range(0, len(all_lines), batch):
                    transport.send(all_lines[i : i + batch])

            measured = run("LogstashTransport: confirmed batches", confirmed, lines, args.batch, confirmed_out)
            transport.close()
        finally:
            for proc in peers:
                proc.kill()
                proc.wait()
    print(f"confirmed/baseline throughput ratio: {measured / baseline:.2f} (batch {args.batch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
