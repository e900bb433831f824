"""What the store's word index costs a catch-up: the same files read into a fresh store with and without it.

Reads the files ``bench/store.py`` generated (``--dir``, default /tmp/otel-logging-store-bench/<records>/logs)
into a new store, each side in its own fresh process, ``--rounds`` rounds alternating which side goes first
(2 shared cores: figures move with the machine's load; compare sides within a round). Prints each round's
seconds and store size, then the ratio of the medians (with / without) last.

Usage: python bench/store_word_index.py [--records 1000000] [--rounds 2] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_side(side: str, logs: Path) -> dict[str, float]:
    from otel_logging.dashboard.sources.files import FileSource
    from otel_logging.store import words

    if side == "without":
        words.add_load = lambda *args, **kwargs: None  # type: ignore[assignment]  # the index is not kept
    work = Path(tempfile.mkdtemp(prefix="otel-logging-word-index-"))
    try:
        started = time.perf_counter()
        source = FileSource(logs, store=work / "store.duckdb")
        source.refresh(force=True)
        records = source.status().records
        source.close()
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in work.iterdir())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "mb": size / 1e6, "records": records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logs = (args.dir or Path(f"/tmp/otel-logging-store-bench/{args.records}")) / "logs"
    if args.side:
        print(json.dumps(one_side(args.side, logs)))
        return
    if not logs.is_dir():
        raise SystemExit(f"no files in {logs}: run `python bench/store.py --records {args.records}` first")
    times: dict[str, list[float]] = {"with": [], "without": []}
    for n in range(args.rounds):
        for side in ("with", "without") if n % 2 == 0 else ("without", "with"):
            out = subprocess.run(
                [sys.executable, __file__, "--side", side, "--dir", str(logs.parent)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            times[side].append(figures["seconds"])
            print(
                f"round {n + 1} {side:7} word index: {figures['seconds']:6.1f} s for {figures['records']:,.0f} "
                f"records, store {figures['mb']:.0f} MB",
                flush=True,
            )
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    print(f"catch-up with / without the word index (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
