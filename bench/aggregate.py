"""Aggregation throughput: a generated log directory -> canonical records -> per-app files, wall-clock MB/s.

``--mix`` picks what the directory (``--size-mb``, default 200) holds: ``mixed`` (the default) is stdlib text logs
with tracebacks (60%), python-json-logger lines (20%), structlog lines (10%) and the seed server's text format
(10%); ``stdlib``, ``pyjson``, ``structlog``, ``seed`` hold that one format; ``jsonl`` python-json-logger and
structlog lines (two thirds, one third). Two readers go over the same files, in the same run, after a warm-up
read, ``--rounds`` times (default 3), in alternating order (naive first in odd rounds, aggregate first in even):

    naive       for line in f: json.loads(line) for JSON lines, line.split(" - ", 3) for text lines
                (no timestamps, no records, no output): the baseline of the ratio
    aggregate   otel_logging's Ingestor into a FileSink (detection, multi-line, timestamps, canonical
                records, JSON encoding, file writes, checkpoints), each round into a new directory;
                stdlib-, seed-format and JSON-lines files go through the native readers when otel_logging_native is
                installed, and a file's batches are written while its next chunk is read (ingest.engine.Shipper)

Redaction is off (``otel-logging aggregate --no-redact``) unless ``--redact`` is given: the target (issue 18: >= 100
MB/s wall-clock for every format) is for the reading, parsing, encoding and writing; redaction scans every record's
line and decodes the ones that might hold a secret.

After the rounds, one aggregate into a sink that writes nothing and a plain ``os.write`` of the same output bytes
say where the CPU time goes; with ``--sample-mb N`` (default 0: skipped) the native and the Python paths are
compared on a sample of N MB. Each round is printed; the last line is the median round and the ratio:
aggregate: X MB/s wall (Y MB/s per CPU-second, R records/s wall); naive: Z MB/s wall; ratio X/Z.
``--json PATH`` writes the rounds (docs/perf/aggregate.json; see the docs performance page).

Usage: python bench/aggregate.py [--size-mb 200] [--mix mixed|stdlib|jsonl|pyjson|structlog|seed] [--rounds 3]
       [--redact] [--sample-mb 0] [--profile] [--json PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import statistics
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


MIXES: dict[str, dict[str, float]] = {
    "mixed": {"stdlib": 0.6, "pyjson": 0.2, "structlog": 0.1, "seed": 0.1},
    "stdlib": {"stdlib": 1.0},
    "jsonl": {"pyjson": 2 / 3, "structlog": 1 / 3},
    "pyjson": {"pyjson": 1.0},
    "structlog": {"structlog": 1.0},
    "seed": {"seed": 1.0},
}


def generate(directory: Path, size_mb: int, mix: str) -> int:
    """Write the files; returns the number of log entries."""
    rng = random.Random(7)
    shares = MIXES[mix]
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


def aggregate(
    directory: Path, out: Path | None, checkpoint: Path, use_native: bool = True, redact: bool = False
) -> int:
    options = IngestOptions(service="bench", checkpoint_path=checkpoint, redact=redact)
    ingestor = Ingestor([FileSink(out) if out is not None else NullSink(checkpoint.parent / "null")], options)
    readers = native_module._stdlib_reader, native_module._jsonl_reader
    if not use_native:
        native_module._stdlib_reader = native_module._jsonl_reader = None  # what OTEL_LOGGING_NATIVE=0 does
    try:
        with fewer_gc_passes():  # as the otel-logging aggregate command does
            summary = ingestor.run([str(directory)])
    finally:
        native_module._stdlib_reader, native_module._jsonl_reader = readers
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
    if not (native_module.STDLIB_AVAILABLE and native_module.JSONL_AVAILABLE):
        why = native_module.STDLIB_UNAVAILABLE_REASON or native_module.JSONL_UNAVAILABLE_REASON
        return f"native path: not (fully) available ({why})"
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
    parser.add_argument("--mix", choices=tuple(MIXES), default="mixed")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both readers, in alternating order")
    parser.add_argument("--redact", action="store_true", help="mask secrets, as the command does by default")
    parser.add_argument("--sample-mb", type=int, default=0, help="sample for the native vs Python comparison")
    parser.add_argument("--profile", action="store_true", help="print where the aggregation spends its time")
    parser.add_argument("--json", type=Path, help="write the rounds as JSON to this file")
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
        profiler = cProfile.Profile() if args.profile else None
        rounds: list[dict[str, float]] = []
        details: list[tuple[float, float, float]] = []  # aggregate: wall s, CPU s, records
        out_bytes = 0
        for n in range(args.rounds):
            figures: dict[str, float] = {}
            for side in ("naive", "aggregate") if n % 2 == 0 else ("aggregate", "naive"):
                if side == "naive":
                    clock = Clock()
                    naive(src)
                    naive_s, _ = clock.read()
                    figures["naive split"] = mb / naive_s
                    continue
                out = work / "out"
                if profiler:
                    profiler.enable()
                clock = Clock()
                records = aggregate(src, out, work / f"ck-{n}.json", redact=args.redact)
                agg_s, agg_cpu = clock.read()
                if profiler:
                    profiler.disable()
                assert records == entries, (records, entries)
                out_bytes = sum(p.stat().st_size for p in out.iterdir())
                shutil.rmtree(out)
                figures["otel_logging"] = mb / agg_s
                details.append((agg_s, agg_cpu, records))
            rounds.append(figures)
            agg_s, agg_cpu, records = details[-1]
            print(
                f"round {n + 1}: aggregate {figures['otel_logging']:.1f} MB/s wall ({mb / agg_cpu:.1f} MB/s per "
                f"CPU-second, {records / agg_s:,.0f} records/s, {out_bytes / (1 << 20):.0f} MB written); naive "
                f"{figures['naive split']:.1f} MB/s wall; ratio {figures['otel_logging'] / figures['naive split']:.2f}"
            )
        records = details[0][2]
        clock = Clock()
        aggregate(src, None, work / "ck-null.json", redact=args.redact)
        _, null_cpu = clock.read()
        agg_cpu = statistics.median(cpu for _, cpu, _ in details)
        out_mb = out_bytes / (1 << 20)
        print(
            f"where the CPU time goes: read+parse+build records as JSON lines+checkpoint "
            f"{null_cpu / records * 1e6:.2f} us/record ({null_cpu / agg_cpu:.0%} of a round's CPU), the rest "
            f"(file writes, the kernel's copy into the page cache, the thread's hand-over) "
            f"{(agg_cpu - null_cpu) / records * 1e6:.2f} us/record"
        )
        floor_cpu = write_floor(work, out_bytes)
        print(
            f"write floor: os.write of the same {out_mb:.0f} MB into a new file takes {floor_cpu:.2f} CPU s "
            f"({floor_cpu / records * 1e6:.2f} us/record, {floor_cpu / agg_cpu:.0%} of a round's CPU)"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        if args.sample_mb:
            print(compare_paths(src, work, args.sample_mb))
        ratios = [r["otel_logging"] / r["naive split"] for r in rounds]
        median = statistics.median(r["otel_logging"] for r in rounds)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "bench": "aggregate",
                "metric": "MB/s wall-clock",
                "higher_is_better": True,
                "sides": ["otel_logging", "naive split"],
                "rounds": [{k: round(v, 1) for k, v in r.items()} for r in rounds],
                "ratio": {"name": "otel_logging / naive split", "per_round": [round(x, 2) for x in ratios]},
                "target": {"otel_logging": 100.0},
                "notes": f"--mix {args.mix}, {mb:.0f} MB in, {out_mb:.0f} MB written per round, "
                f"redaction {'on' if args.redact else 'off'}, 2 shared cores, load {os.getloadavg()[0]:.1f}",
            }
            args.json.write_text(json.dumps(document, indent=1) + "\n")
        print(
            f"aggregate ({args.mix}): {median:.1f} MB/s wall (median of {len(rounds)}; "
            f"{min(r['otel_logging'] for r in rounds):.1f}-{max(r['otel_logging'] for r in rounds):.1f}), "
            f"{mb / agg_cpu:.1f} MB/s per CPU-second; naive: "
            f"{statistics.median(r['naive split'] for r in rounds):.1f} MB/s wall; "
            f"ratio {statistics.median(ratios):.2f} (per round {', '.join(f'{x:.2f}' for x in ratios)})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
