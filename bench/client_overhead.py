"""Client overhead: CPU per logging call, from the call until the record is exported.

Each variant runs in its own process (the receiver is another process and its CPU is not
counted): N calls of ``logger.info("user %s did %s", a, b, extra={"k": i})``, then a flush;
CPU = process time (all threads) / N.

    stdlib-plain   FileHandler with a plain formatter
    stdlib-json    FileHandler with a JSON formatter (the baseline of the ratio)
    stock-otel     SDK LoggingHandler + BatchLogRecordProcessor + OTLP/gRPC exporter (defaults)
    otel_logging   otel_logging.setup()

Usage: python bench/client_overhead.py [--records 100000]
Last line: client_overhead: otel_logging X us/rec, stdlib-json Y us/rec, stock-otel Z us/rec, ratio X/Y
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.procs import count_lines, json_of_script, start_serve  # noqa: E402

VARIANT = textwrap.dedent(
    """
    import json, logging, os, sys, time
    variant, n, endpoint, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
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
                return json.dumps({"time": r.created, "level": r.levelname, "logger": r.name,
                                   "message": r.getMessage(), "k": getattr(r, "k", None)})
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
        provider = LoggerProvider(resource=Resource.create({"service.name": "bench-stock"}))
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
        root.addHandler(LoggingHandler(logger_provider=provider))
    else:
        import otel_logging
        handle = otel_logging.setup("bench-ours", endpoint)
    log = logging.getLogger("bench")
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for i in range(n):
        log.info("user %s did %s", "alice", "checkout", extra={"k": i})
    if handle is not None:
        handle.force_flush(300)
    if provider is not None:
        provider.force_flush(300000)
    for h in root.handlers:
        h.flush()
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    print(json.dumps({"variant": variant, "cpu_us": cpu / n * 1e6, "wall_s": wall}))
    """
)


def run_variant(variant: str, n: int, endpoint: str, out: Path) -> dict[str, float]:
    return json_of_script(VARIANT, variant, str(n), endpoint, str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as tmp:
        serve = start_serve(Path(tmp) / "logs")
        try:
            results = {}
            for variant in ("stdlib-plain", "stdlib-json", "stock-otel", "otel_logging"):
                results[variant] = run_variant(variant, n, serve.grpc_endpoint, Path(tmp) / f"{variant}.log")
                cpu_us, wall_s = results[variant]["cpu_us"], results[variant]["wall_s"]
                print(f"{variant:13s} {cpu_us:7.1f} us/rec CPU  {wall_s:6.1f} s wall")
            stock_arrived = count_lines(serve.app_file("bench-stock"))
            ours_arrived = count_lines(serve.app_file("bench-ours"))
            print(
                f"arrived: stock-otel {stock_arrived}/{n} ({n - stock_arrived} lost), otel_logging {ours_arrived}/{n}"
            )
        finally:
            serve.stop()
    ours, base, stock = (results[v]["cpu_us"] for v in ("otel_logging", "stdlib-json", "stock-otel"))
    print(
        f"client_overhead: otel_logging {ours:.1f} us/rec, stdlib-json {base:.1f} us/rec, "
        f"stock-otel {stock:.1f} us/rec, ratio {ours / base:.2f}"
    )


if __name__ == "__main__":
    main()
