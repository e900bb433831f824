"""Fuzz target for the export path: OTLP protobuf and OTLP/JSON decoding, conversion, JSON lines.

    scripts/fuzz.sh 300          # install atheris into the venv, fuzz for 300 seconds

The first byte of an input picks the decoder (even: protobuf, odd: OTLP/JSON), the rest is
the request body. A decoder (``otel_logging.record``; the receiver answers its refusal with
``ExportError``, MALFORMED) may refuse a body only with ``MalformedRequest``; whatever it accepts
must convert without raising, with every record accepted or counted as rejected, and every
accepted record must become exactly one JSON line that parses back. A protobuf body also goes
through the native converter (``otel_logging.record.native``), which must refuse exactly what the Python
decoder refuses and otherwise produce the same JSON lines, byte for byte. Anything else is a finding
(atheris stops and writes the input under ``.cache/fuzz/crashes/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from otel_logging.record import MalformedRequest, convert_request, decode_json, from_json_line, native, parse_protobuf

PROTOBUF, JSON = b"\x00", b"\x01"
RECEIVED_NS = 1_750_000_000_123_456_789  # the receive time both converters give records without one


def test_one_input(data: bytes) -> None:
    if not data:
        return
    try:
        if data[0] & 1:  # OTLP/JSON, decoded as the HTTP front end does: records with bad ids counted out
            decoded = decode_json(data[1:])
            request, rejected_while_decoding = decoded.request, decoded.rejected
            assert rejected_while_decoding >= 0 and bool(decoded.first_error) == bool(rejected_while_decoding)
        else:
            request = parse_protobuf(data[1:])
    except MalformedRequest:
        if not data[0] & 1 and native.AVAILABLE:
            try:
                native.convert_payload(data[1:], RECEIVED_NS)
            except ValueError:
                return
            raise AssertionError("the native converter accepted a payload the Python decoder refuses") from None
        return
    records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    batch = convert_request(request, RECEIVED_NS)
    assert batch.count + batch.rejected == records, "a record was neither accepted nor rejected"
    encoded = {}
    for service, converted in batch.items():
        encoded[service] = bytes(batch.lines(service))
        lines = encoded[service].splitlines()
        assert len(lines) == len(converted), f"{len(converted)} records of {service!r} made {len(lines)} lines"
        for line in lines:
            assert from_json_line(line)["service"] == service
    if not data[0] & 1 and native.AVAILABLE:
        fast = native.convert_payload(data[1:], RECEIVED_NS)
        assert (fast.count, fast.rejected) == (batch.count, batch.rejected), "native counts differ"
        assert {s: bytes(fast.lines(s)) for s in fast} == encoded, "native JSON lines differ from the Python path's"


def seed_corpus() -> dict[str, bytes]:
    """Valid requests in both encodings and a few near misses: where the fuzzer starts."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="checkout")))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "shop.orders"
    scope_logs.scope.version = "1.2"
    record = scope_logs.log_records.add(
        time_unix_nano=1_700_000_000_000_000_000, severity_number=9, severity_text="INFO", flags=1
    )
    record.body.string_value = "order 42 placed"
    record.trace_id = bytes(range(1, 17))
    record.span_id = bytes(range(1, 9))
    record.attributes.add(key="user").value.kvlist_value.values.add(key="id", value=AnyValue(int_value=7))
    record.attributes.add(key="tags").value.array_value.values.add(double_value=1.5)
    record.attributes.add(key="raw").value.bytes_value = b"\x00\xff"
    protobuf = request.SerializeToString()
    json = (
        b'{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},'
        b'"scopeLogs":[{"scope":{"name":"shop.orders"},"logRecords":[{"timeUnixNano":"1700000000000000000",'
        b'"severityNumber":9,"body":{"stringValue":"order 42"},"traceId":"0102030405060708090a0b0c0d0e0f10",'
        b'"spanId":"0102030405060708","attributes":[{"key":"n","value":{"intValue":"1"}}]}]}]}]}'
    )
    return {
        "protobuf-valid": PROTOBUF + protobuf,
        "protobuf-truncated": PROTOBUF + protobuf[: len(protobuf) // 2],
        "protobuf-empty": PROTOBUF,
        "json-valid": JSON + json,
        "json-truncated": JSON + json[: len(json) // 2],
        "json-bad-trace-id": JSON + json.replace(b"0102030405060708090a0b0c0d0e0f10", b"zz"),
        "json-empty-object": JSON + b"{}",
    }


def write_seeds(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seed_corpus().items():
        (directory / f"seed-{name}").write_bytes(data)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        write_seeds(Path(argv[2]))
        return
    import atheris  # only needed to fuzz; scripts/fuzz.sh installs it

    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
