"""Tools for the reliability tests: raw OTLP requests with sequence numbers, a small filesystem, memory readings."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.support import otlp

EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def seq_request(service: str, first_seq: int, count: int, body: str = "order placed") -> bytes:
    """An export request of ``count`` records whose ``seq`` attributes run from ``first_seq``."""
    records = [
        otlp.log_record(body, severity_number=9, severity_text="INFO", attributes={"seq": seq})
        for seq in range(first_seq, first_seq + count)
    ]
    return otlp.payload(service, records, scope="reliability")


class BatchTemplate:
    """Requests of ``size`` records that differ only in a ``batch`` resource attribute.

    The records are encoded once; each request costs a few bytes of encoding, so a test
    process can offer far more load than the service can take. A line in the files is
    identified by its ``resource.batch`` and ``attributes.seq``.
    """

    def __init__(self, service: str, size: int, body: str = "o") -> None:
        self.service = service
        self.size = size
        scope_logs = ScopeLogs()
        scope_logs.scope.name = "overload"
        for seq in range(size):
            scope_logs.log_records.append(
                LogRecord(
                    severity_number=9,
                    body=AnyValue(string_value=body),
                    attributes=[KeyValue(key="seq", value=AnyValue(int_value=seq))],
                )
            )
        self._scope_part = length_delimited(2, scope_logs.SerializeToString())  # ResourceLogs.scope_logs

    def request(self, batch: int) -> bytes:
        resource = Resource(
            attributes=[
                KeyValue(key="service.name", value=AnyValue(string_value=self.service)),
                KeyValue(key="batch", value=AnyValue(int_value=batch)),
            ]
        )
        resource_logs = length_delimited(1, resource.SerializeToString()) + self._scope_part
        return length_delimited(1, resource_logs)  # ExportLogsServiceRequest.resource_logs


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


_BATCH = re.compile(rb'"batch":(\d+)')


def lines_per_batch(path: Path) -> Counter[int]:
    """How many lines of each ``resource.batch`` a file holds (a fast scan, no JSON parsing)."""
    counts: Counter[int] = Counter()
    rest = b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(64 << 20), b""):
            whole, _, rest = (rest + chunk).rpartition(b"\n")  # scan whole lines only
            counts.update(int(m) for m in _BATCH.findall(whole))
    counts.update(int(m) for m in _BATCH.findall(rest))
    return counts


def export_call(target: str) -> tuple[grpc.Channel, grpc.UnaryUnaryMultiCallable]:
    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1)])
    return channel, channel.unary_unary(EXPORT_METHOD)


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size (VmHWM) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@contextmanager
def small_tmpfs(directory: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``directory`` (needs CAP_SYS_ADMIN); unmount afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True, text=True
        )
    except OSError as exc:  # no mount(8) here
        raise PermissionError(f"cannot mount a tmpfs on {directory}: {exc}") from exc
    if result.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs on {directory}: {result.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def fill_disk(path: Path, leave_bytes: int) -> int:
    """Fill the filesystem of ``path`` with the file ``path``, then free ``leave_bytes``; return its size."""
    block = b"\0" * (1 << 16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size = 0
    try:
        while True:
            try:
                size += os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        size = max(0, size - leave_bytes)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return size
