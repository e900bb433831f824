"""The app side's disk buffer against a real service: outages, ``kill -9`` of the app, forked workers.

Each app logs records numbered 0, 1, 2, ... (``extra={"seq": n}``); the per-app file must hold each
number once, in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_logging.client.disk_buffer import read_frames
from tests.support.procs import REPO, ServeProcess, child_env, count_lines, free_port, start_serve, wait_for

pytestmark = pytest.mark.integration

# argv: service, endpoint, buffer dir, records, records per second; prints its stats as JSON at the end.
APP = textwrap.dedent(
    """
    import json, logging, sys, time
    import otel_logging
    service, endpoint, buffer_dir = sys.argv[1:4]
    total, rate = int(sys.argv[4]), float(sys.argv[5])
    handle = otel_logging.setup(service, endpoint, buffer_dir=buffer_dir)
    log = logging.getLogger("outage")
    start = time.monotonic()
    for seq in range(total):
        ahead = start + seq / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)  # pacing the load, not waiting for anything
        log.info("record %d", seq, extra={"seq": seq})
    print("LOGGED", total, flush=True)
    if "--hang" in sys.argv:
        time.sleep(3600)  # the test kills it
    handle.force_flush(180)
    stats = handle.stats()
    print("STATS", json.dumps({"exported": stats.exported, "dropped": stats.dropped, "buffered": stats.buffered,
                              "recovered": stats.recovered}), flush=True)
    """
)


def start_app(
    service: str, endpoint: str, buffer_dir: Path, total: int, rate: float, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", APP, service, endpoint, str(buffer_dir), str(total), str(rate), *extra],
        env=child_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(app: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = app.communicate(timeout=timeout)
    assert app.returncode == 0, err
    line = next(line for line in out.splitlines() if line.startswith("STATS"))
    return {**json.loads(line.split(" ", 1)[1]), "stderr": err}


def seqs_in_file(path: Path) -> list[int]:
    """The ``seq`` of each record, in file order (a torn last line of a killed service is skipped)."""
    seqs = []
    with open(path, "rb") as f:
        for line in f:
            try:
                seqs.append(json.loads(line)["attributes"]["seq"])
            except (ValueError, KeyError):
                continue
    return seqs


def check_every_record_once_in_order(seqs: list[int], total: int) -> int:
    """Asserts every seq in ``range(total)`` arrived, first arrivals in order; returns the duplicates."""
    first_seen: list[int] = []
    seen: set[int] = set()
    for seq in seqs:
        if seq not in seen:
            seen.add(seq)
            first_seen.append(seq)
    missing = set(range(total)) - seen
    assert not missing, f"{len(missing)} missing, first {sorted(missing)[:5]}, last {sorted(missing)[-5:]}"
    assert first_seen == list(range(total)), "records out of order"
    return len(seqs) - len(seen)


def seqs_in_buffer(directory: Path) -> set[int]:
    seqs: set[int] = set()
    for path in directory.glob("*.seg"):
        for payload, _records in read_frames(path):
            request = ExportLogsServiceRequest.FromString(payload)
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        seqs.update(kv.value.int_value for kv in r.attributes if kv.key == "seq")
    return seqs


def outage(tmp_path: Path, outage_s: float, total_s: float, rate: int = 2_000) -> None:
    port = free_port()
    log_dir = tmp_path / "logs"
    serve = start_serve(log_dir, grpc_port=port)
    endpoint = f"http://127.0.0.1:{port}"
    total = int(rate * total_s)
    names = ["outage-a", "outage-b"]
    apps = [start_app(name, endpoint, tmp_path / "buffer", total, rate) for name in names]
    restarted: ServeProcess | None = None
    try:
        wait_for(
            lambda: all(count_lines(serve.app_file(n)) >= rate * 3 for n in names), timeout=60, what="3 s of records"
        )
        serve.stop(signal.SIGKILL)
        time.sleep(outage_s)  # the outage itself
        sizes = [serve.app_file(n).stat().st_size for n in names]
        restarted = start_serve(log_dir, grpc_port=port)
        back = time.monotonic()
        wait_for(
            lambda: any(serve.app_file(n).stat().st_size > size for n, size in zip(names, sizes, strict=True)),
            timeout=30,
            interval=0.01,
            what="the first record after the service's return",
        )
        first_record_s = time.monotonic() - back
        stats = [finish(app, timeout=total_s + 240) for app in apps]
    finally:
        for app in apps:
            if app.poll() is None:
                app.kill()
        if restarted is not None:
            restarted.stop()
    duplicates = [check_every_record_once_in_order(seqs_in_file(serve.app_file(n)), total) for n in names]
    print(
        f"outage {outage_s:g} s, {len(names)} apps x {rate} rec/s x {total_s:g} s: every record of {total} per app "
        f"arrived in order, duplicates {duplicates}; first record {first_record_s:.2f} s after the service's return"
    )
    for s in stats:
        assert s["dropped"] == 0 and s["buffered"] == 0 and s["exported"] == total, s
    assert sum(duplicates) <= 2 * 1024  # at most the batch in flight at the kill, per app (measured: 0)
    assert first_record_s < 5  # measured ~1 s; slack for the shared machine
    assert not list((tmp_path / "buffer").rglob("*.seg"))


def test_service_down_15_s_while_two_apps_log_2000_per_second_loses_nothing(tmp_path: Path) -> None:
    outage(tmp_path, outage_s=15, total_s=30)


@pytest.mark.heavy
def test_service_down_60_s_while_two_apps_log_2000_per_second_loses_nothing(tmp_path: Path) -> None:
    outage(tmp_path, outage_s=60, total_s=90)


def test_app_killed_while_the_service_is_down_its_next_run_sends_what_it_had_written(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    buffer = tmp_path / "buffer"
    total = 6_000
    app = start_app("killed-app", endpoint, buffer, total, 2_000, "--hang")  # nothing listens on the port
    try:
        assert app.stdout is not None
        wait_for(lambda: app.stdout.readline().startswith("LOGGED"), timeout=60, what="records logged")  # type: ignore[union-attr]
        os.kill(app.pid, signal.SIGKILL)  # right after the last call: what is still in memory is lost
        app.wait(30)
    finally:
        if app.poll() is None:
            app.kill()
    on_disk = seqs_in_buffer(buffer / "killed-app")
    assert on_disk and on_disk == set(range(len(on_disk)))  # written in order, no gap
    serve = start_serve(tmp_path / "logs", grpc_port=port)
    try:
        stats = finish(start_app("killed-app", endpoint, buffer, 10, 1_000), timeout=120)
    finally:
        serve.stop()
    arrived = seqs_in_file(serve.app_file("killed-app"))
    # the first run's records, then the second run's 0..9
    assert arrived[: len(on_disk)] == sorted(on_disk) and arrived[len(on_disk) :] == list(range(10))
    assert stats["recovered"] == len(on_disk) and "earlier process" in stats["stderr"]
    print(
        f"kill -9 of the app: {len(on_disk)} of {total} records were on disk and all arrived; "
        f"{total - len(on_disk)} were in memory (the window: at most schedule_delay_ms or one batch)"
    )
    assert total - len(on_disk) <= 2 * 1024
    assert not list(buffer.rglob("*.seg"))


FORKING_APP = textwrap.dedent(
    """
    import logging, os, sys, time
    import otel_logging
    handle = otel_logging.setup("forked", sys.argv[1], buffer_dir=sys.argv[2])
    log = logging.getLogger("worker")
    children = []
    for worker in range(3):
        pid = os.fork()
        if pid == 0:
            for seq in range(1_000):
                log.info("w%d %d", worker, seq, extra={"seq": seq, "worker": worker})
            while handle.stats().buffered < 1_000:  # on disk (the service is down)
                time.sleep(0.01)
            os._exit(0)  # like a worker that dies: no shutdown, its buffer stays behind
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    print("CHILDREN", *children, flush=True)
    """
)


def test_forked_workers_each_own_their_buffer_and_a_later_run_sends_the_dead_ones(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    buffer = tmp_path / "buffer"
    result = subprocess.run(
        [sys.executable, "-c", FORKING_APP, endpoint, str(buffer)],
        env=child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    children = next(line for line in result.stdout.splitlines() if line.startswith("CHILDREN")).split()[1:]
    owners = {path.name.split("-")[1] for path in (buffer / "forked").glob("*.seg")}
    assert owners == set(children)  # each worker wrote its own segments; the master had nothing to buffer
    serve = start_serve(tmp_path / "logs", grpc_port=port)
    try:
        stats = finish(start_app("forked", endpoint, buffer, 1, 1), timeout=120)  # its one record after theirs
    finally:
        serve.stop()
    assert stats["recovered"] == 3_000
    records = [json.loads(line) for line in serve.app_file("forked").read_text().splitlines()]
    per_worker: dict[int, list[int]] = {}
    assert records[-1]["attributes"] == {"seq": 0} and len(records) == 3_001
    for r in records[:-1]:
        per_worker.setdefault(r["attributes"]["worker"], []).append(r["attributes"]["seq"])
    assert per_worker == {w: list(range(1_000)) for w in range(3)}  # each once, in order
    assert not list(buffer.rglob("*.seg"))
