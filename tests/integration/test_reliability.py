"""Faults lose nothing: kill -9 mid-stream, a full disk, overload, and a flood of malformed input.

Each test counts what the clients were told was accepted against what is in the files,
and prints its figures on a line starting with its name (run with ``-s`` to see them).
"""

from __future__ import annotations

import http.client
import random
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import orjson
import pytest

from tests.support.faults import (
    BatchTemplate,
    export_call,
    fill_disk,
    lines_per_batch,
    peak_rss_mb,
    rss_mb,
    seq_request,
    small_tmpfs,
)
from tests.support.load import RETRYABLE, drive, median
from tests.support.malformed import (
    HOSTILE_NAMES,
    JSON,
    PROTOBUF,
    Tally,
    bulk_cases,
    json_request,
    post_oversized,
    send_grpc,
    send_http,
    special_cases,
)
from tests.support.procs import ServeProcess, child_env, count_lines, free_port, read_jsonl, start_serve, wait_for

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
        for path in files:
            path.unlink(missing_ok=True)  # pytest keeps the temporary directories of recent runs
        for p in procs:
            if p.poll() is None:
                p.kill()
        serve.stop()


# -- disk full --------------------------------------------------------------------------------------------------------


class Sender:
    """Sends seq-numbered requests over gRPC and HTTP in turn; remembers what was acknowledged.

    Each request carries one record for a second app ("<service>-side", written first) and then
    the records of ``service``: when the second write fails, the first must be taken back.
    """

    def __init__(self, serve: ServeProcess, service: str) -> None:
        self.serve = serve
        self.service = service
        self.channel, self.call = export_call(f"127.0.0.1:{serve.grpc_port}")
        self.acked: set[int] = set()
        self.acked_side: set[int] = set()
        self.statuses: Counter[str] = Counter()
        self.next_seq = 0

    def send(self, first: int, count: int, transport: str) -> bool:
        """One request; True when acknowledged. A refusal must be retryable and carry a retry hint."""
        # Two serialized requests back to back decode as one request with both apps' records.
        payload = seq_request(f"{self.service}-side", first, 1) + seq_request(
            self.service, first, count, body="x" * 100
        )
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
            self.acked_side.add(first)
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
    side_path = serve.app_file("disk-side")
    total_side, seqs_side, torn_side = seqs_in([side_path])
    assert torn_side == 0 and seqs_side == sender.acked_side and total_side == len(seqs_side)
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
    total_side, seqs_side, _ = seqs_in([side_path])
    assert seqs_side == sender.acked_side and total_side == len(seqs_side)  # taken back when "disk" failed
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


# -- overload ---------------------------------------------------------------------------------------------------------

BATCH = 512  # records per request


@pytest.mark.heavy
def test_overload_at_four_times_the_sustainable_rate_slows_clients_bounds_memory_and_loses_nothing(
    tmp_path: Path,
) -> None:
    seconds, factor, senders = 60.0, 4, 96
    # At most workers x 4 = 64 requests are held (more get RESOURCE_EXHAUSTED); 16 are converted at a time.
    rss_bound_mb = 256.0
    serve = start_serve(tmp_path / "logs", http_port=-1)
    template = BatchTemplate("overload", BATCH, body="o" * 100)
    channel, call = export_call(f"127.0.0.1:{serve.grpc_port}")
    try:
        baseline_mb = rss_mb(serve.proc.pid)
        calibration = drive(call, template, senders=4, seconds=8, requests_per_s=None, first_batch=0)
        sustainable = len(calibration.acked) * BATCH / 8  # records/s the service takes, back to back
        offered_rps = factor * sustainable / BATCH
        overload = drive(
            call, template, senders=senders, seconds=seconds, requests_per_s=offered_rps, first_batch=1_000_000
        )
        peak_mb = peak_rss_mb(serve.proc.pid)
        assert serve.proc.poll() is None
    finally:
        channel.close()
        serve.stop()
    offered = offered_rps * seconds * BATCH
    achieved = len(overload.acked) * BATCH / seconds
    written = lines_per_batch(serve.app_file("overload"))
    serve.app_file("overload").unlink()  # gigabytes: pytest keeps the temporary directories of recent runs
    acked_batches = set(calibration.acked) | set(overload.acked)
    missing = [b for b in acked_batches if written[b] < BATCH]
    torn = [b for b, n in written.items() if n % BATCH]
    total_written = sum(written.values())
    print(
        f"OVERLOAD sustainable={sustainable:.0f} rec/s "
        f"offered={factor}x={offered / seconds:.0f} rec/s for {seconds:.0f}s "
        f"achieved={achieved:.0f} rec/s senders={senders} statuses={dict(overload.statuses)} "
        f"latency_p50 calibration={median(calibration.latencies) * 1000:.0f}ms "
        f"overload={median(overload.latencies) * 1000:.0f}ms behind_schedule={overload.behind_s:.0f}s "
        f"rss_baseline={baseline_mb:.0f}MiB peak_rss={peak_mb:.0f}MiB bound={rss_bound_mb:.0f}MiB "
        f"acked={len(acked_batches) * BATCH} written={total_written} "
        f"unacked_but_written={total_written - len(acked_batches) * BATCH}"
    )
    assert not missing, f"{len(missing)} acknowledged batches are not (wholly) in the file"
    assert not torn
    assert peak_mb < rss_bound_mb
    # The clients were slowed: they got far less through than they offered, and waited longer for each answer.
    assert achieved < 0.6 * offered / seconds
    assert overload.behind_s > seconds / 4 or sum(overload.statuses[s] for s in RETRYABLE) > 0
    assert median(overload.latencies) > 2 * median(calibration.latencies)


# -- malformed input --------------------------------------------------------------------------------------------------


def files_outside(root: Path, log_dir: Path) -> set[Path]:
    return {p for p in root.rglob("*") if log_dir not in p.parents and p != log_dir}


@pytest.mark.heavy
def test_malformed_input_flood_gets_the_right_statuses_and_writes_only_inside_the_log_dir(tmp_path: Path) -> None:
    bulk_per_transport = 50_000
    log_dir = tmp_path / "logs"
    serve = start_serve(log_dir)
    outside_before = files_outside(tmp_path, log_dir)
    rng = random.Random(20260808)
    tally = Tally()
    channel, call = export_call(f"127.0.0.1:{serve.grpc_port}")
    started = time.monotonic()
    try:
        specials = special_cases()
        oversized = [c for c in specials if c.category == "100MB-string" and c.transport == "http"]
        plain_http = [c for c in oversized if "Content-Encoding" not in dict(c.headers)]
        for case in plain_http:
            tally.record(case, post_oversized(serve.http_port, case))
        send_http(serve.http_port, [c for c in specials if c.transport == "http" and c not in plain_http], tally)
        send_grpc(call, [c for c in specials if c.transport == "grpc"], tally, window=1)
        del specials, oversized, plain_http
        http_cases = list(bulk_cases(random.Random(rng.random()), "http", bulk_per_transport))
        threads = [
            threading.Thread(target=send_http, args=(serve.http_port, http_cases[i::2], tally)) for i in range(2)
        ]
        for thread in threads:
            thread.start()
        send_grpc(call, bulk_cases(random.Random(rng.random()), "grpc", bulk_per_transport), tally)
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        print(f"MALFORMED requests={tally.total()} seconds={seconds:.0f} {tally.summary()}")
        assert serve.proc.poll() is None, serve.stderr()[-3000:]
        assert "Traceback" not in serve.stderr(), serve.stderr()[-3000:]  # every request handled, none crashed
        assert not tally.wrong, tally.wrong
        assert tally.total() >= 100_000
        # Still serving, and still writing what is valid.
        call(seq_request("after-the-flood", 0, 1), timeout=30)
        assert count_lines(log_dir / "after-the-flood.jsonl") == 1
    finally:
        channel.close()
        serve.stop()
    assert files_outside(tmp_path, log_dir) == outside_before
    assert not Path("/tmp/otel-logging-escape").exists() and not Path("/etc/otel-logging-escape").exists()
    entries = list(log_dir.iterdir())
    assert all(p.is_file() and p.suffix == ".jsonl" and not p.name.startswith(".") for p in entries), entries
    lines = [line for p in entries for line in read_jsonl(p)]
    json_hostile = [line for line in lines if str(line["body"]).startswith("hostile ")]
    grpc_hostile = [line for line in lines if line["logger"] == "reliability" and line["service"] != "after-the-flood"]
    assert len(json_hostile) == len(grpc_hostile) == len(HOSTILE_NAMES)  # each hostile name got its record written


# -- receiver defects found by these tests, fixed ------------------------------


def test_truncated_gzip_body_is_refused(serve: ServeProcess) -> None:
    first, second = seq_request("gzip-cut", 0, 50), seq_request("gzip-cut", 50, 50)
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    flushed = compressor.compress(first) + compressor.flush(zlib.Z_FULL_FLUSH)
    whole = flushed + compressor.compress(second) + compressor.flush()
    headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    assert http_post_with(serve, whole, headers)[0] == 200
    # Cut where the first request ends: the prefix decompresses to a valid request of 50 records.
    status, _ = http_post_with(serve, flushed, headers)
    assert status == 400, f"an unfinished gzip stream got {status}; half of what the client sent was dropped silently"


def test_http_keep_alive_requests_are_not_held_by_delayed_acks(serve: ServeProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=30)
    started = time.monotonic()
    for i in range(50):
        body = json_request("nagle", {"stringValue": f"record {i}"})  # a JSON reply has a body ("{}")
        conn.request("POST", "/v1/logs", body=body, headers={"Content-Type": JSON})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    conn.close()
    assert time.monotonic() - started < 1.0  # 50 requests, about 2.2 s when each waits for a delayed ACK


def http_post_with(serve: ServeProcess, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port, timeout=30)
    try:
        conn.request("POST", "/v1/logs", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_concurrent_http_uploads_keep_memory_bounded(serve: ServeProcess) -> None:
    uploads, bound_mb = 150, 512.0
    body = memoryview(seq_request("uploads", 0, 1, body="u" * (8 << 20)))
    head = f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\nContent-Length: {len(body)}\r\n\r\n"
    sockets = [socket.create_connection(("127.0.0.1", serve.http_port), timeout=5) for _ in range(uploads)]

    def upload(sock: socket.socket) -> None:
        try:
            sock.sendall(head.encode())
            sock.sendall(body[:-1])  # all but the last byte: the service holds what it has read
        except OSError:
            pass  # refused or not read (a bounded service): either way the upload is held back

    threads = [threading.Thread(target=upload, args=(sock,)) for sock in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = peak_rss_mb(serve.proc.pid)
    for sock in sockets:
        sock.close()
    print(f"HTTP_UPLOADS concurrent={uploads} size=8MiB peak_rss={peak:.0f}MiB bound={bound_mb:.0f}MiB")
    assert serve.proc.poll() is None
    assert peak < bound_mb


def test_a_json_record_with_a_non_hex_trace_id_does_not_drop_its_batch_mates(serve: ServeProcess) -> None:
    document = orjson.loads(json_request("batch-mates", {"stringValue": "good"}))
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records.append({"body": {"stringValue": "bad id"}, "traceId": "not-hex-at-all"})
    status, reply = http_post_with(serve, orjson.dumps(document), {"Content-Type": JSON})
    assert status == 200, reply
    assert orjson.loads(reply)["partialSuccess"]["rejectedLogRecords"] == "1"
    assert [line["body"] for line in read_jsonl(serve.app_file("batch-mates"))] == ["good"]


def test_a_negative_content_length_is_refused(serve: ServeProcess) -> None:
    head = f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\nContent-Length: -5\r\n\r\n"
    with socket.create_connection(("127.0.0.1", serve.http_port), timeout=30) as sock:
        sock.sendall(head.encode())
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"400", status_line
