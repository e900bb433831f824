"""OTLP -> canonical JSON lines conversion: native (otel_logging_native) vs Python, per record.

One realistic export request of 512 records (what the OpenTelemetry SDK's batch processor sends): a
resource with service.name, host.name and the telemetry.sdk.* attributes, one scope, each record with a
time, severity, a string body, 3 attributes (str, int, float) and trace/span ids. Each round converts the
same serialized payload:

    python  ExportLogsServiceRequest.FromString + convert_request + RecordBatch.lines per service
    native  otel_logging_native.otlp_logs_to_jsonl (the same bytes out, checked before timing)

The best round of each counts (least disturbed by other work on the machine). A second figure runs the
native conversion on 2 threads at once (it releases the GIL) and reports records/s.

Usage: python bench/convert.py [--records 512] [--rounds 200]
Last line: convert: native X us/rec, python Y us/rec, ratio Y/X
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue  # noqa: E402
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs  # noqa: E402
from opentelemetry.proto.resource.v1.resource_pb2 import Resource  # noqa: E402

from otel_logging.record import convert_request, native  # noqa: E402

RECEIVED_NS = 1_764_000_000_000_000_000


def text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_payload(records: int) -> bytes:
    resource = Resource(
        attributes=[
            text("service.name", "checkout-api"),
            text("host.name", "web-7f9c4d-2x8kq"),
            text("telemetry.sdk.language", "python"),
            text("telemetry.sdk.name", "opentelemetry"),
            text("telemetry.sdk.version", "1.45.2"),
            text("service.instance.id", "3f1c9a4e-8d2b-4c7a-9e61-0b5d2f7a8c13"),
        ]
    )
    start = RECEIVED_NS - records * 1_000_000
    logs = [
        LogRecord(
            time_unix_nano=start + i * 1_000_003,
            observed_time_unix_nano=start + i * 1_000_003 + 41_207,
            severity_number=9 if i % 10 else 17,
            severity_text="INFO" if i % 10 else "ERROR",
            body=AnyValue(string_value=f"order {100_000 + i} placed for customer {i % 97} (payment authorised)"),
            attributes=[
                text("code.function", "place_order"),
                KeyValue(key="order_id", value=AnyValue(int_value=100_000 + i)),
                KeyValue(key="amount", value=AnyValue(double_value=round(12.5 + i * 0.37, 2))),
            ],
            trace_id=(0x5B8EFFF798038103D269B633813FC60C + i).to_bytes(16, "big"),
            span_id=(0xEEE19B7EC3C1B174 + i).to_bytes(8, "big"),
            flags=1,
        )
        for i in range(records)
    ]
    scope = ScopeLogs(scope=InstrumentationScope(name="checkout.orders"), log_records=logs)
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope])]
    ).SerializeToString()


def python_convert(payload: bytes) -> dict[str, bytes]:
    batch = convert_request(ExportLogsServiceRequest.FromString(payload), RECEIVED_NS)
    return {service: bytes(batch.lines(service)) for service in batch}


def native_convert(payload: bytes) -> dict[str, bytes]:
    batch = native.convert_payload(payload, RECEIVED_NS)
    return {service: bytes(batch.lines(service)) for service in batch}


def best_seconds(convert: Callable[[bytes], object], payload: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        convert(payload)
        best = min(best, time.perf_counter() - start)
    return best


def threaded_records_per_second(payload: bytes, records: int, threads: int, seconds: float = 2.0) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(slot: int) -> None:
        while time.perf_counter() < stop:
            native_convert(payload)
            done[slot] += records

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if not native.AVAILABLE:
        sys.exit(f"convert: {native.UNAVAILABLE_REASON}")

    payload = build_payload(args.records)
    expected = python_convert(payload)
    if native_convert(payload) != expected:
        sys.exit("convert: native output differs from the Python path")
    print(
        f"payload: {len(payload)} bytes, {args.records} records -> {len(expected['checkout-api'])} bytes of JSON lines"
    )

    python_s = best_seconds(python_convert, payload, max(args.rounds // 10, 5))
    native_s = best_seconds(native_convert, payload, args.rounds)
    python_us = python_s * 1e6 / args.records
    native_us = native_s * 1e6 / args.records
    print(f"python: {python_us:.3f} us/record ({args.records / python_s:,.0f} records/s on one core)")
    print(f"native: {native_us:.3f} us/record ({args.records / native_s:,.0f} records/s on one core)")
    for threads in (1, 2):
        rate = threaded_records_per_second(payload, args.records, threads)
        print(f"native, {threads} thread(s) converting at once: {rate:,.0f} records/s")
    print(f"convert: native {native_us:.3f} us/rec, python {python_us:.3f} us/rec, ratio {python_us / native_us:.1f}")


if __name__ == "__main__":
    main()
