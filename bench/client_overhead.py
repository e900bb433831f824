"""Client overhead: CPU per logging call, from the call until the record is exported.

Each side runs in its own process (the receiver is another process and its CPU is not counted):
N calls, then a flush; CPU = process time (all threads) / N, peak RSS of the process. Three kinds of call:

    info    logger.info("user %s did %s", a, b, extra={"k": i})        (N calls; the ratio's mode)
    below   logger.debug(...) with the same arguments, the logger at INFO  (N calls: nothing is emitted)
    exc     logger.exception(...) in an except block, a 3-frame traceback  (N / 10 calls)

Sides:
    otel_logging   otel_logging.setup() defaults (redaction on)
    stdlib-json    FileHandler with a JSON formatter (the ratio's baseline; with the traceback in exc)
    stdlib-plain   FileHandler with a plain formatter (info only)
    stock-otel     SDK LoggingHandler + BatchLogRecordProcessor + OTLP/gRPC exporter (info, first round only)

Every round runs otel_logging and stdlib-json in each mode, in alternating order (ours first in odd
rounds); each round's lines are printed. Records that reach the receiver are counted (0 lost expected).

Usage: python bench/client_overhead.py [--records 100000] [--rounds 2] [--json PATH]
Last line: client_overhead: otel_logging X us/rec, stdlib-json Y us/rec, ..., ratio X/Y (the info mode, mean of rounds)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.procs import count_lines, json_of_script, start_serve  # noqa: E402

TARGET = 1.0

VARIANT = textwrap.dedent(
    """
    import json, logging, os, resource, sys, time
    variant, mode, n, endpoint, out, service = sys.argv[1:7]
    n = int(n)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handle = provider = None
    if variant == "stdlib-plain":
        h = logging.FileHandler(out)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(h)
    elif variant == "stdlib-json":
        class JsonFormatter(logging.Formatter):
            def format(self, r):
                doc = {"time": r.created, "level": r.levelname, "logger": r.name,
                       "message": r.getMessage(), "k": getattr(r, "k", None)}
                if r.exc_info:
                    doc["exception"] = self.formatException(r.exc_info)
                return json.dumps(doc)
        h = logging.FileHandler(out)
        h.setFormatter(JsonFormatter())
        root.addHandler(h)
    elif variant == "stock-otel":
        import warnings
        warnings.simplefilter("ignore")
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
        root.addHandler(LoggingHandler(logger_provider=provider))
    else:
        import otel_logging
        handle = otel_logging.setup(service, endpoint)
    log = logging.getLogger("bench")

    def fail(i):
        def inner():
            raise ValueError(f"bad order {i}")
        def middle():
            inner()
        middle()

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    if mode == "info":
        for i in range(n):
            log.info("user %s did %s", "alice", "checkout", extra={"k": i})
    elif mode == "below":
        for i in range(n):
            log.debug("user %s did %s", "alice", "checkout", extra={"k": i})
    else:
        for i in range(n):
            try:
                fail(i)
            except ValueError:
                log.exception("user %s did %s", "alice", "checkout", extra={"k": i})
    if handle is not None:
        handle.force_flush(300)
    if provider is not None:
        provider.force_flush(300000)
    for h in root.handlers:
        h.flush()
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "cpu_us": cpu / n * 1e6, "wall_s": wall, "rss_mb": rss_mb}))
    """
)

MODES = {"info": 1, "below": 1, "exc": 10}  # mode -> divisor of --records


def run_variant(variant: str, mode: str, n: int, endpoint: str, out: Path, service: str) -> dict[str, float]:
    return json_of_script(VARIANT, variant, mode, str(n), endpoint, str(out), service)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the rounds as JSON (bench_json format)")
    args = parser.parse_args()
    n = args.records
    # results[mode] = list of {side: us/rec} per round
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    extras: dict[str, float] = {}
    rss: dict[str, float] = {}
    lost = 0
    with tempfile.TemporaryDirectory() as tmp:
        serve = start_serve(Path(tmp) / "logs")
        try:
            for r in range(args.rounds):
                order = ["otel_logging", "stdlib-json"] if r % 2 == 0 else ["stdlib-json", "otel_logging"]
                for mode, divisor in MODES.items():
                    count = max(1, n // divisor)
                    row: dict[str, float] = {}
                    sides = list(order)
                    if r == 0 and mode == "info":
                        sides += ["stdlib-plain", "stock-otel"]
                    for variant in sides:
                        service = f"bench-{variant}-{mode}-{r}"
                        out = Path(tmp) / f"{service}.log"
                        result = run_variant(variant, mode, count, serve.grpc_endpoint, out, service)
                        row[variant] = result["cpu_us"]
                        rss[variant] = max(rss.get(variant, 0.0), result["rss_mb"])
                        arrived = ""
                        if variant == "otel_logging" and mode != "below":
                            got = count_lines(serve.app_file(service))
                            lost += count - got
                            arrived = f"  arrived {got}/{count}"
                        elif variant == "stock-otel":
                            got = count_lines(serve.app_file(service))
                            arrived = f"  arrived {got}/{count} ({count - got} lost)"
                        print(
                            f"round {r + 1} {mode:5s} {variant:13s} {result['cpu_us']:8.2f} us/call CPU "
                            f"{result['wall_s']:6.1f} s wall {result['rss_mb']:6.1f} MB peak RSS{arrived}",
                            flush=True,
                        )
                    for variant in ("stdlib-plain", "stock-otel"):
                        if variant in row:
                            extras[variant] = row.pop(variant)
                    results[mode].append(row)
                    ratio = row["otel_logging"] / row["stdlib-json"]
                    print(f"round {r + 1} {mode:5s} ratio otel_logging / stdlib-json {ratio:.2f}", flush=True)
        finally:
            serve.stop()

    def mean(mode: str, side: str) -> float:
        return statistics.mean(row[side] for row in results[mode])

    ratios = {mode: [row["otel_logging"] / row["stdlib-json"] for row in rows] for mode, rows in results.items()}
    print("peak RSS MB: " + ", ".join(f"{side} {mb:.1f}" for side, mb in rss.items()))
    print(f"records lost by otel_logging: {lost}")
    print(
        "below level: otel_logging {:.2f} us, stdlib-json {:.2f} us, ratio {:.2f}; exc_info: otel_logging {:.1f} us, "
        "stdlib-json {:.1f} us, ratio {:.2f}".format(
            mean("below", "otel_logging"),
            mean("below", "stdlib-json"),
            statistics.mean(ratios["below"]),
            mean("exc", "otel_logging"),
            mean("exc", "stdlib-json"),
            statistics.mean(ratios["exc"]),
        )
    )
    if args.json is not None:
        doc = {
            "bench": "client_overhead",
            "metric": "CPU us per logger.info call until exported",
            "higher_is_better": False,
            "sides": ["otel_logging", "stdlib-json"],
            "rounds": results["info"],
            "ratio": {"name": "otel_logging / stdlib-json", "per_round": ratios["info"], "target": TARGET},
            "modes": {mode: {"rounds": results[mode], "ratio_per_round": ratios[mode]} for mode in ("below", "exc")},
            "single_runs": extras,
            "peak_rss_mb": rss,
            "lost": lost,
            "notes": f"{n} calls per side (exc: {n // MODES['exc']}), {args.rounds} rounds, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    ours, base = mean("info", "otel_logging"), mean("info", "stdlib-json")
    others = ", ".join(f"{side} {us:.1f} us/rec" for side, us in extras.items())
    print(
        f"client_overhead: otel_logging {ours:.1f} us/rec, stdlib-json {base:.1f} us/rec, {others}, "
        f"ratio {ours / base:.2f}"
    )


if __name__ == "__main__":
    main()
