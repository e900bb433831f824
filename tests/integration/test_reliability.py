"""Faults lose nothing: kill -9 mid-stream, a full disk, overload, and a flood of malformed input.

Each test counts what the clients were told was accepted against what is in the files,
and prints its figures on a line starting with its name (run with ``-s`` to see them).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from tests.support.procs import child_env, count_lines, free_port, start_serve, wait_for

pytestmark = pytest.mark.integration


def seqs_in(paths: list[Path]) -> tuple[int, set[int], int]:
    """(lines, unique seq values, lines that are not whole JSON records) over ``paths``."""
    total = torn = 0
    seqs: set[int] = set()
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                total += 1
                try:
                    seqs.add(orjson.loads(line)["attributes"]["seq"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    torn += 1
    return total, seqs, torn


# -- kill -9 ----------------------------------------------------------------------------------------------------------

APP = textwrap.dedent(
    """
    import logging, sys, otel_logging
    name, endpoint, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # The queue holds what the app logs while the service is down (the default, 20,000, would
    # drop the overflow and count it in stats().dropped).
    h = otel_logging.setup(name, endpoint, max_queue_size=count)
    log = logging.getLogger(name)
    for seq in range(first, first + count):
        log.info("order %d placed", seq, extra={"seq": seq})
    flushed = h.force_flush(300_000)
    s = h.stats()
    print(f"APP flushed={flushed} exported={s.exported} dropped={s.dropped}", flush=True)
    """
)


@pytest.mark.heavy
def test_kill_9_mid_stream_then_restart_loses_nothing(tmp_path: Path) -> None:
    apps, per_app = 4, 250_000
    port = free_port()
    log_dir = tmp_path / "logs"
    serve = start_serve(log_dir, grpc_port=port, http_port=-1)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APP, f"app-{i}", serve.grpc_endpoint, str(i * per_app), str(per_app)],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(apps)
    ]
    files = [log_dir / f"app-{i}.jsonl" for i in range(apps)]
    try:
        wait_for(lambda: sum(map(count_lines, files)) >= 200_000, timeout=180, what="200,000 records written")
        serve.proc.kill()  # SIGKILL: no drain, no flush, no goodbye
        serve.proc.wait(10)
        before = sum(map(count_lines, files))
        started = time.monotonic()
        serve = start_serve(log_dir, grpc_port=port, http_port=-1)
        restart_s = time.monotonic() - started
        outputs = [p.communicate(timeout=400) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err[-3000:]
            assert "flushed=True" in out and "dropped=0" in out, out + err[-2000:]
        total, seqs, torn = seqs_in(files)
        sent = apps * per_app
        print(
            f"KILL9 sent={sent} lines_in_files={total} unique_seq={len(seqs)} duplicates={total - len(seqs)} "
            f"torn_lines={torn} written_before_kill={before} restart_s={restart_s:.1f}"
        )
        assert before < sent  # the kill really happened mid-stream
        assert torn == 0
        assert seqs == set(range(sent))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        serve.stop()
