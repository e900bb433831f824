"""The native reader of the seed format against the Python path: byte-for-byte the same JSON lines, batch by batch.

The seed format (``formats.SEED_REGEX``, ``{timestamp} - {app_name} - {logger_name} - {level} - {message}``) is read
by the native stdlib reader with ``seed=True``. As in ``test_native_stdlib``, each input is read through
``FileSource.read_batch`` once with the native reader and once without it (``RegexParser`` with ``SEED_REGEX`` and
the assembler), with the same observed times: every batch's JSON lines per service, the committable offset after
it and the record counts must be equal. A seed line names its app: its records are of that service, with the
file's resource naming it, so a batch holds the lines of several services.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_logging.ingest.engine import FileReport, IngestOptions, Ingestor, _other_resource
from otel_logging.ingest.records import RecordContext
from otel_logging.record import Record, RecordBatch, native
from otel_logging.sinks.files import FileSink
from tests.unit.ingest.test_aggregation_formats import CHAINED_TRACEBACK, ListSink
from tests.unit.ingest.test_native_stdlib import (
    SERVICE,
    STDLIB_LOG,
    TRACEBACKS,
    any_lines,
    assert_same,
    deterministic_clock,
    every_chunk_size,
    lines_cut_at_every_chunk_size,
    lines_of,
    read,
)

pytestmark = pytest.mark.skipif(not native.STDLIB_AVAILABLE, reason=native.STDLIB_UNAVAILABLE_REASON)

SEED_LOG = f"""\
2024-03-01T10:00:00.123456 - legacy-app - app.web - INFO - started on port 8000
2024-03-01T10:00:01Z - {SERVICE} - app.db - ERROR - query failed
{CHAINED_TRACEBACK}this line matches nothing
2024-03-01T10:00:02.5+02:00 -  - app.worker - WARNING - slow job
    with an indented detail
2024-03-01T10:00:03-05:30 - billing - billing.api - CRITICAL - charge failed
"""


def seed_lines(count: int, traceback_every: int = 0) -> str:
    lines = []
    for i in range(count):
        stamp = f"2024-03-01T08:{i // 60 % 60:02d}:{i % 60:02d}.{i * 7919 % 1000000:06d}"
        level = ("INFO", "DEBUG", "WARNING", "ERROR")[i % 4]
        lines.append(f"{stamp} - legacy-app - app.{i % 5} - {level} - user order id={i} took {i % 900}ms\n")
        if traceback_every and i % traceback_every == 0:
            lines.append(
                'Traceback (most recent call last):\n  File "/srv/app/handlers.py", line 3, in handle\n'
                f"    result = process(request)\nValueError: invalid literal for int() with base 10: '{i}'\n"
            )
    return "".join(lines)


def test_the_fixture_at_every_chunk_size(tmp_path: Path) -> None:
    path = tmp_path / "seed.log"
    path.write_text(SEED_LOG)
    every_chunk_size(path, format="seed")
    every_chunk_size(path)  # detected as seed
    records = lines_of(assert_same(path, 1 << 20, format="seed"))
    by_body = {r["body"]: r for r in records}
    assert by_body["started on port 8000"]["service"] == "legacy-app"
    assert by_body["started on port 8000"]["resource"] == {"service.name": "legacy-app"}
    assert by_body["query failed"]["service"] == SERVICE
    assert by_body["query failed"]["attributes"]["exception.type"] == "KeyError"
    assert by_body["slow job\n    with an indented detail"]["@timestamp"] == "2024-03-01T08:00:02.500000000Z"
    assert by_body["charge failed"]["@timestamp"] == "2024-03-01T15:30:03.000000000Z"
    assert by_body["this line matches nothing"]["attributes"]["otel_logging.unparsed"] is True


@pytest.mark.parametrize("chunk", [1 << 20, 65536, 4096, 997, 61])
def test_many_entries_with_tracebacks(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "big.log"
    path.write_text(seed_lines(3000, traceback_every=97))
    reading = assert_same(path, chunk, format="seed")
    assert reading.counts == (3000, 0)


@pytest.mark.parametrize("name", sorted(TRACEBACKS))
def test_tracebacks(tmp_path: Path, name: str) -> None:
    path = tmp_path / "tb.log"
    head = "2024-03-01 10:00:00,123 - app.db - ERROR - "
    path.write_text(TRACEBACKS[name].replace(head, "2024-03-01T10:00:00.123 - legacy - app.db - ERROR - "))
    every_chunk_size(path, format="seed")


def test_levels_apps_and_loggers(tmp_path: Path) -> None:
    levels = ["TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NOTSET"]
    lines = [f"2024-03-01T10:00:00Z - app - lg - {level} - {level.lower()}" for level in levels]
    lines += [
        "2024-03-01T10:00:00Z - app - lg - Level 7 - level seven",
        "2024-03-01T10:00:00Z - app - lg - Level  - no digits",
        "2024-03-01T10:00:00Z - app - lg - info - lower case",
        "2024-03-01T10:00:00Z - app - lg - WARNINGS - not a level - INFO - the level is here",
        "2024-03-01T10:00:00Z - a - b - c - d - INFO - e - f",
        "2024-03-01T10:00:00Z -  -  - INFO - empty app and logger",
        "2024-03-01T10:00:00Z - - - INFO - dashes",
        "2024-03-01T10:00:00Z -  - - - INFO - overlapping dashes",
        "2024-03-01T10:00:00Z - app - lg - INFO -",
        "2024-03-01T10:00:00Z - app - lg - INFO - ",
        "2024-03-01T10:00:00Z - app - lg - Level 5\u0663 - a unicode digit",
        "2024-03-01T10:00:00Z - caf\u00e9 - l\u00f6gger - INFO - na\u00efve \u2603",
        '2024-03-01T10:00:00Z - "quoted\\" - lg - INFO - a "quote" and \\ and \t tab',
        f"2024-03-01T10:00:00Z - {SERVICE} - lg - INFO - the file's own service",
    ]
    path = tmp_path / "levels.log"
    path.write_text("\n".join(lines) + "\n")
    every_chunk_size(path, format="seed")
    records = lines_of(assert_same(path, 1 << 20, format="seed"))
    assert [r["severity_text"] for r in records[: len(levels)]] == [
        "TRACE", "DEBUG", "INFO", "INFO", "WARN", "WARN", "ERROR", "FATAL", "FATAL", "TRACE",
    ]  # fmt: skip
    assert {r["service"] for r in records} >= {"app", "a", "caf\u00e9", '"quoted\\"', SERVICE}


def test_timestamps(tmp_path: Path) -> None:
    stamps = [
        "2024-03-01T10:00:00",
        "2024-03-01T10:00:00.1",
        "2024-03-01T10:00:00.123456789",
        "2024-03-01T10:00:00.1234567890",  # ten digits: not seed
        "2024-03-01T10:00:00.",
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00.5Z",
        "2024-03-01T00:30:00+01:00",
        "2024-12-31T23:30:00-01:00",
        "2024-03-01T10:00:00+99:99",
        "2024-03-01T10:00:00+0100",
        "2024-03-01T10:00:00z",
        "2024-02-29T10:00:00",
        "2023-02-29T10:00:00",  # no such date: the observed time (Python)
        "2024-03-01T10:00:00+05:00x",
        "2024-13-01T10:00:00+01:00",
        "2024-01-01T25:00:00+01:00",
        "1969-12-31T23:59:59.999",
        "1970-01-01T00:30:00+01:00",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59",
        "9999-12-31T23:59:59.1",
        "9999-12-31T23:30:00-01:00",
        "0000-01-01T00:00:00",
        "2024-03-01 10:00:00",
        "2024-03-01T10:00:0\u0663",
    ]
    path = tmp_path / "stamps.log"
    path.write_text("".join(f"{stamp} - app - lg - INFO - {i}\n" for i, stamp in enumerate(stamps)))
    every_chunk_size(path, format="seed")
    for chunk in (1 << 20, 100, 37):
        assert_same(path, chunk)  # detected as seed


def test_crlf_nul_runs_blank_lines_and_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "odd.log"
    path.write_bytes(
        b"2024-03-01T10:00:00Z - app - lg - INFO - crlf\r\n\r\n   \r\n"
        b"\x00\x002024-03-01T10:00:01Z - app - lg - INFO - after nul\x00\n"
        b"2024-03-01T10:00:02Z - app\xff - lg - INFO - invalid \xe9 utf-8\n"
        b"  continued \xe2\x80\n"
        b"2024-03-01T10:00:03Z - app - lg - INFO - last, no newline"
    )
    every_chunk_size(path, format="seed")


def test_other_formats_in_a_seed_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_text(SEED_LOG + STDLIB_LOG + '{"event": "e", "level": "info", "timestamp": "2024-03-01T10:00:01Z"}\n')
    assert detect_native(path, "auto")
    every_chunk_size(path)
    for chunk in (1 << 20, 100):
        assert_same(path, chunk, format="seed")


def detect_native(path: Path, format: str) -> bool:
    return read(path, use_native=True, chunk=1 << 20, format=format).native_used


def test_a_seed_line_in_a_stdlib_file_is_carried_by_the_stdlib_reader(tmp_path: Path) -> None:
    path = tmp_path / "stdlib.log"
    path.write_text(STDLIB_LOG + "2024-03-01T10:00:00Z - other - lg - INFO - seed\n  indented\n" + STDLIB_LOG)
    every_chunk_size(path, format="stdlib")
    records = lines_of(assert_same(path, 1 << 20))
    assert [r["service"] for r in records].count("other") == 1


def test_zones_stay_on_the_python_path(tmp_path: Path) -> None:
    path = tmp_path / "seed.log"
    path.write_text(SEED_LOG)
    assert detect_native(path, "seed")
    ingestor = Ingestor([], IngestOptions(service=SERVICE, timezone="Europe/Paris", checkpoint_path=None))
    src = ingestor.open_source(str(path), FileReport(str(path)))
    assert src.native is None
    src.close()


def test_the_resource_of_another_service() -> None:
    ctx = RecordContext(SERVICE, "/p", "1-2", {"service.name": SERVICE, "host.name": "h"})
    parts = _other_resource(ctx)
    assert parts is not None
    assert orjson.loads(parts[0] + b'"x"' + parts[1]) == {"service.name": "x", "host.name": "h"}
    assert list(orjson.loads(parts[0] + b'"x"' + parts[1])) == ["service.name", "host.name"]
    ctx = RecordContext(SERVICE, "/p", "1-2", {"host.name": "h"})
    parts = _other_resource(ctx)
    assert parts is not None and parts[0] + b'"x"' + parts[1] == b'{"host.name":"h","service.name":"x"}'
    ctx = RecordContext(SERVICE, "/p", "1-2", {"a": "\x00otel-logging:service\x00"})
    assert _other_resource(ctx) is None  # the marker itself in the resource: Python makes those records


def test_without_other_resource_python_makes_the_records_of_other_services(tmp_path: Path, monkeypatch: Any) -> None:
    from otel_logging.ingest import engine

    monkeypatch.setattr(engine, "_other_resource", lambda ctx: None)
    path = tmp_path / "seed.log"
    path.write_text(SEED_LOG + seed_lines(50, traceback_every=7))
    for chunk in (1 << 20, 333):
        assert_same(path, chunk, format="seed")


# --- any input, cut anywhere --------------------------------------------------------------------------------

_PIECES = [
    b"2024-03-01T10:00:00.123456 - legacy-app - app.web - INFO - ",
    b"2024-03-01T10:00:00Z - app - lg - WARNING - ",
    b"2024-03-01T10:00:00+02:00 - other - a - b - Level 7 - ",
    b"2024-03-01T10:00:00.5-01:30 -  - lg - ERROR - ",
    b"2024-03-01T10:00:00 - app - - - CRITICAL - ",
    b"2024-02-30T10:00:00 - a - b - INFO - ",
    b"1969-12-31T23:59:59.999 - a - b - DEBUG - ",
    b"2024-03-01 10:00:00,123 - app.web - INFO - ",
    b'{"event": "e", "level": "info", "timestamp": "2024-03-01T10:00:01Z"}',
    b"Traceback (most recent call last):",
    b"During handling of the above exception, another exception occurred:",
    b'  File "x.py", line 1, in f',
    b"ValueError: ",
    b"pkg.mod.Custom",
    b"",
    b" ",
    b"\r",
    b"\x00\x00",
    b"garbage ",
    "caf\u00e9 ".encode(),
]
_LINE = any_lines(_PIECES, "ab Z_.:-+,09\t\r\x00\u00e9\u00a0\u2028\u0663", [b"", b"\xe9", b"\xff"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_LINE, min_size=1, max_size=10),
    crlf=st.booleans(),
    last_newline=st.booleans(),
    format=st.sampled_from(["auto", "seed"]),
)
def test_any_lines_cut_at_every_chunk_size(
    tmp_path: Path, lines: list[bytes], crlf: bool, last_newline: bool, format: str
) -> None:
    lines_cut_at_every_chunk_size(tmp_path / "any.log", lines, crlf, last_newline, format)


# --- through the engine and the sinks ------------------------------------------------------------------------


def run_engine(src: Path, out: Path, monkeypatch: Any, use_native: bool) -> tuple[dict[str, bytes], list[Record]]:
    if not use_native:
        monkeypatch.setattr(native, "_stdlib_reader", None)
    sink = ListSink()
    ingestor = Ingestor([FileSink(out), sink], IngestOptions(service=SERVICE, checkpoint_path=out / "ck.json"))
    with deterministic_clock():
        summary = ingestor.run([str(src)])
    ingestor.close()
    monkeypatch.undo()
    assert summary.ok, summary.to_dict()
    files = {name: (out / name).read_bytes() for name in sorted(os.listdir(out)) if name.endswith(".jsonl")}
    return files, sink.records


def test_the_engine_writes_the_same_per_app_files(tmp_path: Path, monkeypatch: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.log").write_text(SEED_LOG + seed_lines(2000, traceback_every=50))
    (src / "b.log").write_text(STDLIB_LOG + "2024-03-01T10:00:00Z - other - lg - INFO - seed\n")
    fast = run_engine(src, tmp_path / "fast", monkeypatch, use_native=True)
    slow = run_engine(src, tmp_path / "slow", monkeypatch, use_native=False)
    assert fast == slow
    assert set(fast[0]) == {"app.jsonl", "billing.jsonl", "legacy-app.jsonl", "other.jsonl"}
    assert fast[0]["legacy-app.jsonl"].count(b"\n") == 2001


def test_a_batch_of_several_services() -> None:
    batch = RecordBatch(SERVICE)
    batch.add_lines(b'{"service":"app","n":1}\n', 1)
    batch.add_lines(b'{"service":"x","n":2}\n', 1, "x")
    batch.tail.append({"service": "x", "n": 3})
    batch.add_lines(b'{"service":"app","n":4}\n', 1, SERVICE)
    assert batch.count == 4
    assert list(batch) == [SERVICE, "x"]
    assert bytes(batch.lines("x")) == b'{"service":"x","n":2}\n{"service":"x","n":3}\n'
    assert [r["n"] for r in batch[SERVICE]] == [1, 4]
