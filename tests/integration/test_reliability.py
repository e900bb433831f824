"""Faults lose nothing: kill -9 mid-stream, a full disk, overload, and a flood of malformed input.

Each test counts what the clients were told was accepted against what is in the files,
and prints its figures on a line starting with its name (run with ``-s`` to see them).
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import random
import resource
import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import orjson
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

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

BATCH = 512
RETRYABLE = {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}


class LoadStats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[int] = []  # batch numbers acknowledged
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.behind_s = 0.0  # how far the senders ended up behind their schedule


def drive(
    call: grpc.UnaryUnaryMultiCallable,
    template: BatchTemplate,
    *,
    senders: int,
    seconds: float,
    requests_per_s: float | None,
    first_batch: int,
) -> LoadStats:
    """``senders`` threads; each sends on its own schedule (open loop) or back to back (``requests_per_s=None``).

    A refused batch (RESOURCE_EXHAUSTED, UNAVAILABLE) is retried after a growing pause, as OTLP clients do.
    """
    stats = LoadStats()
    batches = itertools.count(first_batch)
    start = time.monotonic()
    end = start + seconds
    interval = senders / requests_per_s if requests_per_s else 0.0

    def sender(index: int) -> None:
        due = start + index * interval / senders
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if interval and due > now:
                time.sleep(due - now)  # the client's own pace (open loop), not synchronisation
            due += interval
            batch = next(batches)
            payload = template.request(batch)
            pause = 0.05
            while True:
                sent_at = time.monotonic()
                try:
                    call(payload, timeout=60)
                    status = "OK"
                except grpc.RpcError as exc:
                    status = exc.code().name
                with stats.lock:
                    stats.statuses[status] += 1
                    if status == "OK":
                        stats.acked.append(batch)
                        stats.latencies.append(time.monotonic() - sent_at)
                if status not in RETRYABLE:
                    break
                time.sleep(pause)  # retry backoff of the client
                pause = min(pause * 2, 1.0)
        with stats.lock:
            stats.behind_s = max(stats.behind_s, time.monotonic() - due) if interval else 0.0

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


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

PROTOBUF, JSON = "application/x-protobuf", "application/json"
GRPC_OK, GRPC_INVALID, GRPC_TOO_LARGE = "OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"


@dataclass(frozen=True, slots=True)
class Case:
    """One request to send and the statuses that are right for it."""

    category: str
    transport: str  # "grpc" or "http"
    payload: bytes
    expected: frozenset[str]
    headers: tuple[tuple[str, str], ...] = (("Content-Type", PROTOBUF),)


def protobuf_expectation(payload: bytes, transport: str) -> frozenset[str]:
    """What the protobuf library says about ``payload``: a request (OK) or not one (invalid)."""
    try:
        ExportLogsServiceRequest.FromString(payload)
    except DecodeError:
        return frozenset({GRPC_INVALID if transport == "grpc" else "400"})
    return frozenset({GRPC_OK if transport == "grpc" else "200"})


def valid_request(rng: random.Random, service: str) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "fuzz"
    for i in range(rng.randint(1, 8)):
        record = scope_logs.log_records.add(time_unix_nano=rng.getrandbits(63), severity_number=rng.randint(0, 24))
        record.body.string_value = f"message {i} " + "é" * rng.randint(0, 20)
        record.trace_id = rng.randbytes(rng.choice((16, 16, 15)))
        nested = record.attributes.add(key="nested")
        nested.value.kvlist_value.values.add(key="k", value=AnyValue(double_value=rng.random()))
        record.attributes.add(key="list").value.array_value.values.add(int_value=rng.getrandbits(62))
    return request.SerializeToString()


def bulk_cases(rng: random.Random, transport: str, count: int) -> Iterator[Case]:
    """Random bytes, truncated and bit-flipped requests: the protobuf library is the judge."""
    seeds = [valid_request(rng, f"fuzz-{i}") for i in range(50)]
    for i in range(count):
        kind = i % 3
        if kind == 0:
            category, payload = "random-bytes", rng.randbytes(rng.randint(0, 1500))
        elif kind == 1:
            seed = rng.choice(seeds)
            category, payload = "truncated-protobuf", seed[: rng.randrange(len(seed))]
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            category, payload = "mutated-protobuf", bytes(data)
        yield Case(category, transport, payload, protobuf_expectation(payload, transport))


def _length_delimited(number: int, payload: bytes) -> bytes:
    out = bytearray([number << 3 | 2])
    size = len(payload)
    while True:
        low, size = size & 0x7F, size >> 7
        out.append(low | (0x80 if size else 0))
        if not size:
            return bytes(out) + payload


def nested_body_request(depth: int) -> bytes:
    """A record whose body is an array nested ``depth`` times (AnyValue.array_value = 5, ArrayValue.values = 1)."""
    value = AnyValue(string_value="deep").SerializeToString()
    for _ in range(depth):
        value = _length_delimited(5, _length_delimited(1, value))
    record = _length_delimited(5, value)  # LogRecord.body
    scope_logs = _length_delimited(2, record)  # ScopeLogs.log_records
    resource_logs = _length_delimited(2, scope_logs)  # ResourceLogs.scope_logs
    return _length_delimited(1, resource_logs)  # ExportLogsServiceRequest.resource_logs


def json_request(service: str, body: object) -> bytes:
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeLogs": [{"scope": {"name": "fuzz"}, "logRecords": [{"body": body}]}],
                }
            ]
        }
    )


HOSTILE_NAMES = [
    "../../../../tmp/otel-logging-escape",
    "/etc/otel-logging-escape",
    "..",
    ".",
    "",
    " ",
    "a/b/../../../c",
    "a\\b\\..\\..\\c",
    "nul\x00byte",
    "CON",
    ".hidden",
    "x" * 5000,
    "line\nbreak",
    "app.20260101T000000.000000Z",
    "-rf",
    "~root",
    "$(touch /tmp/otel-logging-escape)",
    "\u202eevil",
    "日本語のアプリ",
    "%2e%2e%2f%2e%2e%2fescape",
]


def special_cases() -> list[Case]:
    """Every kind of hostile request named by the issue, on both transports, with its right status."""
    cases: list[Case] = []
    bad_utf8 = seq_request("utf8", 0, 1, body="ABCD").replace(b"ABCD", b"\xff\xfe\xc0\x80")
    for depth, grpc_status, http_status in ((10, GRPC_OK, "200"), (120, GRPC_INVALID, "400"), (5000, None, "400")):
        payload = nested_body_request(depth)
        if grpc_status:
            cases.append(Case("deep-nesting", "grpc", payload, frozenset({grpc_status})))
        cases.append(Case("deep-nesting", "http", payload, frozenset({http_status})))
    deep_json = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + b'{"arrayValue":{"values":[' * 3000
    cases.append(
        Case(
            "deep-nesting",
            "http",
            deep_json + b"1" + b"]}}" * 3000 + b"}]}]}]}",
            frozenset({"400"}),
            (("Content-Type", JSON),),
        )
    )
    cases.append(Case("deep-nesting", "http", b"[" * 100_000, frozenset({"400"}), (("Content-Type", JSON),)))
    for transport, expected in (("grpc", GRPC_INVALID), ("http", "400")):
        cases.append(Case("invalid-utf8", transport, bad_utf8, frozenset({expected})))
    json_headers = (("Content-Type", JSON),)
    for payload in (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\xff\xfe"}}]}]}]}',
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\\ud800"}}]}]}]}',
        b"\xef\xbb\xbf\xff{}",
    ):
        cases.append(Case("invalid-utf8", "http", payload, frozenset({"400"}), json_headers))
    for payload in (
        b'{"resourceLogs":{"a":1}}',
        b'{"resourceLogs":5}',
        b'{"resourceLogs":[{"scopeLogs":[null]}]}',
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1e999"}]}]}]}',
        b"[]",
        b"null",
        b"",
    ):
        cases.append(Case("malformed-json", "http", payload, frozenset({"400"}), json_headers))
    # A record whose id is not hex: the whole request refused (today), or only that record (OTLP partial success).
    bad_id = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}'
    cases.append(Case("malformed-json", "http", bad_id, frozenset({"400", "200"}), json_headers))
    valid_json = json_request("json-app", {"stringValue": "hello"})
    for cut in range(0, len(valid_json), 7):
        cases.append(Case("truncated-json", "http", valid_json[:cut], frozenset({"400"}), json_headers))
    valid = seq_request("types", 0, 1)
    for content_type in ("text/plain", "application/xml", "multipart/form-data", "", "application/grpc"):
        cases.append(Case("wrong-content-type", "http", valid, frozenset({"415"}), (("Content-Type", content_type),)))
    cases.append(
        Case(
            "wrong-content-type",
            "http",
            valid,
            frozenset({"415"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "br")),
        )
    )
    cases.append(
        Case(
            "bad-gzip",
            "http",
            b"this is not gzip",  # a truncated gzip stream: see test_truncated_gzip_body_is_refused
            frozenset({"400"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")),
        )
    )
    huge = seq_request("huge", 0, 1, body="h" * (100 << 20))  # 100 MiB in one string: over the 64 MiB limit
    cases.append(Case("100MB-string", "grpc", huge, frozenset({GRPC_TOO_LARGE})))
    cases.append(Case("100MB-string", "http", huge, frozenset({"413"})))
    cases.append(
        Case(
            "100MB-string",
            "http",
            huge,
            frozenset({"413"}),
            (("Content-Type", PROTOBUF), ("Transfer-Encoding", "chunked")),
        )
    )
    cases.append(
        Case(
            "100MB-string",
            "http",
            gzip.compress(huge, 1),
            frozenset({"413"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")),
        )
    )
    for i, name in enumerate(HOSTILE_NAMES):
        cases.append(Case("hostile-service-name", "grpc", seq_request(name, i, 1), frozenset({GRPC_OK})))
        payload = json_request(name, {"stringValue": f"hostile {i}"})
        cases.append(Case("hostile-service-name", "http", payload, frozenset({"200"}), json_headers))
    return cases


class Tally:
    """Statuses per (category, transport), and the requests that got a wrong one."""

    def __init__(self) -> None:
        self.statuses: Counter[tuple[str, str, str]] = Counter()
        self.wrong: list[str] = []
        self._lock = threading.Lock()

    def record(self, case: Case, status: str) -> None:
        with self._lock:
            self.statuses[(case.category, case.transport, status)] += 1
            if status not in case.expected and len(self.wrong) < 20:
                self.wrong.append(f"{case.category}/{case.transport}: got {status}, expected {sorted(case.expected)}")

    def total(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        by_kind: dict[str, Counter[str]] = {}
        for (category, transport, status), n in sorted(self.statuses.items()):
            by_kind.setdefault(f"{category}/{transport}", Counter())[status] += n
        return " ".join(f"{kind}={dict(counts)}" for kind, counts in by_kind.items())


def send_grpc(call: grpc.UnaryUnaryMultiCallable, cases: Iterable[Case], tally: Tally, window: int = 32) -> None:
    """Keep ``window`` requests in flight (below the service's concurrent-RPC limit)."""
    pending: deque[tuple[Case, grpc.Future]] = deque()

    def settle(case: Case, future: grpc.Future) -> None:
        try:
            future.result()
            tally.record(case, "OK")
        except grpc.RpcError as exc:
            tally.record(case, exc.code().name)

    for case in cases:
        pending.append((case, call.future(case.payload, timeout=120)))
        if len(pending) >= window:
            settle(*pending.popleft())
    while pending:
        settle(*pending.popleft())


def send_http(port: int, cases: Iterable[Case], tally: Tally) -> None:
    """One keep-alive connection, reopened whenever the service closes it."""
    conn: http.client.HTTPConnection | None = None
    for case in cases:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = dict(case.headers)
        chunked = headers.get("Transfer-Encoding") == "chunked"
        body: bytes | Iterator[bytes] = case.payload
        if chunked:
            body = (case.payload[i : i + (1 << 20)] for i in range(0, len(case.payload), 1 << 20))
        try:
            conn.request("POST", "/v1/logs", body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
            response.read()
            status = str(response.status)
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            status = f"connection error {type(exc).__name__}"
            conn.close()
            conn = None
        tally.record(case, status)
    if conn is not None:
        conn.close()


def post_oversized(port: int, case: Case) -> str:
    """Send headers, then the body only while the service reads it; return the status it answers."""
    headers = dict(case.headers)
    payload = case.payload
    if headers.get("Transfer-Encoding") == "chunked":
        step = 1 << 20
        payload = b"".join(
            b"%X\r\n%s\r\n" % (len(payload[i : i + step]), payload[i : i + step]) for i in range(0, len(payload), step)
        )
        payload += b"0\r\n\r\n"
    else:
        headers["Content-Length"] = str(len(payload))
    head = (
        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        body, sent, received = memoryview(payload), 0, b""
        deadline = time.monotonic() + 120
        while b"\r\n" not in received and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < len(body) else [], [], 1.0)
            try:
                if readable:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                elif writable:
                    sent += sock.send(body[sent : sent + (1 << 20)])
            except (BrokenPipeError, ConnectionResetError) as exc:
                if readable:
                    return f"connection error {type(exc).__name__}"
                sent = len(body)  # the service stopped reading: wait for its answer
    parts = received.split(b" ", 2)
    return parts[1].decode() if len(parts) > 2 and received.startswith(b"HTTP/1.") else f"no answer {received[:40]!r}"


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


@pytest.mark.xfail(
    strict=True,
    reason="receiver/http_server.py: ThreadingHTTPServer starts a thread per connection and reads each body whole, "
    "with no limit on concurrent requests, so memory grows with concurrent uploads (200 x 8 MiB held 1.65 GiB); "
    "remove this marker once the HTTP front end bounds them",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="receiver/export.py _hex_ids_to_base64 raises ExportError for the whole request when one record's "
    "traceId/spanId is not hex, so its batch-mates are refused too (protobuf: only that record is rejected)",
)
def test_a_json_record_with_a_non_hex_trace_id_does_not_drop_its_batch_mates(serve: ServeProcess) -> None:
    document = orjson.loads(json_request("batch-mates", {"stringValue": "good"}))
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records.append({"body": {"stringValue": "bad id"}, "traceId": "not-hex-at-all"})
    status, reply = http_post_with(serve, orjson.dumps(document), {"Content-Type": JSON})
    assert status == 200, reply
    assert orjson.loads(reply)["partialSuccess"]["rejectedLogRecords"] == "1"
    assert [line["body"] for line in read_jsonl(serve.app_file("batch-mates"))] == ["good"]


@pytest.mark.xfail(
    strict=True,
    reason="receiver/http_server.py _read_body accepts a negative Content-Length as an empty body "
    "(an empty request, 200) instead of refusing it with 400",
)
def test_a_negative_content_length_is_refused(serve: ServeProcess) -> None:
    head = f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\nContent-Length: -5\r\n\r\n"
    with socket.create_connection(("127.0.0.1", serve.http_port), timeout=30) as sock:
        sock.sendall(head.encode())
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"400", status_line
