"""The native OTLP conversion (otel_logging_native) against the Python one, byte for byte.

Every test feeds the same payload to both paths:

    python  ExportLogsServiceRequest.FromString(payload) -> convert_request -> RecordBatch.lines per service
    native  otel_logging_native.otlp_logs_to_jsonl(payload, received_ns)

and requires the same JSON lines per service (same service order), the same accepted/rejected counts and
the same rejection reason, or that both refuse the payload (DecodeError / ValueError).

Under ``make test`` the native module must be installed: these tests fail when it does not import. They are
skipped only when it does not import and ``OTEL_LOGGING_NATIVE=0`` says the Python path is wanted.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otel_logging.record import RecordBatch, convert_request, native
from otel_logging.record.names import DEFAULT_SERVICE_NAME
from tests.support import otlp

try:
    import otel_logging_native
except ImportError:  # reported by test_native_module_is_installed
    otel_logging_native = None

DISABLED = os.environ.get(native.ENV_SWITCH, "").strip() == "0"
pytestmark = pytest.mark.skipif(
    otel_logging_native is None and DISABLED,
    reason="otel_logging_native is not installed and OTEL_LOGGING_NATIVE=0 asks for the Python path",
)

RECEIVED_NS = 1_700_000_000_123_456_789
MAX_NANOS = (253402300799 + 1) * 1_000_000_000 - 1  # 9999-12-31T23:59:59.999999999Z
UINT64_MAX = 2**64 - 1  # 2554-07-21T23:34:33.709551615Z: a fixed64 timestamp is never beyond year 9999

Outcome = tuple[dict[str, bytes], int, int, str]


# -- the two paths ----------------------------------------------------------------------------------------------------


def python_path(payload: bytes, received_ns: int) -> Outcome | None:
    """What the Python receiver makes of ``payload``; None when protobuf refuses it."""
    try:
        request = ExportLogsServiceRequest.FromString(payload)
    except DecodeError:
        return None
    batch = convert_request(request, received_ns)
    lines = {service: bytes(batch.lines(service)) for service in batch}
    return lines, batch.count, batch.rejected, batch.first_error


def native_path(payload: bytes, received_ns: int) -> Outcome | None:
    assert otel_logging_native is not None, "otel_logging_native does not import"
    try:
        got: Outcome = otel_logging_native.otlp_logs_to_jsonl(payload, received_ns)
    except ValueError:
        with pytest.raises(ValueError):  # the pooled-buffer variant the receiver uses refuses it too
            otel_logging_native.otlp_logs_to_jsonl_views(payload, received_ns)
        return None
    views, *rest = otel_logging_native.otlp_logs_to_jsonl_views(payload, received_ns)
    assert ({service: bytes(lines) for service, lines in views.items()}, *rest) == got, "views differ"
    return got


def reason(first_error: str) -> str:
    """The reason part of ``service 'x', logger 'y': <reason>`` (the reasons contain no ': ')."""
    return first_error.rsplit(": ", 1)[-1]


def assert_same(payload: bytes, received_ns: int = RECEIVED_NS, *, exact_error: bool = False) -> Outcome | None:
    expected = python_path(payload, received_ns)
    got = native_path(payload, received_ns)
    if expected is None or got is None:
        assert got is expected, f"python {'refuses' if expected is None else 'accepts'}, native does not: {payload!r}"
        return None
    lines, accepted, rejected, first_error = got
    want_lines, want_accepted, want_rejected, want_error = expected
    assert list(lines) == list(want_lines), "service order"
    for service in want_lines:
        assert lines[service] == want_lines[service], service
    assert (accepted, rejected) == (want_accepted, want_rejected)
    assert bool(first_error) == bool(want_error)
    assert reason(first_error) == reason(want_error)
    if exact_error:
        assert first_error == want_error
    return got


def request(*resource_logs: ResourceLogs) -> bytes:
    return ExportLogsServiceRequest(resource_logs=list(resource_logs)).SerializeToString()


def kv(key: str, value: AnyValue | None = None) -> KeyValue:
    return KeyValue(key=key, value=value) if value is not None else KeyValue(key=key)


def svc_resource(service: str | None = "svc", *extra: KeyValue) -> Resource:
    attributes = [kv("service.name", AnyValue(string_value=service))] if service is not None else []
    return Resource(attributes=[*attributes, kv("host.name", AnyValue(string_value="h1")), *extra])


def one_scope(*records: LogRecord, service: str | None = "svc", scope: str = "app.module") -> bytes:
    return otlp.payload(service, records, resource={"host.name": "h1"}, scope=scope)


def record(**fields: Any) -> LogRecord:
    fields.setdefault("time_unix_nano", 1_700_000_000_000_000_001)
    return LogRecord(**fields)


def body(value: AnyValue) -> bytes:
    return one_scope(record(body=value))


# -- the module and its wrapper ---------------------------------------------------------------------------------------


def test_native_module_is_installed() -> None:
    assert otel_logging_native is not None, (
        "otel_logging_native does not import: build it with scripts/build-native.sh (make venv); "
        "set OTEL_LOGGING_NATIVE=0 to test the Python path only"
    )


@pytest.mark.skipif(DISABLED, reason="OTEL_LOGGING_NATIVE=0")
def test_wrapper_returns_a_record_batch() -> None:
    assert native.AVAILABLE, native.UNAVAILABLE_REASON
    payload = one_scope(record(body=AnyValue(string_value="hello")), record(trace_id=b"\x01" * 3))
    result = native.convert_payload(payload, RECEIVED_NS)
    assert isinstance(result, RecordBatch)
    assert list(result) == ["svc"]
    assert bytes(result.lines("svc")).count(b"\n") == 1
    assert [r["body"] for r in result["svc"]] == ["hello"]  # decoded on demand
    assert (result.count, result.rejected) == (1, 1)
    assert result.first_error == "service 'svc', logger 'app.module': trace_id has 3 bytes, expected 16"
    assert result.message() == f"1 log record(s) rejected; first: {result.first_error}"
    assert native.convert_payload(bytearray(payload), RECEIVED_NS) == result
    assert native.convert_payload(memoryview(payload), RECEIVED_NS) == result
    before = time.time_ns()
    now = native.convert_payload(one_scope(LogRecord()))  # received_ns defaults to now
    stamp = bytes(now.lines("svc")).split(b'"observed_timestamp":"')[1][:19].decode()
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(before // 10**9)) <= stamp
    with pytest.raises(ValueError, match="ExportLogsServiceRequest"):
        native.convert_payload(b"\x0a\x05ab")


@pytest.mark.skipif(DISABLED, reason="OTEL_LOGGING_NATIVE=0")
def test_pooled_lines_are_read_only_and_never_reused_while_a_view_is_held() -> None:
    """The receiver's conversion gives memoryviews of buffers reused for later requests: one still referenced
    keeps its lines whatever is converted after it; one released is reused (its memory, not its lines)."""
    assert otel_logging_native is not None
    convert = otel_logging_native.otlp_logs_to_jsonl_views
    first = one_scope(*[record(body=AnyValue(string_value=f"first {i}")) for i in range(50)])
    held, *_ = convert(first, RECEIVED_NS)
    want = otel_logging_native.otlp_logs_to_jsonl(first, RECEIVED_NS)[0]["svc"]
    assert held["svc"].readonly and bytes(held["svc"]) == want
    for i in range(40):  # more conversions than the pool keeps buffers, each released at once
        other, *_ = convert(one_scope(record(body=AnyValue(string_value=f"other {i}" * 40))), RECEIVED_NS)
        del other
    assert bytes(held["svc"]) == want
    with pytest.raises(TypeError):
        held["svc"][0] = 0  # type: ignore[index]
    batch = native.convert_payload(first, RECEIVED_NS)
    assert isinstance(batch.lines("svc"), memoryview) and bytes(batch.lines("svc")) == want


def test_environment_switch_disables_the_native_path() -> None:
    code = "import otel_logging.record.native as n; print(n.AVAILABLE, n.UNAVAILABLE_REASON)"
    env = {**os.environ, native.ENV_SWITCH: "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("False disabled by OTEL_LOGGING_NATIVE=0")
    code = "import otel_logging.record.native as n\ntry:\n n.convert_payload(b'')\nexcept RuntimeError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "not available" in out


def test_the_gil_is_released_while_converting() -> None:
    # One record whose body is an array of 2,000,000 ints: tens of milliseconds of native work.
    element = b"\x0a\x02\x18\x05"  # ArrayValue.values { int_value: 5 }
    array = element * 2_000_000
    value = b"\x2a" + varint(len(array)) + array  # AnyValue.array_value
    log = b"\x09" + struct.pack("<Q", 1_700_000_000 * 10**9) + ld(5, value)
    payload = ld(1, ld(2, ld(2, log)))
    stamps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        for _ in range(5):
            start = time.perf_counter()
            otel_logging_native.otlp_logs_to_jsonl(payload, RECEIVED_NS)
            end = time.perf_counter()
            # With the GIL held through the call, the ticking thread cannot run in its middle.
            low, high = start + (end - start) * 0.25, start + (end - start) * 0.75
            if any(low < s < high for s in stamps):
                return
    finally:
        stop.set()
        thread.join()
    pytest.fail("another Python thread never ran while the native conversion worked")


# -- example payloads -------------------------------------------------------------------------------------------------


def test_full_record_and_scope_details() -> None:
    log = LogRecord(
        time_unix_nano=1_700_000_000_123_456_789,
        observed_time_unix_nano=1_700_000_001_000_000_000,
        severity_number=17,
        severity_text="ERROR",
        body=AnyValue(string_value="boom"),
        attributes=[kv("order_id", AnyValue(int_value=42)), kv("ok", AnyValue(bool_value=True))],
        dropped_attributes_count=3,
        flags=1,
        trace_id=bytes(range(16)),
        span_id=bytes(range(1, 9)),
        event_name="order.failed",
    )
    scope = InstrumentationScope(
        name="checkout", version="1.2.3", attributes=[kv("lib", AnyValue(string_value="x"))], dropped_attributes_count=1
    )
    payload = request(
        ResourceLogs(resource=svc_resource("checkout-api"), scope_logs=[ScopeLogs(scope=scope, log_records=[log])])
    )
    lines, *_ = assert_same(payload)
    assert lines["checkout-api"].endswith(
        b'"trace_id":"000102030405060708090a0b0c0d0e0f","span_id":"0102030405060708","event_name":"order.failed",'
        b'"flags":1,"dropped_attributes_count":3,"scope_version":"1.2.3","scope_attributes":{"lib":"x"}}\n'
    )


def test_scope_version_alone_and_scope_attributes_alone() -> None:
    for scope in (
        InstrumentationScope(name="a", version="2"),
        InstrumentationScope(name="a", attributes=[kv("k", AnyValue(int_value=1))]),
        InstrumentationScope(name="a", attributes=[kv("k", AnyValue(int_value=1)), kv("k")]),
        InstrumentationScope(),
    ):
        assert_same(
            request(ResourceLogs(resource=svc_resource(), scope_logs=[ScopeLogs(scope=scope, log_records=[record()])]))
        )


@pytest.mark.parametrize(
    "value",
    [
        AnyValue(),
        AnyValue(string_value=""),
        AnyValue(string_value="plain"),
        AnyValue(bool_value=True),
        AnyValue(bool_value=False),
        AnyValue(int_value=0),
        AnyValue(int_value=-1),
        AnyValue(int_value=2**63 - 1),
        AnyValue(int_value=-(2**63)),
        AnyValue(bytes_value=b""),
        AnyValue(bytes_value=b"\x00\xff\xfe"),
        AnyValue(bytes_value=bytes(range(256))),
        AnyValue(string_value_strindex=3),
        AnyValue(array_value=ArrayValue()),
        AnyValue(kvlist_value=KeyValueList()),
        AnyValue(
            array_value=ArrayValue(values=[AnyValue(), AnyValue(int_value=1), AnyValue(array_value=ArrayValue())])
        ),
        AnyValue(
            kvlist_value=KeyValueList(
                values=[
                    kv("nested", AnyValue(kvlist_value=KeyValueList(values=[kv("deep", AnyValue(double_value=0.5))]))),
                    kv("unset"),
                    kv("list", AnyValue(array_value=ArrayValue(values=[AnyValue(kvlist_value=KeyValueList())]))),
                ]
            )
        ),
    ],
    ids=repr,
)
def test_any_value_kinds(value: AnyValue) -> None:
    assert_same(body(value))
    assert_same(one_scope(record(attributes=[kv("v", value)])))


@pytest.mark.parametrize(
    "number",
    [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1 / 3,
        1e15,
        1e16,
        -1e16,
        1.5e16,
        123456789012345680.0,
        1e-5,
        1e-6,
        1e-7,
        1.2345e-5,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        1e300,
        9007199254740993.0,
        math.nan,
        -math.nan,
        math.inf,
        -math.inf,
    ],
    ids=repr,
)
def test_doubles(number: float) -> None:
    assert_same(body(AnyValue(double_value=number)))


def test_many_doubles_from_random_bits() -> None:
    rng = random.Random(20_240_601)
    numbers = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    numbers += [rng.randint(-(10**9), 10**9) / 10 ** rng.randint(0, 25) for _ in range(20_000)]
    numbers += [float(f"{m}e{e}") for e in range(-325, 309) for m in (1, 1.5, 9.999)]
    assert_same(body(AnyValue(array_value=ArrayValue(values=[AnyValue(double_value=n) for n in numbers]))))


@pytest.mark.parametrize(
    "text",
    [
        "ascii",
        'quote " and backslash \\ and slash /',
        "".join(chr(c) for c in range(0x20)) + "\x7f",
        "\b\f\n\r\t",
        "é ß 中文 🙂 \u2028 \u2029 \ufeff \U0010ffff",
        "\x00",
        "mixed \x01é\x1f中\n",
    ],
    ids=repr,
)
def test_strings_escape_like_orjson(text: str) -> None:
    value = AnyValue(string_value=text)
    log = record(
        severity_text=text,
        body=value,
        attributes=[kv(text, value)],
        event_name=text,
    )
    scope = InstrumentationScope(name=text, version=text, attributes=[kv(text, value)])
    resource = Resource(attributes=[kv("service.name", value), kv(text, value)])
    assert_same(request(ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=[log])])))


def test_duplicate_keys_keep_first_position_and_last_value() -> None:
    attributes = [
        kv("a", AnyValue(int_value=1)),
        kv("b", AnyValue(int_value=2)),
        kv("a", AnyValue(int_value=3)),
        kv("c"),
        kv("b", AnyValue(string_value="last")),
    ]
    lines, *_ = assert_same(one_scope(record(attributes=attributes)))
    assert b'"attributes":{"a":3,"b":"last","c":null}' in lines["svc"]
    # Longer lists take another route in the native writer.
    many = [kv(f"k{i % 23}", AnyValue(int_value=i)) for i in range(200)]
    assert_same(one_scope(record(attributes=many, body=AnyValue(kvlist_value=KeyValueList(values=many)))))
    resource = svc_resource("first", kv("service.name", AnyValue(string_value="second")), *many)
    scope = InstrumentationScope(name="s", attributes=many)
    lines, *_ = assert_same(
        request(ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=[record()])]))
    )
    assert list(lines) == ["second"]


@pytest.mark.parametrize(
    "service_name",
    [
        None,
        AnyValue(),
        AnyValue(string_value=""),
        AnyValue(int_value=7),
        AnyValue(bool_value=True),
        AnyValue(bytes_value=b"svc"),
        AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="svc")])),
        AnyValue(string_value="ok"),
    ],
    ids=repr,
)
def test_service_name_missing_or_not_a_string(service_name: AnyValue | None) -> None:
    attributes = [kv("service.name", service_name)] if service_name is not None else []
    payload = request(
        ResourceLogs(resource=Resource(attributes=attributes), scope_logs=[ScopeLogs(log_records=[record()])])
    )
    lines, *_ = assert_same(payload, exact_error=True)
    # Python takes service.name from the converted resource, where bytes are a base64 string.
    names = {
        AnyValue(string_value="ok").SerializeToString(): "ok",
        AnyValue(bytes_value=b"svc").SerializeToString(): "c3Zj",
    }
    expected = names.get(service_name.SerializeToString() if service_name else b"", DEFAULT_SERVICE_NAME)
    assert list(lines) == [expected]
    assert_same(request(ResourceLogs(scope_logs=[ScopeLogs(log_records=[record()])])))  # no resource at all


def test_missing_timestamps_fall_back() -> None:
    assert_same(one_scope(LogRecord()))  # both from received_ns
    assert_same(one_scope(LogRecord(observed_time_unix_nano=1_600_000_000_000_000_000)))  # time from observed
    assert_same(one_scope(LogRecord(time_unix_nano=1)))  # observed from received_ns
    for received in (0, 1, MAX_NANOS, MAX_NANOS + 1, -1, -(10**18), 2**64, 2**100):
        assert_same(one_scope(LogRecord(), record()), received, exact_error=True)


@pytest.mark.parametrize(
    "stamp",
    [1, 999_999_999, 1_000_000_000, 951_782_400 * 10**9, 2**63 - 1, 2**63, UINT64_MAX],
)
def test_timestamps(stamp: int) -> None:
    good = record(body=AnyValue(string_value="kept"))
    assert_same(one_scope(good, LogRecord(time_unix_nano=stamp), good), exact_error=True)
    assert_same(one_scope(good, LogRecord(time_unix_nano=1, observed_time_unix_nano=stamp), good), exact_error=True)
    assert_same(one_scope(good, LogRecord(observed_time_unix_nano=stamp), good), exact_error=True)


@pytest.mark.parametrize("received", [MAX_NANOS, MAX_NANOS + 1, 10**30, -1, -(10**18)])
def test_timestamps_beyond_year_9999_or_before_1970_reject_the_record_alone(received: int) -> None:
    # Only the receive time can be out of range: a fixed64 timestamp ends in 2554.
    good = record(body=AnyValue(string_value="kept"), observed_time_unix_nano=1)
    lines, accepted, rejected, _ = assert_same(one_scope(good, LogRecord(), good), received, exact_error=True)
    assert (accepted, rejected) == ((3, 0) if 0 <= received <= MAX_NANOS else (2, 1))
    assert lines["svc"].count(b"\n") == accepted


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (b"", b""),
        (b"\x00" * 16, b"\x00" * 8),
        (b"\x00" * 15 + b"\x01", b"\x00" * 7 + b"\x01"),
        (b"\xab" * 16, b""),
        (b"", b"\xcd" * 8),
        (b"\x01" * 15, b""),
        (b"\x01" * 17, b""),
        (b"\x00" * 32, b""),
        (b"\x01" * 16, b"\x01" * 7),
        (b"\x01" * 16, b"\x00" * 9),
        (b"\x01", b"\x01"),
    ],
)
def test_trace_and_span_ids(trace_id: bytes, span_id: bytes) -> None:
    good = record(body=AnyValue(string_value="kept"))
    assert_same(one_scope(good, record(trace_id=trace_id, span_id=span_id), good), exact_error=True)


@pytest.mark.parametrize("field", ["event_name", "flags", "dropped_attributes_count", "severity_number"])
def test_optional_numbers_and_names(field: str) -> None:
    values: dict[str, list[Any]] = {
        "event_name": ["", "x", "evt.name"],
        "flags": [0, 1, 2**32 - 1],
        "dropped_attributes_count": [0, 1, 2**32 - 1],
        "severity_number": [0, 9, 24, 1000, -1, -(2**31), 2**31 - 1],
    }
    for value in values[field]:
        assert_same(one_scope(record(**{field: value})))


def test_several_resources_scopes_and_services_in_order_of_first_appearance() -> None:
    def rl(service: str | None, *scopes: tuple[str, list[LogRecord]]) -> ResourceLogs:
        return ResourceLogs(
            resource=svc_resource(service),
            scope_logs=[ScopeLogs(scope=InstrumentationScope(name=n), log_records=recs) for n, recs in scopes],
        )

    ok = record(body=AnyValue(string_value="ok"))
    bad = record(trace_id=b"\x01")
    payload = request(
        rl("b", ("s1", [ok, ok]), ("s2", [ok])),
        rl("a", ("s1", [bad])),  # only rejected records: "a" is not listed here ...
        rl(None, ("s3", [ok])),
        rl("b", ("s4", [ok, bad])),
        rl("a", ("s5", [ok])),  # ... but here, after the default service
        rl("c"),
        rl("d", ("empty", [])),
    )
    lines, accepted, rejected, error = assert_same(payload, exact_error=True)
    assert list(lines) == ["b", DEFAULT_SERVICE_NAME, "a"]
    assert (accepted, rejected) == (6, 2)
    assert error == "service 'a', logger 's1': trace_id has 1 bytes, expected 16"
    assert_same(request())
    assert_same(b"")


def test_names_that_python_quotes_differently_in_messages() -> None:
    for name in [
        "it's",
        'say "hi"',
        "both ' and \"",
        "tab\there",
        "back\\slash",
        "nul\x00",
        "é",
        "\x7f\x85\xa0\xad",
        "\u2028 \u3000 \ufeff \ue000 \U000f0000 🙂",
    ]:
        payload = one_scope(LogRecord(trace_id=b"x"), service=name, scope=name)
        assert_same(payload, exact_error=True)


def test_merged_messages_follow_protobuf_rules() -> None:
    # A payload that is two requests concatenated is one request with both lists.
    first = one_scope(record(body=AnyValue(string_value="1")))
    second = one_scope(record(body=AnyValue(int_value=2)), service="other")
    assert_same(first + second)
    # A record whose fields occur twice: scalars last, repeated appended, messages merged.
    rec1 = record(
        body=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
        attributes=[kv("a", AnyValue(int_value=1))],
        severity_text="first",
        trace_id=b"\x01" * 16,
    ).SerializeToString()
    rec2 = LogRecord(
        body=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=2)])),
        attributes=[kv("a", AnyValue(int_value=2)), kv("b")],
        severity_text="second",
    ).SerializeToString()
    rec3 = LogRecord(body=AnyValue(string_value="switch")).SerializeToString()
    rec4 = LogRecord(body=AnyValue(kvlist_value=KeyValueList(values=[kv("k")]))).SerializeToString()
    for combined in (rec1 + rec2, rec1 + rec3, rec1 + rec3 + rec2, rec1 + rec4 + rec4, rec4 + rec2 + rec1):
        assert_same(ld(1, ld(2, ld(2, combined))))
    # Resource and scope occurring twice, also after the records.
    resource1 = svc_resource("one").SerializeToString()
    resource2 = Resource(attributes=[kv("service.name", AnyValue(string_value="two"))]).SerializeToString()
    scope1 = InstrumentationScope(name="n1", version="v1").SerializeToString()
    scope2 = InstrumentationScope(name="n2", attributes=[kv("x")]).SerializeToString()
    log = record().SerializeToString()
    scope_logs = ld(2, log) + ld(1, scope1) + ld(2, log) + ld(1, scope2)
    assert_same(ld(1, ld(2, scope_logs) + ld(1, resource1) + ld(1, resource2)))


# -- wire format corner cases: same acceptance as upb ----------------------------------------------------------------


def test_records_converted_while_decoding_share_nothing_and_a_late_error_refuses_all() -> None:
    """Each record is decoded into one reused record and written at once: nothing of a record carries into the
    next, and a malformed byte after records already converted still refuses the whole payload."""
    full = record(
        body=AnyValue(string_value="x"),
        attributes=[kv("a", AnyValue(int_value=1)), kv("b", AnyValue(array_value=ArrayValue(values=[kv("c").value])))],
        severity_text="WARN",
        severity_number=13,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        flags=1,
        event_name="e",
        dropped_attributes_count=2,
        observed_time_unix_nano=5,
    )
    got = assert_same(one_scope(full, LogRecord(), full, record(), full))
    assert got is not None and got[1:3] == (5, 0)
    converted = ld(1, ld(2, ld(2, full.SerializeToString()) + ld(2, full.SerializeToString())))
    assert assert_same(converted) is not None
    for late_error in (
        ld(1, ld(2, ld(2, full.SerializeToString()) + ld(2, b"\x0a\x05ab"))),  # in the second record
        ld(1, ld(2, ld(2, full.SerializeToString())) + tag(7, 4)),  # after the scope: an end-group tag
        converted + b"\x0a\x05ab",  # after the resource
    ):
        assert assert_same(late_error) is None


def varint(n: int) -> bytes:
    n &= UINT64_MAX
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def ld(field: int, payload: bytes) -> bytes:
    return tag(field, 2) + varint(len(payload)) + payload


def in_body(any_value: bytes) -> bytes:
    """A request with one record whose body is the serialized AnyValue ``any_value``."""
    return ld(1, ld(2, ld(2, tag(1, 1) + struct.pack("<Q", 10**18) + ld(5, any_value))))


def in_record(log: bytes) -> bytes:
    return ld(1, ld(2, ld(2, log)))


GROUP = tag(15, 3) + tag(15, 4)


@pytest.mark.parametrize(
    "payload",
    [
        # wrong wire types for known fields are unknown fields, not errors
        in_body(tag(1, 0) + varint(5)),
        in_body(tag(5, 0) + varint(1)),
        in_body(tag(3, 1) + b"12345678"),
        in_body(tag(4, 5) + b"1234"),
        in_body(tag(4, 0) + varint(7)),
        in_record(tag(1, 0) + varint(5)),
        in_record(tag(1, 5) + b"1234"),
        in_record(tag(2, 2) + b"\x01\x01"),
        in_record(tag(8, 1) + b"12345678"),
        in_record(tag(9, 0) + varint(1)),
        in_record(tag(5, 3) + tag(5, 4)),
        ld(1, tag(1, 0) + varint(1)),
        tag(1, 0) + varint(1),
        # varints: 10 bytes at most, bits beyond 64 dropped
        in_body(tag(3, 0) + b"\xff" * 9 + b"\x01"),
        in_body(tag(3, 0) + b"\xff" * 9 + b"\x7f"),
        in_body(tag(3, 0) + b"\xff" * 10 + b"\x01"),
        in_body(tag(3, 0) + b"\x81" + b"\x80" * 8 + b"\x00"),
        in_body(tag(2, 0) + varint(2)),
        in_record(tag(2, 0) + varint(2**40 + 7)),
        in_record(tag(2, 0) + varint(-5)),
        in_record(tag(7, 0) + varint(2**33 + 3)),
        # tags: five bytes at most, below 2**32, field number not 0
        in_body(b"\x8a\x00\x01A"),
        in_body(b"\x8a\x80\x80\x80\x00\x01A"),
        in_body(b"\x8a\x80\x80\x80\x80\x00\x01A"),
        in_body(b"\x82\x80\x80\x80\x10\x01A"),
        in_body(b"\xfa\xff\xff\xff\x0f\x00"),
        in_body(b"\x02\x00"),
        in_body(b"\x00\x01"),
        in_body(tag(0, 3) + tag(0, 4)),
        # lengths: five bytes at most, inside the enclosing message
        in_body(b"\x0a\x81\x80\x80\x80\x00A"),
        in_body(b"\x0a\x81\x80\x80\x80\x80\x00A"),
        in_body(b"\x0a\x05ab"),
        in_body(b"\x0a\xff\xff\xff\xff\x0f"),
        in_body(tag(14, 2) + b"\x81\x80\x80\x80\x00A"),
        in_body(tag(14, 2) + b"\x81\x80\x80\x80\x80\x00A"),
        ld(1, ld(2, ld(2, tag(5, 2) + b"\x82\x80\x80\x80\x00" + tag(3, 0) + b"\x05"))),
        ld(1, ld(2, ld(2, tag(5, 2) + b"\x82\x80\x80\x80\x80\x00" + tag(3, 0) + b"\x05"))),
        tag(1, 2) + b"\x82\x80\x80\x80\x00" + ld(3, b""),
        tag(1, 2) + b"\x82\x80\x80\x80\x80\x00" + ld(3, b""),
        ld(1, ld(2, ld(2, ld(5, b"") + b"\x0a\x03"))) + b"abc",
        ld(1, ld(2, ld(2, tag(5, 2) + varint(3) + tag(1, 2) + varint(5) + b"a"))) + b"bcdef",
        # fixed-width values must be whole
        in_body(tag(4, 1) + b"1234567"),
        in_record(tag(8, 5) + b"123"),
        # groups: unknown groups are skipped, end tags must match, no stray end tags
        in_body(GROUP),
        in_body(
            tag(15, 3)
            + ld(1, b"\xff")
            + tag(2, 0)
            + b"\x01"
            + tag(3, 1)
            + b"12345678"
            + tag(4, 5)
            + b"1234"
            + tag(15, 4)
        ),
        in_body(tag(15, 3) + tag(16, 3) + tag(16, 4) + tag(15, 4)),
        in_body(tag(15, 3) + tag(16, 4) + tag(15, 4)),
        in_body(tag(15, 3)),
        in_body(tag(15, 4)),
        in_body(tag(15, 3) + b"\x0f" + tag(15, 4)),
        in_body(tag(15, 3) + b"\x00\x00" + tag(15, 4)),
        in_body(tag(15, 3) + tag(0, 3) + tag(0, 4) + tag(15, 4)),
        in_body(tag(15, 3) + tag(2, 2) + b"\x05ab" + tag(15, 4)),
        in_body(tag(15, 3) + tag(14, 2) + b"\x81\x80\x80\x80\x80\x00A" + tag(15, 4)),
        in_body(tag(15, 3) + b"\x8a\x80\x80\x80\x80\x00\x01A" + tag(15, 4)),
        in_body(tag(15, 3) + tag(2, 0) + b"\xff" * 10 + b"\x01" + tag(15, 4)),
        in_body(tag(2**29 - 1, 3) + tag(2**29 - 1, 4)),
        ld(1, ld(2, ld(2, ld(5, tag(15, 3))))) + tag(15, 4),
        GROUP,
        tag(1, 4),
        # wire types 6 and 7 do not exist
        in_body(b"\x0e"),
        in_body(b"\x0f"),
        # truncated tag / varint
        in_body(b"\x80"),
        in_body(tag(3, 0) + b"\x80"),
    ],
)
def test_wire_format_corner_cases(payload: bytes) -> None:
    assert_same(payload)


@pytest.mark.parametrize(
    "build",
    [
        lambda bad: in_body(ld(1, bad)),  # AnyValue.string_value
        lambda bad: in_body(ld(6, ld(1, ld(1, bad)))),  # KeyValue.key
        lambda bad: in_record(ld(3, bad)),  # LogRecord.severity_text
        lambda bad: in_record(ld(12, bad)),  # LogRecord.event_name
        lambda bad: ld(1, ld(2, ld(1, ld(1, bad)))),  # InstrumentationScope.name
        lambda bad: ld(1, ld(2, ld(1, ld(2, bad)))),  # InstrumentationScope.version
        lambda bad: ld(1, ld(2, ld(3, bad))),  # ScopeLogs.schema_url
        lambda bad: ld(1, ld(3, bad)),  # ResourceLogs.schema_url
        lambda bad: ld(1, ld(1, ld(1, ld(1, bad)))),  # Resource attribute key
        lambda bad: ld(1, ld(1, ld(3, ld(1, bad)))),  # EntityRef.schema_url
        lambda bad: ld(1, ld(1, ld(3, ld(2, bad)))),  # EntityRef.type
        lambda bad: ld(1, ld(1, ld(3, ld(3, bad)))),  # EntityRef.id_keys
        lambda bad: ld(1, ld(1, ld(3, ld(4, bad)))),  # EntityRef.description_keys
    ],
)
@pytest.mark.parametrize(
    "bad", [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xe2\x82", b"\x80", b"ok \xf0\x9f\x99"]
)
def test_invalid_utf8_in_any_string_field_is_refused(build: Callable[[bytes], bytes], bad: bytes) -> None:
    payload = build(bad)
    assert python_path(payload, RECEIVED_NS) is None
    assert_same(payload)
    assert_same(build("fine é 🙂".encode()))


def test_invalid_utf8_in_bytes_and_unknown_fields_is_fine() -> None:
    assert_same(in_body(ld(7, b"\xff")))
    assert_same(in_body(ld(14, b"\xff")))
    assert_same(in_record(ld(9, b"\xff" * 16) + ld(10, b"\xfe" * 8)))


@pytest.mark.parametrize("depth", [44, 45, 46, 47, 48, 49, 50])
def test_nesting_limit_like_upb(depth: int) -> None:
    # request > resource_logs > scope_logs > log_records > body: 4 sub-messages before the body's arrays
    arrays = b""
    for _ in range(depth):
        arrays = ld(5, ld(1, arrays))
    assert_same(in_body(arrays))
    kvlists = b""
    for _ in range(depth * 2 // 3):
        kvlists = ld(6, ld(1, ld(1, b"k") + ld(2, kvlists)))
    assert_same(in_body(kvlists))


@pytest.mark.parametrize("nested", [0, 10, 40])
def test_group_nesting_shares_the_limit(nested: int) -> None:
    arrays_inner: Callable[[bytes], bytes] = lambda inner: inner  # noqa: E731
    for _ in range(nested):
        arrays_inner = (lambda f: lambda inner: ld(5, ld(1, f(inner))))(arrays_inner)
    budget = 100 - 5 - 2 * nested  # what is left inside the innermost AnyValue
    for groups in (budget - 1, budget, budget + 1):
        if groups >= 0:
            assert_same(in_body(arrays_inner(tag(15, 3) * groups + tag(15, 4) * groups)))


# -- generated requests -----------------------------------------------------------------------------------------------

KEYS = st.one_of(st.sampled_from(["a", "b", "service.name", "é", "", "x\ny", '"q"']), st.text(max_size=8))
TEXTS = st.one_of(st.sampled_from(["", "INFO", "app.module", "é中🙂", '\x00\x1f"\\']), st.text(max_size=20))
TIMESTAMPS = st.one_of(
    st.just(0),
    st.integers(1, UINT64_MAX),
    st.sampled_from([1, 10**9 - 1, 2**63 - 1, 2**63, UINT64_MAX]),
)
IDS = st.one_of(st.just(b""), st.binary(min_size=16, max_size=16), st.just(b"\x00" * 16), st.binary(max_size=20))
SPANS = st.one_of(st.just(b""), st.binary(min_size=8, max_size=8), st.just(b"\x00" * 8), st.binary(max_size=10))
DOUBLES = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1e16, 1e-7, 1e-5, math.inf, -math.inf, math.nan]))


def utf8(text: str) -> bytes:
    return text.encode()


def fields(*parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A message from optional field chunks, sometimes in another order than the field numbers."""
    chunks = st.tuples(*parts).map(list)
    return st.one_of(chunks, chunks.flatmap(st.permutations)).map(b"".join)


def repeated(strategy: st.SearchStrategy[bytes], max_size: int = 3) -> st.SearchStrategy[bytes]:
    return st.lists(strategy, max_size=max_size).map(b"".join)


def optional(strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b""), strategy)


scalar_any_values = st.one_of(
    st.just(b""),
    TEXTS.map(lambda t: ld(1, utf8(t))),
    st.integers(0, 3).map(lambda v: tag(2, 0) + varint(v)),
    st.integers(-(2**63), 2**64 - 1).map(lambda v: tag(3, 0) + varint(v)),
    DOUBLES.map(lambda v: tag(4, 1) + struct.pack("<d", v)),
    st.binary(max_size=12).map(lambda v: ld(7, v)),
    st.integers(0, 5).map(lambda v: tag(8, 0) + varint(v)),
)


def key_value(values: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return fields(optional(KEYS.map(lambda k: ld(1, utf8(k)))), optional(values.map(lambda v: ld(2, v))))


def extend_any_values(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        repeated(children.map(lambda c: ld(1, c)), 4).map(lambda a: ld(5, a)),
        repeated(key_value(children).map(lambda c: ld(1, c)), 4).map(lambda kvs: ld(6, kvs)),
        st.tuples(children, children).map(b"".join),  # the same message twice: merged
    )


any_values = st.recursive(scalar_any_values, extend_any_values, max_leaves=8)
service_names = st.one_of(
    st.just(b""),
    TEXTS.map(lambda t: ld(1, ld(1, b"service.name") + ld(2, ld(1, utf8(t))))),
    any_values.map(lambda v: ld(1, ld(1, b"service.name") + ld(2, v))),
    st.sampled_from(["svc-a", "svc-b"]).map(lambda t: ld(1, ld(1, b"service.name") + ld(2, ld(1, t.encode())))),
)

log_records = fields(
    optional(TIMESTAMPS.map(lambda t: tag(1, 1) + struct.pack("<Q", t))),
    optional(TIMESTAMPS.map(lambda t: tag(11, 1) + struct.pack("<Q", t))),
    optional(st.integers(-(2**31), 2**32).map(lambda v: tag(2, 0) + varint(v))),
    optional(TEXTS.map(lambda t: ld(3, utf8(t)))),
    optional(any_values.map(lambda v: ld(5, v))),
    repeated(key_value(any_values).map(lambda c: ld(6, c)), 5),
    optional(st.integers(0, 2**33).map(lambda v: tag(7, 0) + varint(v))),
    optional(st.integers(0, 2**32 - 1).map(lambda v: tag(8, 5) + struct.pack("<I", v))),
    optional(IDS.map(lambda v: ld(9, v))),
    optional(SPANS.map(lambda v: ld(10, v))),
    optional(TEXTS.map(lambda t: ld(12, utf8(t)))),
)
scopes = fields(
    optional(TEXTS.map(lambda t: ld(1, utf8(t)))),
    optional(TEXTS.map(lambda t: ld(2, utf8(t)))),
    repeated(key_value(any_values).map(lambda c: ld(3, c)), 2),
    optional(st.integers(0, 9).map(lambda v: tag(4, 0) + varint(v))),
)
scope_logs = fields(
    repeated(scopes.map(lambda s: ld(1, s)), 2),
    repeated(log_records.map(lambda r: ld(2, r)), 4),
    optional(TEXTS.map(lambda t: ld(3, utf8(t)))),
)
resources = fields(
    service_names,
    repeated(key_value(any_values).map(lambda c: ld(1, c)), 2),
    optional(st.integers(0, 9).map(lambda v: tag(2, 0) + varint(v))),
    optional(st.lists(TEXTS, max_size=3).map(lambda ts: ld(3, b"".join(ld(3, utf8(t)) for t in ts)))),
)
resource_logs = fields(
    repeated(resources.map(lambda r: ld(1, r)), 2),
    repeated(scope_logs.map(lambda s: ld(2, s)), 3),
    optional(TEXTS.map(lambda t: ld(3, utf8(t)))),
)
requests = repeated(resource_logs.map(lambda r: ld(1, r)), 4)
received_times = st.one_of(st.just(RECEIVED_NS), st.integers(0, MAX_NANOS), st.integers(-(10**20), 10**21))

GENERATED = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@GENERATED
@given(requests, received_times)
def test_generated_requests(payload: bytes, received_ns: int) -> None:
    assert_same(payload, received_ns)


@GENERATED
@given(
    requests, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.integers(0, 2)), min_size=1, max_size=4)
)
def test_mutated_requests(payload: bytes, mutations: list[tuple[int, int, int]]) -> None:
    data = bytearray(payload)
    for position, byte, kind in mutations:
        at = position % (len(data) + 1)
        if kind == 0 and at < len(data):
            data[at] = byte
        elif kind == 1:
            data.insert(at, byte)
        elif at < len(data):
            del data[at]
    assert_same(bytes(data))


@GENERATED
@given(st.binary(max_size=200))
def test_random_bytes(payload: bytes) -> None:
    assert_same(payload)


def realistic_payload() -> bytes:
    logs = [
        record(
            severity_number=9,
            severity_text="INFO",
            body=AnyValue(string_value=f"order {i} placed"),
            attributes=[kv("order_id", AnyValue(int_value=i)), kv("amount", AnyValue(double_value=i / 7))],
            trace_id=bytes([i % 256]) * 16,
            span_id=bytes([1 + i % 255]) * 8,
        )
        for i in range(20)
    ]
    return request(
        ResourceLogs(
            resource=svc_resource("checkout-api"), scope_logs=[ScopeLogs(scope={"name": "app"}, log_records=logs)]
        )
    )


def test_every_truncation_of_a_request() -> None:
    payload = realistic_payload()
    for end in range(len(payload) + 1):
        assert_same(payload[:end])


def test_random_mutations_of_a_request() -> None:
    rng = random.Random(7)
    payload = realistic_payload()
    for _ in range(3000):
        data = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.6:
                data[at] = rng.randrange(256)
            elif choice < 0.8:
                data[at] ^= 1 << rng.randrange(8)
            else:
                del data[at]
        assert_same(bytes(data))
