"""Faults lose nothing: kill -9 mid-stream, a full disk, overload, and a flood of malformed input.

Each test counts what the clients were told was accepted against what is in the files,
and prints its figures on a line starting with its name (run with ``-s`` to see them).
"""

from __future__ import annotations

import http.client
import resource
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import orjson
import pytest

from tests.support.faults import export_call, fill_disk, seq_request, small_tmpfs
from tests.support.procs import ServeProcess, child_env, count_lines, free_port, start_serve, wait_for

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


# -- disk full --------------------------------------------------------------------------------------------------------


class Sender:
    """Sends seq-numbered requests over gRPC and HTTP in turn; remembers what was acknowledged."""

    def __init__(self, serve: ServeProcess, service: str) -> None:
        self.serve = serve
        self.service = service
        self.channel, self.call = export_call(f"127.0.0.1:{serve.grpc_port}")
        self.acked: set[int] = set()
        self.statuses: Counter[str] = Counter()
        self.next_seq = 0

    def send(self, first: int, count: int, transport: str) -> bool:
        """One request; True when acknowledged. A refusal must be retryable and carry a retry hint."""
        payload = seq_request(self.service, first, count, body="x" * 100)
        if transport == "grpc":
            try:
                self.call(payload, timeout=30)
                ok, status = True, "OK"
            except grpc.RpcError as exc:
                ok, status = False, exc.code().name
                hints = dict(exc.trailing_metadata() or ())
                assert "retry-after" in hints, f"{status} without a retry hint: {exc.details()}"
        else:
            code, headers = http_post(self.serve, payload, "application/x-protobuf")
            ok, status = code == 200, str(code)
            if not ok:
                assert "retry-after" in headers, f"{code} without Retry-After"
        self.statuses[status] += 1
        if ok:
            self.acked.update(range(first, first + count))
        return ok

    def send_next(self, count: int, transport: str) -> bool:
        first = self.next_seq
        self.next_seq += count
        return self.send(first, count, transport)

    def close(self) -> None:
        self.channel.close()


def http_post(serve: ServeProcess, body: bytes, content_type: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=30)
    try:
        conn.request("POST", "/v1/logs", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


DISK_APP = textwrap.dedent(
    """
    import logging, sys, otel_logging
    endpoint, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    h = otel_logging.setup("disk", endpoint, max_export_batch_size=100, schedule_delay_ms=50)
    log = logging.getLogger("disk")
    for seq in range(first, first + count):
        log.info("during a full disk %d", seq, extra={"seq": seq})
    flushed = h.force_flush(120_000)
    s = h.stats()
    print(f"APP flushed={flushed} exported={s.exported} dropped={s.dropped}", flush=True)
    """
)


def _disk_full_run(serve: ServeProcess, make_full: Callable[[], None], make_space: Callable[[], None]) -> str:
    path = serve.app_file("disk")
    sender = Sender(serve, "disk")
    transports = ("grpc", "http")
    for i in range(20):
        assert sender.send_next(100, transports[i % 2])
    make_full()
    failures: list[tuple[int, int, str]] = []
    for i in range(400):
        first, transport = sender.next_seq, transports[i % 2]
        if not sender.send_next(100, transport):
            failures.append((first, 100, transport))
            if len(failures) >= 10:
                break
    assert len(failures) >= 10, f"the disk never filled: {sender.statuses}"
    assert set(sender.statuses) <= {"OK", "UNAVAILABLE", "200", "503"}, sender.statuses
    # While the disk is full: every line is whole, and exactly the acknowledged records are there.
    total, seqs, torn = seqs_in([path])
    assert torn == 0 and path.read_bytes().endswith(b"\n")
    assert seqs == sender.acked and total == len(seqs)
    app = subprocess.Popen(
        [sys.executable, "-c", DISK_APP, serve.grpc_endpoint, "10000000", "2000"],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first, count, transport = failures[0]
        assert not sender.send(first, count, transport)  # still full while the app is trying
        space_at = time.monotonic()
        make_space()
        wait_for(lambda: sender.send(first, count, transport), timeout=30, what="the service to write again")
        recovery_s = time.monotonic() - space_at
        for first, count, transport in failures[1:]:
            assert sender.send(first, count, transport)
        out, err = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
        sender.close()
    assert app.returncode == 0 and "flushed=True" in out and "dropped=0" in out, out + err[-2000:]
    assert serve.proc.poll() is None  # the same process recovered by itself
    total, seqs, torn = seqs_in([path])
    app_seqs = set(range(10_000_000, 10_002_000))
    assert torn == 0
    assert seqs == sender.acked | app_seqs
    assert total == len(seqs)  # a failed write left nothing behind, so a retry made no duplicate
    return (
        f"acked={len(sender.acked) + len(app_seqs)} written={total} duplicates={total - len(seqs)} "
        f"refusals={sum(v for k, v in sender.statuses.items() if k not in ('OK', '200'))} "
        f"statuses={dict(sender.statuses)} recovery_s={recovery_s:.2f}"
    )


def test_disk_full_small_filesystem(tmp_path: Path) -> None:
    mount_point = tmp_path / "small"
    try:
        mount = small_tmpfs(mount_point, "4m")
        mount.__enter__()
    except PermissionError as exc:
        pytest.skip(f"{exc}; test_disk_full_file_size_limit covers a full disk here")
    filler = mount_point / "filler"
    serve = start_serve(mount_point / "logs")
    try:
        figures = _disk_full_run(serve, lambda: fill_disk(filler, leave_bytes=64 << 10), filler.unlink)
        print(f"DISKFULL tmpfs=4MiB {figures}")
    finally:
        serve.stop()
        mount.__exit__(None, None, None)


def test_disk_full_file_size_limit(tmp_path: Path) -> None:
    """RLIMIT_FSIZE on the running service (EFBIG, SIGXFSZ ignored by Python): needs no privilege."""
    serve = start_serve(tmp_path / "logs")
    pid = serve.proc.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)

    def make_full() -> None:
        size = serve.app_file("disk").stat().st_size
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (size + (64 << 10), hard))

    def make_space() -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))

    try:
        figures = _disk_full_run(serve, make_full, make_space)
        print(f"DISKFULL rlimit_fsize {figures}")
    finally:
        serve.stop()
