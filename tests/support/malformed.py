"""Hostile requests for the malformed-input test, each with the statuses that are right for it, and senders."""

from __future__ import annotations

import gzip
import http.client
import random
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc
import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support.faults import length_delimited, seq_request

PROTOBUF, JSON = "application/x-protobuf", "application/json"
GRPC_OK, GRPC_INVALID, GRPC_TOO_LARGE = "OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"


@dataclass(frozen=True, slots=True)
class Case:
    """One request to send and the statuses that are right for it."""

    category: str
    transport: str  # "grpc" or "http"
    payload: bytes
    expected: frozenset[str]
    headers: tuple[tuple[str, str], ...] = (("Content-Type", PROTOBUF),)


def protobuf_expectation(payload: bytes, transport: str) -> frozenset[str]:
    """What the protobuf library says about ``payload``: a request (OK) or not one (invalid)."""
    try:
        ExportLogsServiceRequest.FromString(payload)
    except DecodeError:
        return frozenset({GRPC_INVALID if transport == "grpc" else "400"})
    return frozenset({GRPC_OK if transport == "grpc" else "200"})


def valid_request(rng: random.Random, service: str) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "fuzz"
    for i in range(rng.randint(1, 8)):
        record = scope_logs.log_records.add(time_unix_nano=rng.getrandbits(63), severity_number=rng.randint(0, 24))
        record.body.string_value = f"message {i} " + "é" * rng.randint(0, 20)
        record.trace_id = rng.randbytes(rng.choice((16, 16, 15)))
        nested = record.attributes.add(key="nested")
        nested.value.kvlist_value.values.add(key="k", value=AnyValue(double_value=rng.random()))
        record.attributes.add(key="list").value.array_value.values.add(int_value=rng.getrandbits(62))
    return request.SerializeToString()


def bulk_cases(rng: random.Random, transport: str, count: int) -> Iterator[Case]:
    """Random bytes, truncated and bit-flipped requests: the protobuf library is the judge."""
    seeds = [valid_request(rng, f"fuzz-{i}") for i in range(50)]
    for i in range(count):
        kind = i % 3
        if kind == 0:
            category, payload = "random-bytes", rng.randbytes(rng.randint(0, 1500))
        elif kind == 1:
            seed = rng.choice(seeds)
            category, payload = "truncated-protobuf", seed[: rng.randrange(len(seed))]
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            category, payload = "mutated-protobuf", bytes(data)
        yield Case(category, transport, payload, protobuf_expectation(payload, transport))


def nested_body_request(depth: int) -> bytes:
    """A record whose body is an array nested ``depth`` times (AnyValue.array_value = 5, ArrayValue.values = 1)."""
    value = AnyValue(string_value="deep").SerializeToString()
    for _ in range(depth):
        value = length_delimited(5, length_delimited(1, value))
    record = length_delimited(5, value)  # LogRecord.body
    scope_logs = length_delimited(2, record)  # ScopeLogs.log_records
    resource_logs = length_delimited(2, scope_logs)  # ResourceLogs.scope_logs
    return length_delimited(1, resource_logs)  # ExportLogsServiceRequest.resource_logs


def json_request(service: str, body: object) -> bytes:
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeLogs": [{"scope": {"name": "fuzz"}, "logRecords": [{"body": body}]}],
                }
            ]
        }
    )


HOSTILE_NAMES = [
    "../../../../tmp/otel-logging-escape",
    "/etc/otel-logging-escape",
    "..",
    ".",
    "",
    " ",
    "a/b/../../../c",
    "a\\b\\..\\..\\c",
    "nul\x00byte",
    "CON",
    ".hidden",
    "x" * 5000,
    "line\nbreak",
    "app.20260101T000000.000000Z",
    "-rf",
    "~root",
    "$(touch /tmp/otel-logging-escape)",
    "\u202eevil",
    "日本語のアプリ",
    "%2e%2e%2f%2e%2e%2fescape",
]


def special_cases() -> list[Case]:
    """Every kind of hostile request named by the issue, on both transports, with its right status."""
    cases: list[Case] = []
    bad_utf8 = seq_request("utf8", 0, 1, body="ABCD").replace(b"ABCD", b"\xff\xfe\xc0\x80")
    for depth, grpc_status, http_status in ((10, GRPC_OK, "200"), (120, GRPC_INVALID, "400"), (5000, None, "400")):
        payload = nested_body_request(depth)
        if grpc_status:
            cases.append(Case("deep-nesting", "grpc", payload, frozenset({grpc_status})))
        cases.append(Case("deep-nesting", "http", payload, frozenset({http_status})))
    deep_json = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + b'{"arrayValue":{"values":[' * 3000
    cases.append(
        Case(
            "deep-nesting",
            "http",
            deep_json + b"1" + b"]}}" * 3000 + b"}]}]}]}",
            frozenset({"400"}),
            (("Content-Type", JSON),),
        )
    )
    cases.append(Case("deep-nesting", "http", b"[" * 100_000, frozenset({"400"}), (("Content-Type", JSON),)))
    for transport, expected in (("grpc", GRPC_INVALID), ("http", "400")):
        cases.append(Case("invalid-utf8", transport, bad_utf8, frozenset({expected})))
    json_headers = (("Content-Type", JSON),)
    for payload in (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\xff\xfe"}}]}]}]}',
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\\ud800"}}]}]}]}',
        b"\xef\xbb\xbf\xff{}",
    ):
        cases.append(Case("invalid-utf8", "http", payload, frozenset({"400"}), json_headers))
    for payload in (
        b'{"resourceLogs":{"a":1}}',
        b'{"resourceLogs":5}',
        b'{"resourceLogs":[{"scopeLogs":[null]}]}',
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1e999"}]}]}]}',
        b"[]",
        b"null",
        b"",
    ):
        cases.append(Case("malformed-json", "http", payload, frozenset({"400"}), json_headers))
    # A record whose id is not hex: the whole request refused (today), or only that record (OTLP partial success).
    bad_id = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}'
    cases.append(Case("malformed-json", "http", bad_id, frozenset({"400", "200"}), json_headers))
    valid_json = json_request("json-app", {"stringValue": "hello"})
    for cut in range(0, len(valid_json), 7):
        cases.append(Case("truncated-json", "http", valid_json[:cut], frozenset({"400"}), json_headers))
    valid = seq_request("types", 0, 1)
    for content_type in ("text/plain", "application/xml", "multipart/form-data", "", "application/grpc"):
        cases.append(Case("wrong-content-type", "http", valid, frozenset({"415"}), (("Content-Type", content_type),)))
    cases.append(
        Case(
            "wrong-content-type",
            "http",
            valid,
            frozenset({"415"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "br")),
        )
    )
    cases.append(
        Case(
            "bad-gzip",
            "http",
            b"this is not gzip",  # a truncated gzip stream: see test_truncated_gzip_body_is_refused
            frozenset({"400"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")),
        )
    )
    huge = seq_request("huge", 0, 1, body="h" * (100 << 20))  # 100 MiB in one string: over the 64 MiB limit
    cases.append(Case("100MB-string", "grpc", huge, frozenset({GRPC_TOO_LARGE})))
    cases.append(Case("100MB-string", "http", huge, frozenset({"413"})))
    cases.append(
        Case(
            "100MB-string",
            "http",
            huge,
            frozenset({"413"}),
            (("Content-Type", PROTOBUF), ("Transfer-Encoding", "chunked")),
        )
    )
    cases.append(
        Case(
            "100MB-string",
            "http",
            gzip.compress(huge, 1),
            frozenset({"413"}),
            (("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")),
        )
    )
    for i, name in enumerate(HOSTILE_NAMES):
        cases.append(Case("hostile-service-name", "grpc", seq_request(name, i, 1), frozenset({GRPC_OK})))
        payload = json_request(name, {"stringValue": f"hostile {i}"})
        cases.append(Case("hostile-service-name", "http", payload, frozenset({"200"}), json_headers))
    return cases


class Tally:
    """Statuses per (category, transport), and the requests that got a wrong one."""

    def __init__(self) -> None:
        self.statuses: Counter[tuple[str, str, str]] = Counter()
        self.wrong: list[str] = []
        self._lock = threading.Lock()

    def record(self, case: Case, status: str) -> None:
        with self._lock:
            self.statuses[(case.category, case.transport, status)] += 1
            if status not in case.expected and len(self.wrong) < 20:
                self.wrong.append(f"{case.category}/{case.transport}: got {status}, expected {sorted(case.expected)}")

    def total(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        by_kind: dict[str, Counter[str]] = {}
        for (category, transport, status), n in sorted(self.statuses.items()):
            by_kind.setdefault(f"{category}/{transport}", Counter())[status] += n
        return " ".join(f"{kind}={dict(counts)}" for kind, counts in by_kind.items())


def send_grpc(call: grpc.UnaryUnaryMultiCallable, cases: Iterable[Case], tally: Tally, window: int = 32) -> None:
    """Keep ``window`` requests in flight (below the service's concurrent-RPC limit)."""
    pending: deque[tuple[Case, grpc.Future]] = deque()

    def settle(case: Case, future: grpc.Future) -> None:
        try:
            future.result()
            tally.record(case, "OK")
        except grpc.RpcError as exc:
            tally.record(case, exc.code().name)

    for case in cases:
        pending.append((case, call.future(case.payload, timeout=120)))
        if len(pending) >= window:
            settle(*pending.popleft())
    while pending:
        settle(*pending.popleft())


def send_http(port: int, cases: Iterable[Case], tally: Tally) -> None:
    """One keep-alive connection, reopened whenever the service closes it."""
    conn: http.client.HTTPConnection | None = None
    for case in cases:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = dict(case.headers)
        chunked = headers.get("Transfer-Encoding") == "chunked"
        body: bytes | Iterator[bytes] = case.payload
        if chunked:
            body = (case.payload[i : i + (1 << 20)] for i in range(0, len(case.payload), 1 << 20))
        try:
            conn.request("POST", "/v1/logs", body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
            response.read()
            status = str(response.status)
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            status = f"connection error {type(exc).__name__}"
            conn.close()
            conn = None
        tally.record(case, status)
    if conn is not None:
        conn.close()


def post_oversized(port: int, case: Case) -> str:
    """Send headers, then the body only while the service reads it; return the status it answers."""
    headers = dict(case.headers)
    payload = case.payload
    if headers.get("Transfer-Encoding") == "chunked":
        step = 1 << 20
        payload = b"".join(
            b"%X\r\n%s\r\n" % (len(payload[i : i + step]), payload[i : i + step]) for i in range(0, len(payload), step)
        )
        payload += b"0\r\n\r\n"
    else:
        headers["Content-Length"] = str(len(payload))
    head = (
        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        body, sent, received = memoryview(payload), 0, b""
        deadline = time.monotonic() + 120
        while b"\r\n" not in received and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < len(body) else [], [], 1.0)
            try:
                if readable:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                elif writable:
                    sent += sock.send(body[sent : sent + (1 << 20)])
            except (BrokenPipeError, ConnectionResetError) as exc:
                if readable:
                    return f"connection error {type(exc).__name__}"
                sent = len(body)  # the service stopped reading: wait for its answer
    parts = received.split(b" ", 2)
    return parts[1].decode() if len(parts) > 2 and received.startswith(b"HTTP/1.") else f"no answer {received[:40]!r}"
