"""The per-minute roll-up (``otel_logging/store/rollup.py``): its answers equal those of ``logs``, and the table
equals a GROUP BY of ``logs`` after every change the files go through."""

from __future__ import annotations

import gzip
import os
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from otel_logging.dashboard.filters import FieldRef, LogFilter
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.store import default_store_path, rollup, words
from tests.support.generated_logs import make_record
from tests.unit.store.test_store import run_cli

BASE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LEVELS = (("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("ERROR", 17))


def append(path: Path, services: tuple[str, ...], first: int, count: int, seed: int = 0) -> None:
    """``count`` records at random times over three hours (ten seconds apart on average), some without a time."""
    rng = random.Random(seed * 1_000_003 + first)
    lines = []
    for i in range(first, first + count):
        when = BASE + timedelta(seconds=rng.randrange(3 * 3600), microseconds=rng.randrange(1_000_000))
        record = make_record(
            rng.choice(services),
            when,
            level=rng.choice(LEVELS),
            body=f"m{i} declined" if i % 4 == 0 else f"m{i}",
            logger=f"app.mod{rng.randrange(3)}",
            attributes={"k": i % 5},
        )
        if i % 37 == 5:
            record["@timestamp"] = record["observed_timestamp"] = "not a time"
        lines.append(orjson.dumps(record) + b"\n")
    with open(path, "ab") as f:
        f.write(b"".join(lines))


def grouped(source: FileSource) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """(the roll-up's rows, the GROUP BY of ``logs``), both sorted."""
    con = source._con
    kept = con.execute(f"SELECT file_id, minute, service, level, logger, n FROM {rollup.TABLE} ORDER BY ALL").fetchall()
    fresh = con.execute(
        "SELECT file_id, date_trunc('minute', ts), service, level, logger, count(*) FROM logs GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return kept, fresh


def assert_rollup_exact(source: FileSource) -> None:
    kept, fresh = grouped(source)
    assert kept == fresh  # one row per key (a key counted twice would be two rows) and exact counts
    assert any(minute is None for _, minute, *_ in kept)  # the records without a time are in it too


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


# (filter, whether the roll-up can answer it)
FILTERS: list[tuple[LogFilter, bool]] = [
    (LogFilter(), True),
    (LogFilter(query="level:(ERROR OR WARN)"), True),
    (LogFilter(query="service:api logger:app.mod1"), True),
    (LogFilter(apps=("web",)), True),
    (LogFilter(files=("api.jsonl",), query="level >= info"), True),
    (LogFilter(start=at(7.2), end=at(95.05)), True),  # unaligned at both ends
    (LogFilter(start=at(7), end=at(95)), True),  # whole minutes
    (LogFilter(start=at(61.5)), True),
    (LogFilter(end=at(30.999)), True),
    (LogFilter(start=at(40.1), end=at(40.9)), True),  # within one minute
    (LogFilter(start=at(40.5), end=at(41.5)), True),  # two partial minutes, no whole one
    (LogFilter(start=at(50), end=at(50)), True),  # empty
    (LogFilter(query="service:api AND level:error", start=at(3.3)), True),
    (LogFilter(query="NOT logger:app.mod1 OR service:/we.*/"), True),
    (LogFilter(query="-level:debug service:api*", end=at(121.7)), True),
    (LogFilter(query="logger:*", apps=("api",)), True),
    (LogFilter(query="-service:api"), True),
    (LogFilter(query="service:(api OR web) -logger:app.mod2"), True),
    (LogFilter(query="declined"), False),  # a message word
    (LogFilter(query="m1 service:api"), False),
    (LogFilter(query="attributes.k:3"), False),
    (LogFilter(query="@timestamp >= 2026-12-01T10:30:00Z"), False),
    (LogFilter(query="k:2 level:info"), False),
]
BUCKETS = (60, 300, 600, 3600, 10800, 86400, 7 * 86400, 30, 1)  # the last two: not whole minutes (from logs)


def answers(source: FileSource, flt: LogFilter) -> list[object]:
    out: list[object] = [source.count(flt), source.time_bounds(flt)]
    for name in ("service", "level", "logger"):
        out += [source.top_values(flt, FieldRef(name), limit=2), source.top_values(flt, FieldRef(name), limit=200)]
    out.append(source.top_values(flt, FieldRef("attributes", "k")))
    out += [source.volume(flt, bucket) for bucket in BUCKETS]
    for offset, limit in ((0, 20), (700, 50)):  # the second is not in the last hour: the roll-up tells where it is
        page = source.page(flt, offset=offset, limit=limit)
        out.append([(h.ref, h.record["body"]) for h in page.hits] + [page.total])
    return out


def reference(source: FileSource, flt: LogFilter) -> list[object]:
    source.use_rollup = False
    try:
        return answers(source, flt)
    finally:
        source.use_rollup = True


@pytest.mark.parametrize("store", [True, False], ids=["store", "in-memory"])
def test_every_answer_from_the_rollup_equals_the_answer_from_logs(tmp_path: Path, store: bool) -> None:
    append(tmp_path / "api.jsonl", ("api", "api-worker"), 0, 900)
    append(tmp_path / "web.jsonl", ("web",), 10_000, 500)
    append(tmp_path / "web.20261130T000000.000000Z.jsonl", ("web",), 20_000, 300)
    source = FileSource(tmp_path, store=default_store_path(tmp_path) if store else None, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        append(tmp_path / "api.jsonl", ("api", "api-worker"), 900, 200)  # a second load into the same minutes
        source.refresh(force=True)
        assert_rollup_exact(source)
        token = source.snapshot()
        for flt, eligible in FILTERS:
            assert rollup.eligible(flt) is eligible, flt
            got = answers(source, flt)
            assert got == reference(source, flt), flt
            assert answers(source, LogFilter(**{**_fields(flt), "until": token})) == got
        assert source.count(LogFilter()) == 900 + 500 + 300 + 200
        assert source.count(LogFilter(start=at(40.1), end=at(40.9))) > 0  # the edge cases are not vacuous
        # A token from before the last load: only logs knows which rows it covers (seq).
        append(tmp_path / "web.jsonl", ("web",), 30_000, 40)
        source.refresh(force=True)
        old = LogFilter(until=token, query="level:error")
        assert source.count(old) == reference(source, old)[0] < source.count(LogFilter(query="level:error"))
        assert answers(source, old) == reference(source, old)
    finally:
        source.close()


def _fields(flt: LogFilter) -> dict[str, object]:
    return {name: getattr(flt, name) for name in LogFilter.__dataclass_fields__}


def test_the_rollup_is_what_answers_the_questions_it_can(tmp_path: Path) -> None:
    """Doubling the roll-up's counts doubles the answers of the eligible questions only."""
    append(tmp_path / "api.jsonl", ("api",), 0, 300)
    source = FileSource(tmp_path, store=default_store_path(tmp_path), min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        source._con.execute(f"UPDATE {rollup.TABLE} SET n = n * 2")
        source.use_rollup = True
        whole = LogFilter(start=at(10), end=at(70))
        edges = LogFilter(start=at(10.5), end=at(70.5))
        from_logs = LogFilter(start=at(10.5), end=at(10.7))
        source.use_rollup = False
        expected = {flt: source.count(flt) for flt in (whole, edges, from_logs, LogFilter(query="declined"))}
        source.use_rollup = True
        assert source.count(whole) == 2 * expected[whole]
        assert expected[edges] < source.count(edges) < 2 * expected[edges]
        assert source.count(from_logs) == expected[from_logs]
        assert source.count(LogFilter(query="declined")) == expected[LogFilter(query="declined")]
    finally:
        source.close()


def rotate_and_compress(live: Path, stamp: str) -> None:
    rotated = live.with_name(f"{live.name[: -len('.jsonl')]}.{stamp}.jsonl")
    os.rename(live, rotated)
    with open(rotated, "rb") as src, gzip.open(rotated.with_name(rotated.name + ".gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    rotated.unlink()


def walk_through_file_changes(
    tmp_path: Path, write: Callable[..., None], exact: Callable[[FileSource], None], blobs: dict[str, object]
) -> FileSource:
    """Appends, appends read by the same source, a rotation with a tail read from the .gz, changes while closed,
    a truncation: ``exact(source)`` after each step; the open source at the end. ``write`` is an ``append`` and
    ``blobs`` extra arguments for web.jsonl's writes."""
    store = default_store_path(tmp_path)

    def check() -> FileSource:
        source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
        source.refresh(force=True)
        exact(source)
        return source

    write(tmp_path / "api.jsonl", ("api",), 0, 400)
    write(tmp_path / "web.jsonl", ("web", "web-2"), 1000, 300, **blobs)
    write(tmp_path / "db.jsonl", ("db",), 2000, 200)
    source = check()
    for step in range(3):  # appends read by the same source, into minutes it already counted
        write(tmp_path / "api.jsonl", ("api",), 400 + 100 * step, 100, seed=step)
        source.refresh(force=True)
        exact(source)
    write(tmp_path / "web.jsonl", ("web",), 1300, 50)  # a tail written before the rotation, read from the .gz
    rotate_and_compress(tmp_path / "web.jsonl", "20261201T120000.000000Z")
    write(tmp_path / "web.jsonl", ("web",), 1400, 60, **blobs)
    source.refresh(force=True)
    exact(source)
    source.close()
    write(tmp_path / "api.jsonl", ("api",), 700, 80)  # while closed: appended, rotated, compressed
    rotate_and_compress(tmp_path / "api.jsonl", "20261201T130000.000000Z")
    source = check()
    os.truncate(tmp_path / "db.jsonl", 0)  # truncated and written again
    write(tmp_path / "db.jsonl", ("db",), 3000, 30)
    source.refresh(force=True)
    exact(source)
    return source


def test_the_rollup_equals_a_group_by_of_logs_through_every_change(tmp_path: Path) -> None:
    store = default_store_path(tmp_path)

    def check() -> FileSource:
        source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
        source.refresh(force=True)
        assert_rollup_exact(source)
        return source

    source = walk_through_file_changes(tmp_path, append, assert_rollup_exact, {})
    (tmp_path / "web.20261201T120000.000000Z.jsonl.gz").unlink()  # retention
    source.refresh(force=True)
    kept, fresh = grouped(source)
    assert kept == fresh
    assert source.count(LogFilter()) == 400 + 300 + 80 + 60 + 30
    assert source.count(LogFilter(apps=("web",))) == 60
    source.close()
    (tmp_path / "db.jsonl").unlink()  # deleted while closed
    source = check()
    assert source.count(LogFilter()) == 400 + 300 + 80 + 60
    assert source.top_values(LogFilter(), FieldRef("service")) == [
        v for v in source.top_values(LogFilter(query="NOT declined OR declined"), FieldRef("service"))
    ]
    source.close()


def test_a_store_of_the_previous_version_is_rebuilt_with_its_rollup(tmp_path: Path) -> None:
    append(tmp_path / "api.jsonl", ("api",), 0, 120)
    store = default_store_path(tmp_path)
    FileSource(tmp_path, store=store).close()
    con = duckdb.connect(str(store))  # as version 2 left it: no roll-up
    con.execute(f"DROP TABLE {rollup.TABLE}")
    con.execute("UPDATE meta SET value = 2 WHERE key = 'version'")
    con.close()
    with pytest.raises(QueryError, match="otel-logging store rebuild"):
        FileSource(tmp_path, store=store)
    done = run_cli("store", "rebuild", "--log-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    source = FileSource(tmp_path, store=store, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        assert_rollup_exact(source)
        assert source.count(LogFilter()) == 120
    finally:
        source.close()


@pytest.mark.parametrize("store", [True, False], ids=["store", "in-memory"])
def test_the_pickers_counts_of_a_search_come_from_one_pass_and_equal_a_group_by(tmp_path: Path, store: bool) -> None:
    append(tmp_path / "api.jsonl", ("api", "api-worker"), 0, 600)
    source = FileSource(tmp_path, store=default_store_path(tmp_path) if store else None, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        # A message regex: neither the roll-up nor the word index can answer.
        flt = LogFilter(query="/declin.d/", start=at(10), end=at(150))
        assert not rollup.eligible(flt) and words.word_search(flt) is None
        where, params = source._where(flt)
        statements: list[str] = []
        run = source._run
        source._run = lambda sql, values=(): statements.append(sql) or run(sql, values)  # type: ignore[method-assign]
        for name in ("service", "level", "logger"):
            for limit in (2, 200):
                expected = source._con.execute(
                    f"SELECT {name}, count(*) AS n FROM logs WHERE {where} AND {name} IS NOT NULL "
                    f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {limit}",
                    params,
                ).fetchall()
                got = [(v.value, v.count) for v in source.top_values(flt, FieldRef(name), limit=limit)]
                assert got == [(str(v), n) for v, n in expected] and got, (name, limit)
        assert len(statements) == 1, statements  # six answers, one pass over the rows
    finally:
        source.close()
