"""Nothing is lost: a 1,000,000-record burst, and a receiver restarted while an app keeps logging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from tests.support.procs import child_env, count_lines, free_port, start_serve, wait_for

pytestmark = pytest.mark.integration


def unique_seqs(path: Path) -> tuple[int, set[int]]:
    seqs: set[int] = set()
    total = 0
    with open(path, "rb") as f:
        for line in f:
            seqs.add(orjson.loads(line)["attributes"]["seq"])
            total += 1
    return total, seqs


@pytest.mark.heavy
def test_one_million_record_burst_loses_nothing_with_default_settings(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs")
    code = textwrap.dedent(
        """
        import logging, sys, time, otel_logging
        h = otel_logging.setup("burst", sys.argv[1])  # defaults: no tuning
        log = logging.getLogger("burst")
        start = time.perf_counter()
        for i in range(1_000_000):
            log.info("user %s did %s", "alice", "checkout", extra={"seq": i})
        emitted = time.perf_counter() - start
        assert h.force_flush(120)
        stats = h.stats()
        # VmHWM is this process's own peak; ru_maxrss would include the parent's (pytest's) memory
        # from before exec, since the child is started by vfork.
        hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        rss_mb = int(hwm.split()[1]) / 1024
        print(f"BURST emitted_s={emitted:.1f} total_s={time.perf_counter() - start:.1f} "
              f"peak_rss_mb={rss_mb:.0f} exported={stats.exported} dropped={stats.dropped}")
        """
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, serve.grpc_endpoint],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        summary = next(line for line in result.stdout.splitlines() if line.startswith("BURST"))
        print(summary)
        assert "exported=1000000 dropped=0" in summary
        peak_rss_mb = float(summary.split("peak_rss_mb=")[1].split()[0])
        assert peak_rss_mb < 400, summary  # the queue is bounded: memory does not grow with the burst
        total, seqs = unique_seqs(serve.app_file("burst"))
        print(f"BURST file records={total} unique={len(seqs)}")
        assert total == 1_000_000 and len(seqs) == 1_000_000
    finally:
        serve.stop()


def test_receiver_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    log_dir = tmp_path / "logs"
    serve = start_serve(log_dir, grpc_port=port, http_port=-1)
    code = textwrap.dedent(
        """
        import logging, sys, time, otel_logging
        h = otel_logging.setup("restart", sys.argv[1], schedule_delay_ms=50, max_export_batch_size=200)
        log = logging.getLogger("restart")
        for i in range(30_000):
            log.info("record %d", i, extra={"seq": i})
            if i % 100 == 0:
                time.sleep(0.01)  # the app's own pace: about 10,000 records/s for 3 s
        assert h.force_flush(60), "not flushed"
        print("STATS", h.stats())
        """
    )
    app = subprocess.Popen(
        [sys.executable, "-c", code, serve.grpc_endpoint],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = log_dir / "restart.jsonl"
    wait_for(lambda: count_lines(path) >= 3_000, timeout=60, what="first records before the restart")
    assert serve.stop() == 0
    before = count_lines(path)
    serve = start_serve(log_dir, grpc_port=port, http_port=-1)
    try:
        out, err = app.communicate(timeout=180)
        assert app.returncode == 0, err[-3000:]
        assert "dropped=0" in out, out
        total, seqs = unique_seqs(path)
        assert before < 30_000  # the restart really happened mid-stream
        assert seqs == set(range(30_000))
        print(f"RESTART records={total} unique={len(seqs)} duplicates={total - len(seqs)} before_restart={before}")
    finally:
        serve.stop()
