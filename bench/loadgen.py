"""OTLP/gRPC load generator (a separate process from the server it measures).

Sends pre-encoded ExportLogsServiceRequests of N records (realistic records: body, a few
attributes, trace ids, a resource of 6 attributes), from C concurrent senders, as fast as
the server answers. Prints one JSON line: records sent and acknowledged, seconds.

    python bench/loadgen.py --target 127.0.0.1:4317 --records 1000000 --batch 512 --senders 4 --apps 4 [--ca ca.pem]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def build_request(app: str, batch: int, seq_base: int) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in [
        ("service.name", app),
        ("service.version", "1.4.2"),
        ("host.name", "bench-host"),
        ("deployment.environment", "bench"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
    ]:
        rl.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    sl = rl.scope_logs.add()
    sl.scope.name = "bench.orders"
    now = time.time_ns()
    for i in range(batch):
        record = LogRecord(
            time_unix_nano=now + i,
            observed_time_unix_nano=now + i,
            severity_number=9,
            severity_text="INFO",
            body=AnyValue(string_value=f"user alice placed order {seq_base + i} for 3 items"),
            trace_id=(seq_base + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
        )
        record.attributes.append(KeyValue(key="seq", value=AnyValue(int_value=seq_base + i)))
        record.attributes.append(KeyValue(key="http.route", value=AnyValue(string_value="/api/orders")))
        record.attributes.append(KeyValue(key="duration_ms", value=AnyValue(double_value=12.5)))
        sl.log_records.append(record)
    return req.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--apps", type=int, default=4)
    parser.add_argument("--ca", help="TLS, trusting this CA (PEM); plaintext without it")
    args = parser.parse_args()
    requests_total = args.records // args.batch
    payloads = [build_request(f"app-{a}", args.batch, a * 10_000_000) for a in range(args.apps)]
    options = [("grpc.max_send_message_length", 64 << 20)]
    if args.ca:
        with open(args.ca, "rb") as ca:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
        channel = grpc.secure_channel(args.target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.target, options=options)
    call = channel.unary_unary(EXPORT)
    grpc.channel_ready_future(channel).result(timeout=30)
    next_request = iter(range(requests_total))
    lock = threading.Lock()
    acked = failed = 0

    def sender() -> None:
        nonlocal acked, failed
        while True:
            with lock:
                i = next(next_request, None)
            if i is None:
                return
            try:
                call(payloads[i % len(payloads)], timeout=60)
                with lock:
                    acked += args.batch
            except grpc.RpcError:
                with lock:
                    failed += args.batch

    start = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    json.dump({"sent": requests_total * args.batch, "acked": acked, "failed": failed, "seconds": elapsed}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
