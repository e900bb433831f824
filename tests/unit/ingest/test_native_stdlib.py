"""The native stdlib-format reader against the Python path: byte-for-byte the same JSON lines, batch by batch.

Each input is read twice through ``FileSource.read_batch`` as the engine reads it: once with the native reader
(``otel_logging.record.native.stdlib_reader``) and once without it (the assembler and ``to_json_lines`` only). The
observed time is the same on both sides (a deterministic clock that moves on every read), so every batch's JSON
lines, the committable offset after it and the record counts must be equal. Chunk boundaries are moved across
every byte of an input: they decide how a chunk is decoded and where the native reader hands over its entry.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_logging.ingest import source as source_module
from otel_logging.ingest.engine import FileReport, IngestOptions, Ingestor
from otel_logging.ingest.records import RecordContext
from otel_logging.record import Record, RecordBatch, native
from otel_logging.sinks.files import FileSink
from tests.integration.test_aggregate import stdlib_lines
from tests.unit.ingest.test_aggregation_formats import CHAINED_TRACEBACK, STDLIB_LOG, ListSink

pytestmark = pytest.mark.skipif(not native.STDLIB_AVAILABLE, reason=native.STDLIB_UNAVAILABLE_REASON)

SERVICE = "app"


@contextlib.contextmanager
def deterministic_clock() -> Iterator[None]:
    """``set_observed`` gives 2030-01-01T00:00:00.000000001Z, ...2Z, ... (one tick per read, from 1 each time)."""
    ticks = itertools.count(1)
    original = RecordContext.set_observed

    def set_observed(self: RecordContext, now_ns: int) -> None:
        self.observed = f"2030-01-01T00:00:00.{next(ticks):09d}Z"

    RecordContext.set_observed = set_observed  # type: ignore[method-assign]
    try:
        yield
    finally:
        RecordContext.set_observed = original  # type: ignore[method-assign]


class Reading:
    """What one pass over a file gave: per batch its JSON lines per service and the committable offset after it."""

    def __init__(self) -> None:
        self.batches: list[dict[str, bytes]] = []
        self.offsets: list[int] = []
        self.records: list[Record] = []  # every batch's records, in order
        self.counts: tuple[int, int] = (0, 0)  # assembler records, unparsed
        self.native_used = False


def read(
    path: Path,
    *,
    use_native: bool,
    chunk: int,
    format: str = "auto",
    decode: bool = False,
    timezone: str = "UTC",
    reader: str = "native",
) -> Reading:
    """One pass over ``path``; ``reader``: the ``FileSource`` attribute of the native reader it uses (or not)."""
    options = IngestOptions(service=SERVICE, format=format, checkpoint_path=None, timezone=timezone)
    ingestor = Ingestor([], options)
    # NUL runs are tested anywhere, not only after the first 8 KiB: detection sees the lines without them
    ingestor._sample = lambda src: path.read_bytes()[:65536].replace(b"\0", b"").split(b"\n")[:50]  # type: ignore[method-assign]
    reading = Reading()
    with deterministic_clock():
        old_chunk = source_module.CHUNK_BYTES
        source_module.CHUNK_BYTES = chunk
        try:
            src = ingestor.open_source(str(path), FileReport(str(path)))
            src._checked_binary = True
            reading.native_used = getattr(src, reader) is not None
            if not use_native:
                setattr(src, reader, None)
            try:
                while True:
                    batch = RecordBatch(SERVICE)
                    nbytes = src.read_batch(batch, final=True)
                    reading.batches.append({service: bytes(batch.lines(service)) for service in batch})
                    reading.offsets.append(src.committable_offset)
                    if decode:
                        reading.records.extend(r for rs in batch.values() for r in rs)
                    if not nbytes:
                        break
            finally:
                src.close()
            assert src.assembler is not None
            reading.counts = (src.assembler.records, src.assembler.unparsed)
        finally:
            source_module.CHUNK_BYTES = old_chunk
    return reading


def assert_same(
    path: Path, chunk: int, format: str = "auto", expect_native: bool = True, reader: str = "native"
) -> Reading:
    fast = read(path, use_native=True, chunk=chunk, format=format, reader=reader)
    slow = read(path, use_native=False, chunk=chunk, format=format, reader=reader)
    if expect_native:
        assert fast.native_used
    assert fast.batches == slow.batches, f"chunk {chunk}"
    assert fast.offsets == slow.offsets, f"chunk {chunk}"
    assert fast.counts == slow.counts, f"chunk {chunk}"
    return fast


def every_chunk_size(path: Path, format: str = "auto", expect_native: bool = True) -> None:
    for chunk in range(1, path.stat().st_size + 2):
        assert_same(path, chunk, format, expect_native)


def lines_of(reading: Reading) -> list[dict[str, Any]]:
    return [orjson.loads(line) for batch in reading.batches for data in batch.values() for line in data.splitlines()]


# --- fixtures of the other aggregation tests ---------------------------------------------------------------


def test_the_formats_fixture_at_every_chunk_size(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(STDLIB_LOG)
    every_chunk_size(path)
    every_chunk_size(path, format="stdlib")
    records = lines_of(assert_same(path, 1 << 20))
    assert [r["body"] for r in records][:3] == ["started on port 8000", "query failed", "this line matches nothing"]
    assert records[1]["attributes"]["exception.type"] == "KeyError"


@pytest.mark.parametrize("chunk", [1 << 20, 65536, 4096, 1000, 97, 13])
def test_the_integration_generator_with_tracebacks(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "big.log"
    path.write_text(stdlib_lines("big", 0, 3000, traceback_every=97) + stdlib_lines("more", 5, 200))
    reading = assert_same(path, chunk)
    assert reading.counts == (3200, 0)


def test_the_benchmark_shape_of_lines(tmp_path: Path) -> None:
    lines = []
    for i in range(2000):
        stamp = f"2024-03-01 08:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d}"
        level = ("INFO", "DEBUG", "WARNING")[i % 3]
        lines.append(f"{stamp} - app.billing.invoices - {level} - user order id={i} took {i % 900}ms for cache\n")
        if i % 200 == 0:
            lines[-1] = lines[-1].replace(level, "ERROR")
            lines.append(
                'Traceback (most recent call last):\n  File "/srv/app/handlers.py", line 3, in handle\n'
                f"    result = process(request)\nValueError: invalid literal for int() with base 10: '{i}'\n"
            )
    path = tmp_path / "bench.log"
    path.write_text("".join(lines))
    for chunk in (1 << 20, 8192, 333):
        reading = assert_same(path, chunk)
        assert reading.counts == (2000, 0)


# --- the shapes of entries ------------------------------------------------------------------------------------

HEAD = "2024-03-01 10:00:00,123 - app.db - ERROR - "

TRACEBACKS = {
    "chained": f"""{HEAD}query failed
{CHAINED_TRACEBACK}""",
    "cause": f"""{HEAD}wrapped
Traceback (most recent call last):
  File "a.py", line 1, in <module>
OSError: disk

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "a.py", line 3, in <module>
myapp.errors.StorageUnavailable: the store is gone: retry later
afterwards
2024-03-01 10:00:01,000 - app - INFO - next
""",
    "stack": f"""{HEAD}where am I
Stack (most recent call last):
  File "a.py", line 9, in <module>
    logger.info("where am I", stack_info=True)
2024-03-01 10:00:01,000 - app - INFO - next
""",
    "group": f"""{HEAD}many failures
Exception Group Traceback (most recent call last):
  |   File "a.py", line 1, in <module>
  | ExceptionGroup: eg (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | ValueError: 1
    +---------------- 2 ----------------
    | TypeError: 2
    +------------------------------------
2024-03-01 10:00:01,000 - app - INFO - next
""",
    "indented group": f"""{HEAD}many failures
  + Exception Group Traceback (most recent call last):
  |   File "a.py", line 1, in <module>
  | ExceptionGroup: eg (1 sub-exception)
  +-+---------------- 1 ----------------
    | ValueError: 1
    +------------------------------------
""",
    "continuation then traceback": f"""{HEAD}request failed
  method=GET path=/x
\tuser=7
Traceback (most recent call last):
  File "a.py", line 1, in <module>
KeyboardInterrupt
Traceback (most recent call last):
  File "b.py", line 2, in <module>
SystemExit: 3
""",
    "odd last lines": f"""{HEAD}a
Traceback (most recent call last):
  File "a.py", line 1
Error
{HEAD}b
Traceback (most recent call last):
ValueError:
{HEAD}c
Traceback (most recent call last):
ValueError:\tTabbed
{HEAD}d
Traceback (most recent call last):
a.b.C.
{HEAD}e
Traceback (most recent call last):
_X: x
   \x20
{HEAD}f
Traceback (most recent call last):
  File "a.py"
ValueError: trailing\x1c
 \x0b
""",
    "no traceback end": f"""{HEAD}cut short
Traceback (most recent call last):
  File "a.py", line 1, in <module>
""",
}


@pytest.mark.parametrize("name", sorted(TRACEBACKS))
def test_tracebacks(tmp_path: Path, name: str) -> None:
    path = tmp_path / "tb.log"
    path.write_text(TRACEBACKS[name])
    every_chunk_size(path)
    every_chunk_size(path, format="stdlib")


def test_traceback_attributes_come_out_as_python_makes_them(tmp_path: Path) -> None:
    path = tmp_path / "tb.log"
    path.write_text(TRACEBACKS["chained"] + TRACEBACKS["cause"])
    failed, wrapped, after = lines_of(assert_same(path, 1 << 20))
    attributes = failed["attributes"]
    assert list(attributes) == [
        "exception.stacktrace",
        "exception.type",
        "exception.message",
        "log.file.path",
        "log.record.uid",
    ]
    assert (attributes["exception.type"], attributes["exception.message"]) == ("KeyError", "'k'")
    # a word alone on a line after the exception line still belongs to the traceback, and names no type
    assert wrapped["attributes"]["exception.stacktrace"].endswith("retry later\nafterwards")
    assert "exception.type" not in wrapped["attributes"]
    assert after["body"] == "next"


LEVELS = [
    "TRACE",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "WARN",
    "ERROR",
    "CRITICAL",
    "FATAL",
    "NOTSET",
    "Level 5",
    "Level 42",
    "Level 0",
    "info",
    "Warning",
    "Level ",
    "Level x",
    "WARNINGS",
]


def test_levels(tmp_path: Path) -> None:
    path = tmp_path / "levels.log"
    path.write_text("".join(f"2024-03-01 10:00:00,000 - lg - {level} - m {level}\n" for level in LEVELS))
    reading = assert_same(path, 1 << 20)
    every_chunk_size(path)
    severities = {r["body"]: (r["severity_text"], r["severity_number"]) for r in lines_of(reading)}
    assert severities["m WARNING"] == ("WARN", 13) and severities["m CRITICAL"] == ("FATAL", 21)
    assert severities["m Level 5"] == ("Level 5", 0) and severities["m NOTSET"] == ("TRACE", 1)


TIMES = [
    "2024-03-01 10:00:00,1",
    "2024-03-01 10:00:00,12",
    "2024-03-01 10:00:00,123456",
    "2024-03-01 10:00:00,1234567",
    "2024-03-01 10:00:00",
    "2024-03-01 10:00:00.123",
    "2024-03-01 10:00:00,",
    "2024-02-29 23:59:59,999",
    "2023-02-29 00:00:00,000",
    "2024-02-30 00:00:00,000",
    "2024-04-31 00:00:00,000",
    "2024-13-01 00:00:00,000",
    "2024-00-01 00:00:00,000",
    "2024-01-00 00:00:00,000",
    "2024-01-01 24:00:00,000",
    "2024-01-01 23:60:00,000",
    "2024-01-01 23:59:60,000",
    "1900-02-29 00:00:00,000",
    "2000-02-29 00:00:00,000",
    "1969-12-31 23:59:59,999",
    "1970-01-01 00:00:00,000",
    "0000-01-01 00:00:00,000",
    "0001-01-01 00:00:00,000",
    "9999-12-31 23:59:59,999999",
    "2024-03-01T10:00:00,000",
    "\uff12\uff10\uff12\uff14-03-01 10:00:00,000",  # full-width digits: \\d in Python
    "2024-03-01 10:00:00,٣",
]


def test_timestamps_and_dates_that_do_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "times.log"
    path.write_text("".join(f"{t} - lg - INFO - at {t}\n" for t in TIMES))
    for format in ("auto", "stdlib"):
        reading = assert_same(path, 1 << 20, format)
        stamps = {r["body"]: r for r in lines_of(reading)}
        assert stamps["at 2024-03-01 10:00:00,1"]["@timestamp"] == "2024-03-01T10:00:00.100000000Z"
        assert stamps["2024-02-30 00:00:00,000 - lg - INFO - at 2024-02-30 00:00:00,000"]["attributes"][
            "otel_logging.unparsed"
        ]
        before = stamps["at 1969-12-31 23:59:59,999"]
        assert before["@timestamp"] == before["observed_timestamp"]
    every_chunk_size(path)


def test_garbage_blank_lines_seed_and_json_lines_in_between(tmp_path: Path) -> None:
    text = (
        "2024-03-01 10:00:00,000 - a - INFO - one\n"
        "garbage\n"
        "\n"
        "   \n"
        "\t\x0b\x0c\n"
        "2024-03-01 10:00:01,000 - a - INFO - two\n"
        "   \n"
        "  indented after a blank line\n"
        "2024-03-01T10:00:02.5 - app - seed.logger - WARNING - seed line of this app\n"
        "  its continuation\n"
        "2024-03-01 10:00:03,000 - a - INFO - three\n"
        "2024-03-01T10:00:04Z - other-app - seed.logger - ERROR - seed line of another app\n"
        "Traceback (most recent call last):\n"
        "  File 'x.py', line 1\n"
        "RuntimeError: in the other app\n"
        "2024-03-01 10:00:05,000 - a - INFO - four\n"
        '{"event": "json line", "level": "info", "timestamp": "2024-03-01T10:00:06Z"}\n'
        '{"message": "python-json", "asctime": "2024-03-01 10:00:07,000", "levelname": "ERROR", "n": 1.5}\n'
        "Traceback (most recent call last):\n"
        "a line no format matches, after a JSON line\n"
        "2024-03-01 10:00:08,000 - a - INFO - five\n"
        "  \x1c not blank for the assembler\n"
        "\x1c starts with a separator\n"
        "\xa0 starts with a no-break space\n"
        "2024-03-01 10:00:09,000 - a - INFO - six\n"
        "   \n"
    )
    path = tmp_path / "mixed.log"
    path.write_text(text)
    every_chunk_size(path)
    every_chunk_size(path, format="stdlib")
    reading = read(path, use_native=True, chunk=1 << 20, decode=True)
    services = {r["service"] for r in reading.records}
    assert services == {"app", "other-app"}


def test_crlf_nul_runs_non_ascii_and_invalid_utf8(tmp_path: Path) -> None:
    lines = [
        b"2024-03-01 10:00:00,000 - a - INFO - crlf\r",
        b"2024-03-01 10:00:00,000 - a - INFO - two crs\r\r",
        b"\x00\x00\x002024-03-01 10:00:01,000 - a - INFO - after zeros\x00\x00",
        b"2024-03-01 10:00:01,000 - a - INFO - cr then nul\r\x00",
        b"2024-03-01 10:00:01,000 - a - INFO - nul then cr\x00\r",
        b"\x00" * 40,
        b"\x00\r",
        "2024-03-01 10:00:02,000 - café.wörker - INFO - naïve ✓ 𝄞 \u2028 \u00a0".encode(),
        b"2024-03-01 10:00:03,000 - a - INFO - caf\xe9 \xff\xfe \xed\xa0\x80 \xf0\x9f\x98 \xc0\xaf end",
        b"2024-03-01 10:00:03,000 - \xe2\x80 - WARNING - broken logger",
        b"\xe9 garbage in latin-1",
        b"  continuation with \xe9",
        b"2024-03-01 10:00:04,000 - a - ERROR - failed",
        b"Traceback (most recent call last):",
        '  File "caf\u00e9.py", line 1'.encode(),
        "Ошибка: a non-ASCII exception line".encode(),
        "ValueError: message with ünïcode".encode(),
        "caf\u00e9.Error: type with a non-ASCII name".encode(),
        b"2024-03-01 10:00:05,000 - a - ERROR - failed again",
        b"Traceback (most recent call last):",
        "Value\u00c9rror: unsure for the native reader".encode(),
        b"2024-03-01 10:00:06,000 - a - ERROR - and again",
        b"Traceback (most recent call last):",
        "ValueError:\u00a0no-break space before the message".encode(),
        "\u3000ideographic space".encode(),
        b"2024-03-01 10:00:07,000 - a - Level \xd9\xa3 - arabic digit level",
        b"2024-03-01 10:00:07,000 - a - Level 3\xd9\xa3 - arabic digit level",
        b"2024-03-01 10:00:07,000 - a - Level \xd9\xa3 - b - INFO - a later level would match too",
        b"2024-03-01 10:00:07,000 - a - Level 3\xd9\xa3 - b - INFO - a later level would match too",
        b"2024-03-01 10:00:08,000 - a - INFO - the end",
    ]
    for ending in (b"\n", b"\r\n"):
        path = tmp_path / "bytes.log"
        path.write_bytes(ending.join(lines) + ending)
        every_chunk_size(path)
        every_chunk_size(path, format="stdlib")
        ascii_path = tmp_path / "ascii.log"  # all-ASCII chunks strip CR before NUL
        ascii_path.write_bytes(ending.join(line for line in lines if line.isascii()))
        every_chunk_size(ascii_path)


def test_unicode_whitespace_as_python_sees_it(tmp_path: Path) -> None:
    # the native reader's table of str.isspace(); this fails if a new Python's Unicode data changes it
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    assert "".join(spaces) == (
        "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    )
    lines = []
    for c in [*spaces, "\u180e", "\u200b", "\ufeff", "x"]:
        if c == "\n":
            continue
        lines += [
            "2024-03-01 10:00:00,000 - a - ERROR - spaces",
            f" {c}",
            f"\t{c} x",
            f"{c}first",
            "Traceback (most recent call last):",
            f"{c}  File 'x.py'",
            f"ValueError:{c}message{c}",
            f"  {c}",
        ]
    path = tmp_path / "spaces.log"
    path.write_text("\n".join(lines) + "\n")
    for chunk in (1 << 20, 4096, 77):
        assert_same(path, chunk)
        assert_same(path, chunk, format="stdlib")


def test_other_formats_and_zones_stay_on_the_python_path(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text('{"event": "e", "level": "info", "timestamp": "2024-03-01T10:00:01Z"}\n' * 3)
    assert not read(path, use_native=True, chunk=1 << 20).native_used  # JSON lines: the other native reader
    stdlib = tmp_path / "stdlib.log"
    stdlib.write_text(STDLIB_LOG)
    ingestor = Ingestor([], IngestOptions(service=SERVICE, timezone="Europe/Paris", checkpoint_path=None))
    src = ingestor.open_source(str(stdlib), FileReport(str(stdlib)))
    assert src.native is None
    src.close()


def test_a_file_name_that_is_no_utf8_stays_on_the_python_path(tmp_path: Path) -> None:
    path = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.log")  # a surrogate escape: the reader cannot take it
    Path(path).write_text(STDLIB_LOG)
    ingestor = Ingestor([], IngestOptions(service=SERVICE, checkpoint_path=None))
    src = ingestor.open_source(path, FileReport(path))
    assert src.native is None
    src.close()


def test_an_entry_longer_than_the_line_limit_is_cut_as_in_python(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(source_module, "MAX_LINE_BYTES", 64)
    path = tmp_path / "long.log"
    path.write_text(HEAD + "x" * 300 + "\n  continued\n" + HEAD + "y" * 10 + "\n")
    for chunk in (1 << 20, 50, 100):
        assert_same(path, chunk)


# --- any input, cut anywhere --------------------------------------------------------------------------------

_PIECES = [
    b"2024-03-01 10:00:00,123 - app.web - INFO - ",
    b"2024-03-01 10:00:00 - a - WARNING - ",
    b"2024-03-01 10:00:00,5 - x - y - Level 7 - ",
    b"2024-03-01 10:00:00,123456 -  - CRITICAL - ",
    b"2024-02-30 10:00:00,000 - a - INFO - ",
    b"1969-12-31 23:59:59,999 - a - DEBUG - ",
    b"2024-03-01 10:00:00.123 - a - INFO - ",
    b"2024-03-01T10:00:00.123456 - app - lg - ERROR - ",
    b"2024-03-01T10:00:00Z - other - lg - INFO - ",
    b'{"event": "e", "level": "info", "timestamp": "2024-03-01T10:00:01Z"}',
    b"Traceback (most recent call last):",
    b"Stack (most recent call last):",
    b"Exception Group Traceback (most recent call last):",
    b"During handling of the above exception, another exception occurred:",
    b'  File "x.py", line 1, in f',
    b"    raise X",
    b"ValueError: ",
    b"pkg.mod.Custom",
    b"Error",
    b"",
    b" ",
    b"\t",
    b"\r",
    b"\x00\x00",
    b"garbage ",
    "\u00a0".encode(),
    "caf\u00e9 ".encode(),
]


def any_lines(pieces: list[bytes], tail_chars: str, endings: list[bytes]) -> st.SearchStrategy[bytes]:
    """A line: one of ``pieces`` (a header or a continuation), then up to 10 of ``tail_chars``, then one of
    ``endings`` (bytes that may not be UTF-8)."""
    tail = st.text(alphabet=st.sampled_from(list(tail_chars)), max_size=10).map(lambda s: s.encode())
    return st.tuples(st.sampled_from(pieces), tail, st.sampled_from(endings)).map(lambda parts: b"".join(parts))


def lines_cut_at_every_chunk_size(path: Path, lines: list[bytes], crlf: bool, last_newline: bool, format: str) -> None:
    """``lines`` written to ``path`` (CRLF or LF, the last one ended or not) read the same natively and in Python."""
    ending = b"\r\n" if crlf else b"\n"
    path.write_bytes(ending.join(lines) + (ending if last_newline else b""))
    every_chunk_size(path, format=format, expect_native=False)


_LINE = any_lines(_PIECES, "ab Z_.:-,09\t\r\x00\x1c\u00e9\u00a0\u2028\u0663", [b"", b"\xe9", b"\xff", b"\xe2\x80"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_LINE, min_size=1, max_size=10),
    crlf=st.booleans(),
    last_newline=st.booleans(),
    format=st.sampled_from(["auto", "stdlib"]),
)
def test_any_lines_cut_at_every_chunk_size(
    tmp_path: Path, lines: list[bytes], crlf: bool, last_newline: bool, format: str
) -> None:
    lines_cut_at_every_chunk_size(tmp_path / "any.log", lines, crlf, last_newline, format)


# --- through the engine and the sinks ------------------------------------------------------------------------


def run_engine(src: Path, out: Path, monkeypatch: Any, use_native: bool) -> tuple[bytes, list[Record], list[int]]:
    if not use_native:
        monkeypatch.setattr(native, "_stdlib_reader", None)
    sink = ListSink()
    options = IngestOptions(service=SERVICE, checkpoint_path=out / "ck.json")
    ingestor = Ingestor([FileSink(out), sink], options)
    with deterministic_clock():
        summary = ingestor.run([str(src)])
    ingestor.close()
    monkeypatch.undo()
    assert summary.ok, summary.to_dict()
    offsets = sorted(state["offset"] for state in orjson.loads((out / "ck.json").read_bytes())["files"])
    return (out / f"{SERVICE}.jsonl").read_bytes(), sink.records, offsets


def test_the_engine_writes_the_same_files_and_records(tmp_path: Path, monkeypatch: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.log").write_text(STDLIB_LOG + stdlib_lines("x", 0, 2000, traceback_every=50) + TRACEBACKS["chained"])
    (src / "b.log").write_text("".join(TRACEBACKS.values()) + "2024-03-01T10:00:00Z - other - lg - INFO - seed\n")
    fast = run_engine(src, tmp_path / "fast", monkeypatch, use_native=True)
    slow = run_engine(src, tmp_path / "slow", monkeypatch, use_native=False)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2] == sorted(os.path.getsize(path) for path in src.iterdir())
    assert fast[0].count(b"\n") == len([r for r in fast[1] if r["service"] == SERVICE]) > 2000
    assert (tmp_path / "fast" / "other.jsonl").read_bytes() == (tmp_path / "slow" / "other.jsonl").read_bytes()


def test_output_buffers_are_reused_only_once_released(tmp_path: Path) -> None:
    reader = native.stdlib_reader(SERVICE, "/p", "1-2", b'{"service.name":"app"}')
    assert reader is not None
    kept = []
    for i in range(12):
        data = f"2024-03-01 10:00:00,000 - a - INFO - {i}\n2024-03-01 10:00:01,000 - a - INFO - next".encode()
        observed = "2030-01-01T00:00:00.000000000Z"
        read = reader.read(data + b"\nrest", 0, len(data), 0, True, observed, None)
        lines, count, stop, pending, last, service = read
        assert (count, stop, last, service) == (1, len(data) + 1, "2024-03-01T10:00:01.000000000Z", None)
        assert pending is not None and pending[5] == "next"
        if i % 2:
            kept.append((i, lines))  # the others are released at once: their memory is reused
    for i, lines in kept:
        assert lines.readonly
        assert orjson.loads(lines)["body"] == str(i)
    with pytest.raises(TypeError):
        lines[0] = 0  # type: ignore[index]
    not_ascii = "2024-03-01 10:00:00,000 - a - INFO - é".encode()
    with pytest.raises(ValueError, match="not all ASCII"):
        reader.read(not_ascii, 0, len(not_ascii), 0, True, "o", None)
    with pytest.raises(ValueError, match="start <= end"):
        reader.read(b"abc", 0, 4, 0, True, "o", None)
