"""Aggregation throughput: a generated mixed-format log directory -> canonical records -> per-app files.

The directory (``--size-mb``, default 200) holds stdlib text logs with tracebacks (60%), python-json-logger
lines (20%), structlog lines (10%) and the seed server's text format (10%); ``--mix stdlib`` makes it
stdlib text only. Two readers go over the same files, in the same run, after a warm-up read:

    naive       for line in f: json.loads(line) for JSON lines, line.split(" - ", 3) for text lines
                (no timestamps, no records, no output): the baseline of the ratio
    aggregate   otel_logging's Ingestor into a FileSink (detection, multi-line, timestamps, canonical
                records, JSON encoding, file writes, checkpoints); stdlib-format files go through the native
                reader when otel_logging_native is installed

A third reading compares the native and the Python paths on a sample of the same files (the first
``--sample-mb`` of them, each kind in its share), the Python one as with OTEL_LOGGING_NATIVE=0.

Usage: python bench/aggregate.py [--size-mb 200] [--mix mixed|stdlib] [--sample-mb 100] [--profile]
Figures are per CPU-second of this (single-threaded) process, so they hold on a busy shared machine;
wall-clock MB/s is printed too. Last line: aggregate: X MB/s, Y records/s per CPU-second (W MB/s wall);
naive: Z MB/s per CPU-second; ratio X/Z
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otel_logging.ingest.engine import IngestOptions, Ingestor, fewer_gc_passes  # noqa: E402
from otel_logging.record import RecordBatch  # noqa: E402
from otel_logging.record import native as native_module  # noqa: E402
from otel_logging.sinks.files import FileSink  # noqa: E402

LOGGERS = ["app.web", "app.db", "app.auth", "app.billing.invoices", "worker"]
WORDS = ["user", "order", "payment", "session", "cache", "request", "retry", "timeout", "invoice", "queue"]


def _message(rng: random.Random, i: int) -> str:
    return f"{rng.choice(WORDS)} {rng.choice(WORDS)} id={i} took {rng.randint(1, 900)}ms for {rng.choice(WORDS)}"


def _stdlib(rng: random.Random, i: int, t: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t * 1000) % 1000:03d}"
    if i % 200 == 0:
        return (
            f"{stamp} - {rng.choice(LOGGERS)} - ERROR - {_message(rng, i)}\nTraceback (most recent call last):\n"
            f'  File "/srv/app/handlers.py", line {i % 500}, in handle\n    result = process(request)\n'
            f"ValueError: invalid literal for int() with base 10: '{i}'\n"
        )
    level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARNING"))
    return f"{stamp} - {rng.choice(LOGGERS)} - {level} - {_message(rng, i)}\n"


def _python_json(rng: random.Random, i: int, t: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t * 1000) % 1000:03d}"
    return json.dumps({"asctime": stamp, "levelname": "INFO", "name": rng.choice(LOGGERS),
                       "message": _message(rng, i), "request_id": i, "user": "u" + str(i % 97)}) + "\n"  # fmt: skip


def _structlog(rng: random.Random, i: int, t: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z"
    return json.dumps({"event": _message(rng, i), "level": "info", "timestamp": stamp, "logger": "sl", "n": i}) + "\n"


def _seed(rng: random.Random, i: int, t: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}"
    return f"{stamp} - legacy-app - {rng.choice(LOGGERS)} - INFO - {_message(rng, i)}\n"


def generate(directory: Path, size_mb: int, mix: str) -> int:
    """Write the files; returns the number of log entries."""
    rng = random.Random(7)
    shares = {"stdlib": 1.0} if mix == "stdlib" else {"stdlib": 0.6, "pyjson": 0.2, "structlog": 0.1, "seed": 0.1}
    makers = {"stdlib": _stdlib, "pyjson": _python_json, "structlog": _structlog, "seed": _seed}
    entries = 0
    for kind, share in shares.items():
        target = int(size_mb * share * (1 << 20))
        files = max(1, int(size_mb * share // 50))
        for n in range(files):
            t = 1_709_280_000.0
            written = 0
            with open(directory / f"{kind}-{n}.log", "w") as f:
                chunk: list[str] = []
                while written < target // files:
                    t += 0.0137
                    entry = makers[kind](rng, entries, t)
                    chunk.append(entry)
                    written += len(entry)
                    entries += 1
                    if len(chunk) == 10_000:
                        f.write("".join(chunk))
                        chunk = []
                f.write("".join(chunk))
    return entries


def naive(directory: Path) -> int:
    lines = 0
    loads = json.loads
    for path in sorted(directory.iterdir()):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("{"):
                    loads(line)
                else:
                    line.split(" - ", 3)
                lines += 1
    return lines


class NullSink(FileSink):
    """The per-app files sink without its writes: what is left is reading, parsing, building records (as JSON
    lines) and the checkpoint's intents and commits."""

    name = "null"

    def position(self, service: str) -> tuple[str, int, int, int]:
        return os.devnull, 0, 0, 0

    def write(self, batch: RecordBatch) -> None:
        pass


def aggregate(directory: Path, out: Path | None, checkpoint: Path, use_native: bool = True) -> int:
    options = IngestOptions(service="bench", checkpoint_path=checkpoint)
    ingestor = Ingestor([FileSink(out) if out is not None else NullSink(checkpoint.parent / "null")], options)
    reader = native_module._stdlib_reader
    if not use_native:
        native_module._stdlib_reader = None  # what OTEL_LOGGING_NATIVE=0 does
    try:
        with fewer_gc_passes():  # as the otel-logging aggregate command does
            summary = ingestor.run([str(directory)])
    finally:
        native_module._stdlib_reader = reader
    ingestor.close()
    assert summary.ok, summary.to_dict()
    return summary.records


def write_floor(directory: Path, nbytes: int) -> float:
    """CPU seconds to append ``nbytes`` to a new file with os.write (4 MiB at a time, from one buffer): what the
    kernel alone costs for the aggregate's output (the copy into new page-cache pages)."""
    line = b'{"@timestamp":"2024-03-01T08:00:00.000000000Z","body":"the same bytes over and over"}\n'
    block = line * ((4 << 20) // len(line))
    path = directory / "floor.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    clock = Clock()
    try:
        written = 0
        while written < nbytes:
            written += os.write(fd, block)
        _, cpu = clock.read()
    finally:
        os.close(fd)
        path.unlink()
    return cpu


def sample(src: Path, directory: Path, mb: int) -> float:
    """The first ``mb`` MB of the files, each file in its share, cut after a line; returns the MB written."""
    total = sum(p.stat().st_size for p in src.iterdir())
    share = min(1.0, mb * (1 << 20) / total)
    for path in sorted(src.iterdir()):
        with open(path, "rb") as f:
            head = f.read(int(path.stat().st_size * share))
        (directory / path.name).write_bytes(head[: head.rfind(b"\n") + 1])
    return sum(p.stat().st_size for p in directory.iterdir()) / (1 << 20)


def compare_paths(src: Path, work: Path, mb: int) -> str:
    """Native vs Python path, both into the per-app files, on the same sample; one line."""
    directory = work / "sample"
    directory.mkdir()
    sample_mb = sample(src, directory, mb)
    figures = []
    for use_native in (True, False):
        out = work / f"sample-out-{use_native}"
        clock = Clock()
        records = aggregate(directory, out, work / f"ck-sample-{use_native}.json", use_native)
        _, cpu = clock.read()
        figures.append((sample_mb / cpu, records / cpu))
        shutil.rmtree(out)
    (native_mb, native_rps), (python_mb, python_rps) = figures
    if not native_module.STDLIB_AVAILABLE:
        return f"native path: not available ({native_module.STDLIB_UNAVAILABLE_REASON})"
    return (
        f"native vs Python path ({sample_mb:.0f} MB sample, per CPU-second): native {native_mb:.1f} MB/s "
        f"({native_rps:,.0f} records/s), Python {python_mb:.1f} MB/s ({python_rps:,.0f} records/s): "
        f"{native_mb / python_mb:.1f}x"
    )


class Clock:
    """Wall and CPU (this process) time since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--mix", choices=("mixed", "stdlib"), default="mixed")
    parser.add_argument("--sample-mb", type=int, default=100, help="sample for the native vs Python comparison")
    parser.add_argument("--profile", action="store_true", help="print where the aggregation spends its time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    try:
        src = work / "src"
        src.mkdir()
        started = time.perf_counter()
        entries = generate(src, args.size_mb, args.mix)
        size = sum(p.stat().st_size for p in src.iterdir())
        mb = size / (1 << 20)
        print(f"generated {mb:.0f} MB, {entries:,} entries ({args.mix}) in {time.perf_counter() - started:.1f} s")
        naive(src)  # warm the page cache
        clock = Clock()
        lines = naive(src)
        naive_s, naive_cpu = clock.read()
        print(f"naive:     {lines:,} lines in {naive_s:.2f} s ({naive_cpu:.2f} CPU s) = {mb / naive_s:.1f} MB/s")
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        clock = Clock()
        records = aggregate(src, work / "out", work / "ck.json")
        agg_s, agg_cpu = clock.read()
        if profiler:
            profiler.disable()
        out_bytes = sum(p.stat().st_size for p in (work / "out").iterdir())
        out_mb = out_bytes / (1 << 20)
        print(
            f"aggregate: {records:,} records in {agg_s:.2f} s ({agg_cpu:.2f} CPU s) = {mb / agg_s:.1f} MB/s in, "
            f"{out_mb:.0f} MB written"
        )
        assert records == entries, (records, entries)
        clock = Clock()
        aggregate(src, None, work / "ck-null.json")
        _, null_cpu = clock.read()
        print(
            f"where the CPU time goes: read+parse+build records as JSON lines+checkpoint "
            f"{null_cpu / records * 1e6:.2f} us/record ({null_cpu / agg_cpu:.0%}), file writes (the kernel's copy "
            f"into the page cache) {(agg_cpu - null_cpu) / records * 1e6:.2f} us/record ({1 - null_cpu / agg_cpu:.0%})"
        )
        floor_cpu = write_floor(work, out_bytes)
        print(
            f"write floor: os.write of the same {out_mb:.0f} MB into a new file takes {floor_cpu:.2f} CPU s "
            f"({floor_cpu / records * 1e6:.2f} us/record, {floor_cpu / agg_cpu:.0%} of the aggregate's CPU)"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        print(compare_paths(src, work, args.sample_mb))
        # Both readers are single-threaded: per CPU-second figures hold on a busy machine, wall time does not.
        print(
            f"aggregate: {mb / agg_cpu:.1f} MB/s, {records / agg_cpu:,.0f} records/s per CPU-second "
            f"({mb / agg_s:.1f} MB/s wall); naive: {mb / naive_cpu:.1f} MB/s per CPU-second; "
            f"ratio {naive_cpu / agg_cpu:.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
