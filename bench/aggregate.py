"""Aggregation throughput: a generated mixed-format log directory -> canonical records -> per-app files.

The directory (``--size-mb``, default 200) holds stdlib text logs with tracebacks (60%), python-json-logger
lines (20%), structlog lines (10%) and the seed server's text format (10%); ``--mix stdlib`` makes it
stdlib text only. Two readers go over the same files, in the same run, after a warm-up read:

    naive       for line in f: json.loads(line) for JSON lines, line.split(" - ", 3) for text lines
                (no timestamps, no records, no output): the baseline of the ratio
    aggregate   otel_logging's Ingestor into a FileSink (detection, multi-line, timestamps, canonical
                records, JSON encoding, file writes, checkpoints)

Usage: python bench/aggregate.py [--size-mb 200] [--mix mixed|stdlib] [--profile]
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


class NullSink:
    """Takes records and drops them: what is left is reading, parsing and building records."""

    name = "null"

    def write(self, by_service: dict) -> None:
        pass

    def close(self) -> None:
        pass


def aggregate(directory: Path, out: Path | None, checkpoint: Path) -> int:
    options = IngestOptions(service="bench", checkpoint_path=checkpoint)
    ingestor = Ingestor([FileSink(out) if out is not None else NullSink()], options)
    with fewer_gc_passes():  # as the otel-logging aggregate command does
        summary = ingestor.run([str(directory)])
    ingestor.close()
    assert summary.ok, summary.to_dict()
    return summary.records


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
        out_mb = sum(p.stat().st_size for p in (work / "out").iterdir()) / (1 << 20)
        print(
            f"aggregate: {records:,} records in {agg_s:.2f} s ({agg_cpu:.2f} CPU s) = {mb / agg_s:.1f} MB/s in, "
            f"{out_mb:.0f} MB written"
        )
        assert records == entries, (records, entries)
        clock = Clock()
        aggregate(src, None, work / "ck-null.json")
        _, null_cpu = clock.read()
        print(
            f"where the CPU time goes: read+parse+build records {null_cpu / records * 1e6:.2f} us/record "
            f"({null_cpu / agg_cpu:.0%}), files sink (JSON encoding + writes) "
            f"{(agg_cpu - null_cpu) / records * 1e6:.2f} us/record ({1 - null_cpu / agg_cpu:.0%})"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
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
