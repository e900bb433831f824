"""The word index (``otel_logging/store/words.py``): the table equals a GROUP BY of the words of ``logs`` after
every change the files go through, and every answer it gives equals the answer a scan of ``logs`` gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.store import default_store_path, words
from tests.support.generated_logs import make_record
from tests.unit.store.test_rollup import LEVELS, answers, reference, walk_through_file_changes

BASE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BODIES = (
    "payment {i} declined: card 'visa-{i}'",
    "payment {i} accepted",
    "cache miss for key c81e728d{i}",
    "user {i} logged in",
    "Ärger: Zahlung {i} abgelehnt (DECLINED)",
    "retry {i} after timeout",
)


def append(path: Path, services: tuple[str, ...], first: int, count: int, seed: int = 0, blobs: bool = False) -> None:
    """``count`` records at random times over five hours, some without a time, and with ``blobs`` a few with a
    run of letters too long to index (in the hour from ``at(4.5)``)."""
    rng = random.Random(seed * 1_000_003 + first)
    lines = []
    for i in range(first, first + count):
        when = BASE + timedelta(seconds=rng.randrange(5 * 3600), microseconds=rng.randrange(1_000_000))
        body = rng.choice(BODIES).format(i=i)
        if blobs and i % 97 == 3:
            body = "blob " + "q" * (words.MAX_WORD + 1)
            when = at(4.5)
        record = make_record(
            rng.choice(services),
            when,
            level=rng.choice(LEVELS),
            body=body,
            logger=f"app.mod{rng.randrange(3)}",
            attributes={"k": i % 5},
        )
        if i % 37 == 5:
            record["@timestamp"] = record["observed_timestamp"] = "not a time"
        lines.append(orjson.dumps(record) + b"\n")
    with open(path, "ab") as f:
        f.write(b"".join(lines))


def assert_index_exact(source: FileSource) -> None:
    con = source._con
    kept = con.execute(f"SELECT * FROM ({words.union_sql()}) ORDER BY ALL").fetchall()
    fresh = con.execute(f"SELECT * FROM ({words.grouped('TRUE')}) ORDER BY ALL").fetchall()
    assert kept == fresh  # one row per key and exact counts
    for table in words.TABLES.values():  # each word in the table of its first letter
        assert all(words.table_of(w) == table for (w,) in con.execute(f"SELECT DISTINCT word FROM {table}").fetchall())
    vocabulary = {w for (w,) in con.execute(f"SELECT word FROM {words.VOCABULARY}").fetchall()}
    assert {row[5] for row in kept} - {words.LONG} <= vocabulary
    assert kept and any(row[1] is None for row in kept)  # not vacuous: the records without a time too
    assert any(row[5] == words.LONG for row in kept)


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


# (filter, whether the word index answers it)
FILTERS: list[tuple[LogFilter, bool]] = [
    (LogFilter(query="declined", end=at(4)), True),
    (LogFilter(query="DECLINED", start=at(0.3), end=at(3.7)), True),  # unaligned at both ends
    (LogFilter(query="eclined", start=at(1), end=at(3)), True),  # a part of one word
    (LogFilter(query="message:declined level:(error OR warn)", apps=("api",)), True),
    (LogFilter(query='"declined" service:api logger:app.mod1', start=at(1.5), end=at(4)), True),
    (LogFilter(query="declined -level:debug", end=at(2.2)), True),
    (LogFilter(query="declined", apps=("web",), start=at(1.2), end=at(1.8)), False),  # in one hour: from logs
    (LogFilter(query="payment", files=("api.jsonl",)), True),
    (LogFilter(query="zahlung", end=at(4)), True),
    (LogFilter(query="nothinglikeit", end=at(4)), True),  # no word holds it: only the edges are read
    (LogFilter(query="declined"), False),  # a run of letters too long to index is in the range
    (LogFilter(query="ed", end=at(4)), False),  # several words hold it
    (LogFilter(query="qqqq"), False),
    (LogFilter(query="payment declined"), False),  # two words
    (LogFilter(query='"cache miss"'), False),  # a phrase
    (LogFilter(query="declined attributes.k:3"), False),
    (LogFilter(query="declined OR accepted"), False),
    (LogFilter(query="NOT declined"), False),
    (LogFilter(query="declin*"), False),
    (LogFilter(query="visa-3"), False),
    (LogFilter(query="a"), False),  # one letter
]


@pytest.mark.parametrize("store", [True, False], ids=["store", "in-memory"])
def test_every_answer_from_the_word_index_equals_the_answer_from_logs(tmp_path: Path, store: bool) -> None:
    append(tmp_path / "api.jsonl", ("api", "api-worker"), 0, 900)
    append(tmp_path / "web.jsonl", ("web",), 10_000, 500, blobs=True)
    source = FileSource(tmp_path, store=default_store_path(tmp_path) if store else None, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        append(tmp_path / "api.jsonl", ("api", "api-worker"), 900, 200)  # a second load into the same hours
        source.refresh(force=True)
        assert_index_exact(source)
        token = source.snapshot()
        for flt, answered in FILTERS:
            got = answers(source, flt)
            assert got == reference(source, flt), flt
            assert bool(got[0]) or flt.query == "nothinglikeit", flt  # not vacuous
            until = LogFilter(**{**{n: getattr(flt, n) for n in LogFilter.__dataclass_fields__}, "until": token})
            assert answers(source, until) == got
            # Doubling the index's counts changes exactly the answers it gives.
            for table in words.TABLES.values():
                source._con.execute(f"UPDATE {table} SET n = n * 2")
            try:
                doubled = source._count(flt)
            finally:
                for table in words.TABLES.values():
                    source._con.execute(f"UPDATE {table} SET n = n / 2")
            assert (doubled != got[0]) is (answered and got[0] > 0), flt
    finally:
        source.close()


def test_the_word_index_equals_a_group_by_of_logs_through_every_change(tmp_path: Path) -> None:
    source = walk_through_file_changes(tmp_path, append, assert_index_exact, {"blobs": True})
    (tmp_path / "web.20261201T120000.000000Z.jsonl.gz").unlink()  # retention
    source.refresh(force=True)
    assert_index_exact(source)
    flt = LogFilter(query="declined", apps=("web",), end=at(4))
    assert answers(source, flt) == reference(source, flt)
    assert source.count(flt) > 0
    source.close()


def test_a_store_from_before_the_word_index_is_upgraded_in_place(tmp_path: Path) -> None:
    append(tmp_path / "api.jsonl", ("api",), 0, 300, blobs=True)
    store = default_store_path(tmp_path)
    source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
    source.refresh(force=True)
    expected = source.count(LogFilter(query="declined"))
    source.close()
    con = duckdb.connect(str(store))  # as version 4 left it: no word index
    for table in (*words.TABLES.values(), words.VOCABULARY):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE meta SET value = 4 WHERE key = 'version'")
    con.close()
    source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
    try:
        assert source.refresh(force=True).bytes_read_last == 0  # nothing read again
        assert_index_exact(source)
        assert source.count(LogFilter(query="declined")) == expected > 0
    finally:
        source.close()
