"""The native JSON-lines reader against the Python path: byte-for-byte the same JSON lines, batch by batch.

As in ``test_native_stdlib.py``, with its ``read`` and ``assert_same``: each input is read through
``FileSource.read_batch`` with the native reader (``otel_logging.record.native.jsonl_reader``) and without it
(``JsonLinesParser``, the assembler and ``to_json_lines``), with the same deterministic observed times; every
batch's JSON lines, the committable offset after it and the record counts must be equal, at chunk sizes that cut
the lines anywhere. Lines the reader must leave to Python (floats, nested values, other JSON flavours, exceptions,
timestamps in doubt, text lines) are mixed in, so the hand-overs are tested too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_logging.ingest.engine import IngestOptions, Ingestor
from otel_logging.record import native
from otel_logging.sinks.files import FileSink
from tests.unit.ingest import test_native_stdlib as stdlib_test
from tests.unit.ingest.test_native_stdlib import Reading, deterministic_clock

pytestmark = pytest.mark.skipif(not native.JSONL_AVAILABLE, reason=native.JSONL_UNAVAILABLE_REASON)

SERVICE = "app"


def read(path: Path, *, use_native: bool, chunk: int, format: str = "auto", timezone: str = "UTC") -> Reading:
    return stdlib_test.read(
        path, use_native=use_native, chunk=chunk, format=format, timezone=timezone, reader="native_jsonl"
    )


def assert_same(path: Path, chunk: int, format: str = "auto") -> Reading:
    return stdlib_test.assert_same(path, chunk, format, reader="native_jsonl")


def records_of(reading: Reading) -> list[dict[str, Any]]:
    return [orjson.loads(line) for batch in reading.batches for data in batch.values() for line in data.splitlines()]


PY_JSON = {"asctime": "2024-03-01 08:00:00,123", "levelname": "INFO", "name": "app.web", "message": "hello", "n": 1}
STRUCTLOG = {"event": "login", "level": "warning", "timestamp": "2024-03-01T08:00:00.123456Z", "logger": "sl"}

# Lines the reader takes, and lines it must leave to Python, each as Python would have to read them.
CASES = [
    json.dumps(PY_JSON),
    json.dumps(STRUCTLOG),
    json.dumps({**PY_JSON, "message": 'caf\u00e9 \u2603 \U0001f600 "q" \\ / \t tab\nnewline'}),
    json.dumps({**PY_JSON, "message": "caf\u00e9 \U0001f600"}, ensure_ascii=False),
    json.dumps({**PY_JSON, "user": None, "ok": True, "no": False, "big": 123456789012345678, "neg": -5}),
    json.dumps({**PY_JSON, "huge": 1234567890123456789012, "zero": -0}),  # Python's (digits, -0)
    json.dumps({**PY_JSON, "ratio": 0.5}),  # a float: Python's
    json.dumps({**PY_JSON, "ctx": {"a": 1}}),  # nested: Python's
    json.dumps({**PY_JSON, "tags": [1, 2]}),
    json.dumps({**PY_JSON, "exc_info": "Traceback (most recent call last):\nValueError: x"}),  # exception: Python's
    json.dumps({**PY_JSON, "exc_info": ""}),
    json.dumps({**PY_JSON, "exc_info": None}),
    json.dumps({**PY_JSON, "levelname": "Level 5"}),
    json.dumps({**PY_JSON, "levelname": " info "}),
    json.dumps({**PY_JSON, "levelname": 30}),
    json.dumps({**PY_JSON, "levelname": None}),
    json.dumps({**PY_JSON, "name": 5}),
    json.dumps({k: v for k, v in PY_JSON.items() if k != "message"}),
    json.dumps({**PY_JSON, "message": None}),
    json.dumps({**PY_JSON, "message": 42}),
    json.dumps({**PY_JSON, "message": True}),
    json.dumps({"msg": "generic", "ts": "2024-03-01T08:00:00+05:30", "lvl": "error", "x": "y"}),
    json.dumps({"text": "generic", "date": "2024-03-01T08:00:00+0530"}),
    json.dumps({"a": 1, "b": "only data"}),  # no logger's object: a structured body, Python's
    json.dumps({}),
    json.dumps({**PY_JSON, "asctime": "2024-02-30 08:00:00,000"}),  # no such date
    json.dumps({**PY_JSON, "asctime": "1969-12-31 23:59:59,000"}),
    json.dumps({**PY_JSON, "asctime": "9999-12-31T23:59:59-01:00"}),
    json.dumps({**PY_JSON, "asctime": " 2024-03-01 08:00:00"}),
    json.dumps({**PY_JSON, "asctime": "2024-03-01T08:00"}),
    json.dumps({**PY_JSON, "asctime": "2024-03-01T08:00:00.1234567891234Z"}),
    json.dumps({**PY_JSON, "asctime": "2024-03-01T08:00:00,5 UTC"}),
    json.dumps({**PY_JSON, "asctime": "2024-03-01T08:00:00+05:"}),
    json.dumps({**PY_JSON, "asctime": "1709280000.5"}),
    json.dumps({**PY_JSON, "asctime": 1709280000}),
    json.dumps({**PY_JSON, "asctime": "yesterday"}),
    json.dumps({**PY_JSON, "asctime": "\uff12\uff10\uff12\uff14-03-01 08:00:00"}),
    json.dumps({**PY_JSON, "log.file.path": "/elsewhere"}),
    json.dumps({"ecs.version": "1.6.0", "@timestamp": "2024-03-01T08:00:00Z", "log.level": "info", "message": "e"}),
    json.dumps({"observed_timestamp": "x", "severity_number": 9, "service": "s", "body": "canonical"}),
    '{"message": "dup", "message": "keys"}',
    '{"message": "lone \\ud800 surrogate"}',
    '{"message": "pair \\ud83d\\ude00"}',
    '{"message": "bad escape \\x"}',
    '  {"message": "indented"}',
    '{"message": "trailing spaces"}   ',
    '{ "message" : "spaced" , "levelname" : "ERROR" }',
    '{"message": "unclosed"',
    '{"message": "x"} trailing',
    "[1, 2]",
    "2024-03-01 08:00:00,000 - app - ERROR - a stdlib line\nTraceback (most recent call last):\n"
    '  File "x.py", line 1, in f\nValueError: boom',
    "2024-03-01T08:00:00Z - other - lg - INFO - a seed line",
    "not json at all",
    "",
    "   ",
    "\t",
]


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 333, 64, 7, 1])
def test_every_case_in_a_row(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join([json.dumps(PY_JSON), *CASES, json.dumps(STRUCTLOG)]) + "\n", encoding="utf-8")
    reading = assert_same(path, chunk)
    if chunk == 1 << 20:
        records = records_of(reading)
        assert records[0]["body"] == "hello" and records[0]["@timestamp"] == "2024-03-01T08:00:00.123000000Z"
        assert records[0]["attributes"] == {
            "n": 1,
            "log.file.path": str(path),
            "log.record.uid": records[0]["attributes"]["log.record.uid"],
        }


def test_each_case_after_a_json_line(tmp_path: Path) -> None:
    for i, case in enumerate(CASES):
        path = tmp_path / f"case-{i}.log"
        path.write_text(json.dumps(PY_JSON) + "\n" + case + "\n" + json.dumps(STRUCTLOG), encoding="utf-8")
        for chunk in (1 << 20, len(json.dumps(PY_JSON)) + 3):
            assert_same(path, chunk)


def test_crlf_nul_and_invalid_utf8_are_python_s(tmp_path: Path) -> None:
    path = tmp_path / "odd.log"
    line = json.dumps(PY_JSON).encode()
    path.write_bytes(line + b"\r\n" + line + b"\n\0\0" + line + b"\n" + line[:-2] + b'\xff"}\n' + line + b"\n")
    for chunk in range(1, path.stat().st_size + 2, 7):
        assert_same(path, chunk)


def test_other_zones_and_formats_stay_on_the_python_path(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(json.dumps(PY_JSON) + "\n")
    assert read(path, use_native=True, chunk=1 << 20).native_used
    assert not read(path, use_native=True, chunk=1 << 20, timezone="Europe/Paris").native_used
    assert not read(path, use_native=True, chunk=1 << 20, format="stdlib").native_used


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["INFO", "warning", "Error", "crit", "2024-03-01 08:00:00,5", "2024-02-29T23:59:59.999Z"]),
    st.lists(st.integers(), max_size=2),
)
KEYS = ("message", "msg", "event", "levelname", "level", "asctime", "timestamp", "time", "name", "logger")
json_keys = st.sampled_from([*KEYS, "exc_info", "stack", "ts", "@timestamp", "x", "y", "ecs", "service"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    objects=st.lists(st.dictionaries(json_keys, json_values, max_size=6), min_size=1, max_size=8),
    ascii_only=st.booleans(),
    chunk=st.integers(min_value=1, max_value=300),
)
def test_any_flat_objects(tmp_path: Path, objects: list[dict[str, Any]], ascii_only: bool, chunk: int) -> None:
    path = tmp_path / "any.log"
    path.write_text("\n".join(json.dumps(o, ensure_ascii=ascii_only) for o in objects) + "\n", encoding="utf-8")
    assert_same(path, chunk, format="jsonl")
    assert_same(path, 1 << 20, format="jsonl")


def test_the_engine_writes_the_same_files(tmp_path: Path, monkeypatch: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.log").write_text("".join(json.dumps({**PY_JSON, "n": i}) + "\n" for i in range(3000)) + CASES[7])
    outputs = []
    for use_native in (True, False):
        if not use_native:
            monkeypatch.setattr(native, "_jsonl_reader", None)
        out = tmp_path / f"out-{use_native}"
        ingestor = Ingestor([FileSink(out)], IngestOptions(service=SERVICE, checkpoint_path=out / "ck.json"))
        with deterministic_clock():
            summary = ingestor.run([str(src)])
        ingestor.close()
        assert summary.ok and summary.records == 3001
        outputs.append((out / f"{SERVICE}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
