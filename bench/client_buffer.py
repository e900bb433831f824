"""The app side's disk buffer: CPU per logging call with the service up and down, disk bytes per record.

Each variant runs in its own process: N calls of ``logger.info("user %s did %s", a, b, extra={"k": i})``
(as bench/client_overhead.py), then until every record is settled (up: exported; down-buffer: in the
buffer; down-memory: the calls returned, the queue full and the rest dropped);
CPU = process time (all threads: the export thread and its disk writes included) / N.

    up-memory     setup(), the service up (today's default: no buffer)
    up-buffer     setup(buffer_dir=...), the service up (the buffer stays unused)
    down-memory   setup(), nothing listening: the queue fills, then records are dropped (counted)
    down-buffer   setup(buffer_dir=...), nothing listening: every batch is appended to the buffer

Usage: python bench/client_buffer.py [--records 100000]
Last line: client_buffer: up X/Y us/rec (buffer/none), down Z us/rec buffered (W dropped without), B bytes/rec on disk
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.procs import free_port, json_of_script, start_serve  # noqa: E402

VARIANT = textwrap.dedent(
    """
    import json, logging, sys, time
    from pathlib import Path
    import otel_logging
    variant, n, endpoint, buffer_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    handle = otel_logging.setup("bench-buffer", endpoint, buffer_dir=buffer_dir if "buffer" in variant else None)
    log = logging.getLogger("bench")
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for i in range(n):
        log.info("user %s did %s", "alice", "checkout", extra={"k": i})
    if variant.startswith("up"):
        handle.force_flush(300)
    elif variant == "down-buffer":
        while True:  # settled: in the buffer or dropped
            s = handle.stats()
            if s.buffered + s.dropped >= n:
                break
            time.sleep(0.01)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    s = handle.stats()
    disk = sum(p.stat().st_size for p in Path(buffer_dir).rglob("*.seg"))
    print(json.dumps({"variant": variant, "cpu_us": cpu / n * 1e6, "wall_s": wall, "exported": s.exported,
                      "buffered": s.buffered, "dropped": s.dropped, "disk_bytes": disk}))
    import os
    os._exit(0)  # no exit wait: the buffered records stay behind (this bench deletes them)
    """
)


def run_variant(variant: str, n: int, endpoint: str, buffer_dir: Path) -> dict[str, float]:
    return json_of_script(VARIANT, variant, str(n), endpoint, str(buffer_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    n = args.records
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        serve = start_serve(Path(tmp) / "logs")
        try:
            for variant in ("up-memory", "up-buffer"):
                results[variant] = run_variant(variant, n, serve.grpc_endpoint, Path(tmp) / variant)
        finally:
            serve.stop()
        down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        for variant in ("down-memory", "down-buffer"):
            results[variant] = run_variant(variant, n, down, Path(tmp) / variant)
    for variant, r in results.items():
        print(
            f"{variant:12s} {r['cpu_us']:7.1f} us/rec CPU  {r['wall_s']:6.1f} s wall  exported {r['exported']:>7} "
            f"buffered {r['buffered']:>7} dropped {r['dropped']:>7}  disk {r['disk_bytes'] / n:6.1f} bytes/rec"
        )
    up_memory, up_buffer = results["up-memory"]["cpu_us"], results["up-buffer"]["cpu_us"]
    down = results["down-buffer"]
    print(
        f"client_buffer: up {up_buffer:.1f}/{up_memory:.1f} us/rec (buffer/none), down {down['cpu_us']:.1f} us/rec "
        f"buffered ({results['down-memory']['dropped']} of {n} dropped without), "
        f"{down['disk_bytes'] / n:.1f} bytes/rec on disk"
    )


if __name__ == "__main__":
    main()
