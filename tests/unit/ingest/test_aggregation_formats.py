"""Every input format of the aggregation, read from fixture files into canonical records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_logging.ingest.engine import IngestOptions, Ingestor
from otel_logging.ingest.formats import compile_pattern, detect_format
from otel_logging.ingest.records import FILE_PATH, RECORD_UID, UNPARSED
from otel_logging.record import Record, convert_request

CANONICAL_KEYS = [
    "@timestamp",
    "observed_timestamp",
    "severity_text",
    "severity_number",
    "body",
    "logger",
    "service",
    "attributes",
    "resource",
]


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, by_service: dict[str, list[Record]]) -> None:
        for records in by_service.values():
            self.records.extend(records)

    def close(self) -> None:
        pass


def ingest(path: Path, **options: Any) -> list[Record]:
    sink = ListSink()
    options.setdefault("service", "app")
    ingestor = Ingestor([sink], IngestOptions(checkpoint_path=None, **options))
    report = ingestor.ingest_file(str(path))
    assert report.status == "ok", report.error
    return sink.records


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CHAINED_TRACEBACK = """\
Traceback (most recent call last):
  File "/srv/app/db.py", line 3, in run
    cursor.execute(sql)
ValueError: bad value

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/db.py", line 5, in run
    raise KeyError("k")
KeyError: 'k'
"""  # a chained traceback, as Python prints it

STDLIB_LOG = f"""\
2024-03-01 10:00:00,123 - app.web - INFO - started on port 8000
2024-03-01 10:00:01,456 - app.db - ERROR - query failed
{CHAINED_TRACEBACK}this line matches nothing
2024-03-01 10:00:02,000 - app - WARNING - slow request
  with an indented detail line
2024-03-01 10:00:03,999 - app - CRITICAL - down - really
"""


def test_stdlib_text_with_traceback_unmatched_and_continuation(tmp_path: Path) -> None:
    records = ingest(write(tmp_path, "app.log", STDLIB_LOG))
    assert [r["body"] for r in records] == [
        "started on port 8000",
        "query failed",
        "this line matches nothing",
        "slow request\n  with an indented detail line",
        "down - really",
    ]
    for record in records:
        assert list(record) == CANONICAL_KEYS
        assert record["service"] == "app" and record["resource"] == {"service.name": "app"}
        assert record["attributes"][FILE_PATH] == str(tmp_path / "app.log")
        assert record["observed_timestamp"].endswith("Z")
    started, failed, garbage, slow, down = records
    assert started["@timestamp"] == "2024-03-01T10:00:00.123000000Z"
    assert (started["severity_text"], started["severity_number"], started["logger"]) == ("INFO", 9, "app.web")
    assert (failed["severity_text"], failed["severity_number"]) == ("ERROR", 17)
    stack = failed["attributes"]["exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last):") and stack.endswith("KeyError: 'k'")
    assert "During handling of the above exception" in stack and "ValueError: bad value" in stack
    assert failed["attributes"]["exception.type"] == "KeyError"
    assert failed["attributes"]["exception.message"] == "'k'"
    assert garbage["attributes"][UNPARSED] is True
    assert garbage["severity_number"] == 0 and garbage["logger"] == ""
    assert UNPARSED not in slow["attributes"]
    assert (slow["severity_text"], slow["severity_number"]) == ("WARN", 13)
    assert (down["severity_text"], down["severity_number"]) == ("FATAL", 21)
    uids = [r["attributes"][RECORD_UID] for r in records]
    assert len(set(uids)) == 5
    offsets = [int(uid.rsplit(":", 1)[1]) for uid in uids]
    text = STDLIB_LOG.encode()
    assert [text[o : o + 10] for o in offsets] == [
        b"2024-03-01",
        b"2024-03-01",
        b"this line ",
        b"2024-03-01",
        b"2024-03-01",
    ]


def test_naive_timestamps_use_the_configured_zone_with_daylight_saving(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "paris.log",
        "2024-01-15 12:00:00,000 - a - INFO - winter\n2024-07-15 12:00:00,500 - a - INFO - summer\n",
    )
    winter, summer = ingest(path, timezone="Europe/Paris")
    assert winter["@timestamp"] == "2024-01-15T11:00:00.000000000Z"
    assert summer["@timestamp"] == "2024-07-15T10:00:00.500000000Z"
    utc_winter, _ = ingest(path)
    assert utc_winter["@timestamp"] == "2024-01-15T12:00:00.000000000Z"


def test_timestamps_keep_their_zone_when_they_name_one(tmp_path: Path) -> None:
    lines = [
        "2024-03-01T10:00:00.250000+02:00 - svc - lg - INFO - plus two",
        "2024-03-01T10:00:00-05:30 - svc - lg - INFO - minus five thirty",
        "2024-03-01T10:00:00Z - svc - lg - INFO - zulu",
        "2024-03-01T10:00:00.123456 - svc - lg - INFO - naive",
    ]
    records = ingest(write(tmp_path, "seed.log", "\n".join(lines) + "\n"), timezone="America/New_York")
    assert [r["@timestamp"] for r in records] == [
        "2024-03-01T08:00:00.250000000Z",
        "2024-03-01T15:30:00.000000000Z",
        "2024-03-01T10:00:00.000000000Z",
        "2024-03-01T15:00:00.123456000Z",  # naive: read in New York (EST, -05:00)
    ]


def test_seed_server_format_names_its_app(tmp_path: Path) -> None:
    text = (
        "2024-03-01T10:00:00.123456 - billing - billing.api - ERROR - charge failed\n"
        "Traceback (most recent call last):\n"
        '  File "b.py", line 1, in <module>\n'
        "RuntimeError: card declined\n"
        "2024-03-01T10:00:01 - billing - billing.api - INFO - retried\n"
    )
    path = write(tmp_path, "server.log", text)
    assert detect_format(path.read_bytes().split(b"\n")) == "seed"
    failed, retried = ingest(path)
    assert failed["service"] == "billing" and failed["resource"] == {"service.name": "billing"}
    assert failed["logger"] == "billing.api" and failed["body"] == "charge failed"
    assert failed["attributes"]["exception.type"] == "RuntimeError"
    assert failed["attributes"]["exception.message"] == "card declined"
    assert retried["@timestamp"] == "2024-03-01T10:00:01.000000000Z"


def test_python_json_logger_lines(tmp_path: Path) -> None:
    lines = [
        {"asctime": "2024-03-01 10:00:00,123", "levelname": "INFO", "name": "shop", "message": "paid", "order": 7},
        {
            "asctime": "2024-03-01 10:00:01,000",
            "levelname": "ERROR",
            "name": "shop",
            "message": "failed",
            "exc_info": 'Traceback (most recent call last):\n  File "s.py"\nZeroDivisionError: division by zero',
            "taskName": None,
        },
    ]
    path = write(tmp_path, "pj.log", "".join(json.dumps(line) + "\n" for line in lines))
    paid, failed = ingest(path)
    assert paid["body"] == "paid" and paid["logger"] == "shop" and paid["severity_number"] == 9
    assert paid["@timestamp"] == "2024-03-01T10:00:00.123000000Z"
    assert paid["attributes"]["order"] == 7
    assert failed["attributes"]["exception.type"] == "ZeroDivisionError"
    assert failed["attributes"]["exception.message"] == "division by zero"
    assert failed["attributes"]["taskName"] is None


def test_structlog_json_lines(tmp_path: Path) -> None:
    lines = [
        {"event": "user logged in", "level": "info", "timestamp": "2024-03-01T10:00:00.5Z", "user_id": 42},
        {
            "event": "boom",
            "level": "error",
            "logger": "auth",
            "timestamp": 1709287201.25,
            "exception": "Traceback\nOSError: disk",
        },
    ]
    path = write(tmp_path, "sl.log", "".join(json.dumps(line) + "\n" for line in lines))
    login, boom = ingest(path)
    assert login["body"] == "user logged in" and login["attributes"]["user_id"] == 42
    assert login["@timestamp"] == "2024-03-01T10:00:00.500000000Z"
    assert (boom["logger"], boom["severity_text"]) == ("auth", "ERROR")
    assert boom["@timestamp"] == "2024-03-01T10:00:01.250000000Z"
    assert boom["attributes"]["exception.type"] == "OSError"


def test_ecs_json_lines(tmp_path: Path) -> None:
    line = {
        "@timestamp": "2024-03-01T10:00:00.123Z",
        "log.level": "warning",
        "message": "disk almost full",
        "ecs.version": "1.6.0",
        "log": {"logger": "monitor", "origin": {"function": "check", "file": {"line": 12, "name": "m.py"}}},
        "process": {"pid": 12},
        "error": {"type": "OSError", "message": "no space", "stack_trace": "Traceback ...\nOSError: no space"},
    }
    (record,) = ingest(write(tmp_path, "ecs.json", json.dumps(line) + "\n"))
    assert record["body"] == "disk almost full" and record["logger"] == "monitor"
    assert (record["severity_text"], record["severity_number"]) == ("WARN", 13)
    attributes = record["attributes"]
    assert attributes["log"] == {"origin": {"function": "check", "file": {"line": 12, "name": "m.py"}}}
    assert attributes["process"] == {"pid": 12}
    assert (attributes["exception.type"], attributes["exception.message"]) == ("OSError", "no space")


def test_canonical_records_pass_through_unchanged(tmp_path: Path) -> None:
    original = {
        "@timestamp": "2024-03-01T10:00:00.123456789Z",
        "observed_timestamp": "2024-03-01T10:00:00.200000000Z",
        "severity_text": "INFO",
        "severity_number": 9,
        "body": {"structured": [1, 2]},
        "logger": "x",
        "service": "other-app",
        "attributes": {"a": 1},
        "resource": {"service.name": "other-app", "host.name": "h"},
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
    }
    (record,) = ingest(write(tmp_path, "app.jsonl", json.dumps(original) + "\n"))
    assert record == original


def test_otlp_json_lines_from_the_collector_file_exporter(tmp_path: Path) -> None:
    request = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "collected"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "lib"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1709287200123456789",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "from the collector"},
                                "attributes": [{"key": "n", "value": {"intValue": "3"}}],
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                            },
                            {"timeUnixNano": "1709287201000000000", "body": {"stringValue": "second"}},
                        ],
                    }
                ],
            }
        ]
    }
    line = json.dumps(request)
    records = ingest(write(tmp_path, "otlp.json", line + "\n" + line + "\n"))
    assert len(records) == 4
    first = records[0]
    assert first["service"] == "collected" and first["body"] == "from the collector"
    assert first["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and first["attributes"] == {"n": 3}
    # the same conversion as the receiver's (observed time is the receive time there, so compare the rest)
    expected = next(
        iter(convert_request(json_format.ParseDict(_base64_ids(request), ExportLogsServiceRequest())).values())
    )
    for got, want in zip(records[:2], expected, strict=True):
        assert {k: v for k, v in got.items() if k != "observed_timestamp"} == {
            k: v for k, v in want.items() if k != "observed_timestamp"
        }


def test_otlp_records_the_converter_refuses_are_kept_as_the_raw_line(tmp_path: Path) -> None:
    good = {"timeUnixNano": "1709287200000000000", "body": {"stringValue": "fine"}}
    bad = {"timeUnixNano": "1709287200000000000", "body": {"stringValue": "bad"}, "spanId": "abcd"}  # 2 bytes
    line = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [good, bad]}]}]})
    records = ingest(write(tmp_path, "otlp.json", line + "\n"))
    (fine,) = [r for r in records if r["body"] == "fine"]
    (kept,) = [r for r in records if r is not fine]
    assert fine["service"] == "unknown_service"
    assert kept["body"] == line and kept["attributes"][UNPARSED] is True
    assert "span_id has 2 bytes" in kept["attributes"]["otel_logging.error"]


def _base64_ids(request: dict[str, Any]) -> dict[str, Any]:
    import base64
    import copy

    request = copy.deepcopy(request)
    for log in request["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        for key in ("traceId", "spanId"):
            if key in log:
                log[key] = base64.b64encode(bytes.fromhex(log[key])).decode()
    return request


def test_user_regex_pattern(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nginxish.log",
        "[2024-03-01 10:00:00.250] WARN (worker 7) cache miss\n[2024-03-01 10:00:01.000] INFO (worker 8) ok\nnoise\n",
    )
    pattern = r"\[(?P<timestamp>[^\]]+)\] (?P<level>\w+) \(worker (?P<worker>\d+)\) (?P<message>.*)"
    miss, ok, noise = ingest(path, format="pattern", pattern=pattern)
    assert miss["@timestamp"] == "2024-03-01T10:00:00.250000000Z"
    assert (miss["severity_text"], miss["body"], miss["attributes"]["worker"]) == ("WARN", "cache miss", 7)
    assert ok["attributes"]["worker"] == 8
    assert noise["attributes"][UNPARSED] is True and noise["body"] == "noise"


def test_user_logging_format_string(tmp_path: Path) -> None:
    fmt = "%(asctime)s [%(levelname)-8s] %(name)s:%(lineno)d %(message)s"
    path = write(tmp_path, "custom.log", "2024-03-01 10:00:00,042 [ERROR   ] pay.api:77 refused\n")
    (record,) = ingest(path, pattern=fmt)  # detected as the user's pattern
    assert record["body"] == "refused" and record["logger"] == "pay.api"
    assert record["severity_text"] == "ERROR" and record["attributes"]["lineno"] == 77
    assert record["@timestamp"] == "2024-03-01T10:00:00.042000000Z"


def test_bad_patterns_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no named groups"):
        compile_pattern(r"\d+ .*")
    with pytest.raises(ValueError, match="not a valid regex"):
        compile_pattern(r"(?P<message>.*")


def test_gzip_file_crlf_and_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "old.log.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"2024-03-01 10:00:00,001 - a - INFO - one\r\n2024-03-01 10:00:00,002 - a - DEBUG - two")
    one, two = ingest(path)
    assert (one["body"], two["body"]) == ("one", "two")
    assert (two["severity_text"], two["severity_number"]) == ("DEBUG", 5)


def test_mixed_file_each_line_in_its_own_format(tmp_path: Path) -> None:
    text = (
        "2024-03-01 10:00:00,000 - a - INFO - text line\n"
        '{"event": "json line", "level": "info", "timestamp": "2024-03-01T10:00:01Z"}\n'
        "\n"
        "\x01\x02 not a log line\n"
    )
    records = ingest(write(tmp_path, "mixed.log", text))
    assert [r["body"] for r in records] == ["text line", "json line", "\x01\x02 not a log line"]
    assert records[2]["attributes"][UNPARSED] is True
    assert records[2]["@timestamp"] == "2024-03-01T10:00:01.000000000Z"  # the last timestamp seen


def test_invalid_utf8_is_kept_with_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "latin1.log"
    path.write_bytes("2024-03-01 10:00:00,000 - a - INFO - caf\xe9\n".encode("latin-1"))
    (record,) = ingest(path)
    assert record["body"] == "caf\ufffd"


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Ingestor([], IngestOptions(service="a", timezone="Mars/Olympus"))


def test_timestamps_outside_1970_9999_fall_back_to_the_observed_time(tmp_path: Path) -> None:
    path = write(tmp_path, "old.log", "1901-01-01 00:00:00,000 - a - INFO - before the epoch\n")
    (record,) = ingest(path)
    assert record["body"] == "before the epoch"
    assert record["@timestamp"] == record["observed_timestamp"]


_LINE_PIECES = st.sampled_from(
    [
        "2024-03-01 10:00:00,123 - a - INFO - ",
        "2024-13-45T99:00:00 - x - y - ERROR - ",
        "Traceback (most recent call last):",
        "  File ",
        "ValueError: ",
        '{"event": ',
        '{"levelname": 5, "message": [1], "asctime": 1e300}',
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
        '{"@timestamp": null, "log.level": {}, "error": {"stack_trace": 3}}',
        "",
        " ",
        "\t",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.tuples(_LINE_PIECES, st.text(st.characters(blacklist_characters="\x00"), max_size=20)).map("".join),
        max_size=12,
    )
)
def test_any_input_gives_records_and_never_fails_the_file(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.log"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    records = ingest(path)
    for record in records:
        assert list(record)[:9] == CANONICAL_KEYS
    if any(line.strip() for line in lines):
        assert records
