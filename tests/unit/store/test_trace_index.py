"""The trace index (``otel_logging/store/trace_index.py``): it equals a scan of ``logs`` after every change the
files go through, and a trace lookup through it returns exactly the records a scan of ``logs`` finds."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from otel_logging.dashboard.sources.files import FileSource
from otel_logging.store import default_store_path, trace_index
from tests.support.generated_logs import make_record
from tests.unit.store.test_rollup import rotate_and_compress

BASE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SHARED_HEAD = "0123456789abcdef"
TRACES = [
    *(f"{i:032x}" for i in range(1, 6)),  # ids whose first digit is 0: one table
    *(f"{i:x}{'7' * 31}" for i in range(10, 16)),  # one in each of the tables a..f
    SHARED_HEAD + "0" * 16,  # two ids with the same first 16 digits: told apart by the whole id
    SHARED_HEAD + "f" * 16,
    "not-a-hex-trace-id",  # found by scanning logs
]


def append(path: Path, service: str, first: int, count: int) -> None:
    rng = random.Random(first)
    lines = []
    for i in range(first, first + count):
        when = BASE + timedelta(seconds=rng.randrange(3 * 3600))
        trace = rng.choice([*TRACES, None])
        lines.append(orjson.dumps(make_record(service, when, body=f"m{i}", trace_id=trace)) + b"\n")
    with open(path, "ab") as f:
        f.write(b"".join(lines))


def assert_index_exact(source: FileSource) -> None:
    con = source._con
    kept = con.execute(f"SELECT * FROM ({trace_index.union_sql()}) ORDER BY ALL").fetchall()
    fresh = con.execute(f"SELECT * FROM ({trace_index.derived_sql()}) ORDER BY ALL").fetchall()
    assert kept == fresh, f"the index has {len(kept)} rows, a scan of logs {len(fresh)}"
    for table in trace_index.TABLES:  # each row in the table of its first digit
        digits = con.execute(f"SELECT DISTINCT trace_key >> 60 FROM {table}").fetchall()
        assert digits in ([], [(trace_index.TABLES.index(table),)])


def assert_lookups_exact(source: FileSource) -> None:
    for trace in TRACES:
        found = [(h.record["body"], h.record["trace_id"]) for h in source.trace(trace.upper())]
        scanned = source._con.execute(
            "SELECT message, trace_id FROM logs WHERE trace_id = ? ORDER BY ts, file_id, row_no", [trace]
        ).fetchall()
        assert found == [tuple(row) for row in scanned], trace
        assert found, f"no record of {trace}"


def test_the_index_equals_a_scan_of_logs_through_every_change(tmp_path: Path) -> None:
    store = default_store_path(tmp_path)

    def check() -> FileSource:
        source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
        source.refresh(force=True)
        assert_index_exact(source)
        return source

    append(tmp_path / "api.jsonl", "api", 0, 400)
    append(tmp_path / "web.jsonl", "web", 1000, 300)
    append(tmp_path / "db.jsonl", "db", 2000, 200)
    source = check()
    assert_lookups_exact(source)
    append(tmp_path / "api.jsonl", "api", 400, 100)  # an append read by the same source
    source.refresh(force=True)
    assert_index_exact(source)
    append(tmp_path / "web.jsonl", "web", 1300, 50)  # rotated and compressed, then written again
    rotate_and_compress(tmp_path / "web.jsonl", "20261201T120000.000000Z")
    append(tmp_path / "web.jsonl", "web", 1400, 60)
    source.refresh(force=True)
    assert_index_exact(source)
    os.truncate(tmp_path / "db.jsonl", 0)  # truncated and written again
    append(tmp_path / "db.jsonl", "db", 3000, 30)
    source.refresh(force=True)
    assert_index_exact(source)
    (tmp_path / "web.20261201T120000.000000Z.jsonl.gz").unlink()  # retention
    source.refresh(force=True)
    assert_index_exact(source)
    assert_lookups_exact(source)
    source.close()
    (tmp_path / "api.jsonl").unlink()  # deleted while closed
    source = check()
    assert_lookups_exact(source)
    source.close()


def test_a_lookup_limit_keeps_the_oldest_records_of_the_trace(tmp_path: Path) -> None:
    append(tmp_path / "api.jsonl", "api", 0, 600)
    source = FileSource(tmp_path, store=default_store_path(tmp_path), min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        whole = source.trace(SHARED_HEAD + "0" * 16)
        assert len(whole) > 5
        assert source.trace(SHARED_HEAD + "0" * 16, limit=5) == whole[:5]
    finally:
        source.close()
