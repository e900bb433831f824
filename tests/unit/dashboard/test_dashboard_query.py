"""The dashboard's query layer over generated per-app files (DuckDB file source)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from otel_logging.dashboard.filters import (
    FieldRef,
    FilterError,
    LogFilter,
    choose_bucket,
    level_of,
    parse_field,
)
from otel_logging.dashboard.patterns import template_of, template_sql
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.querylang import QuerySyntaxError
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.dashboard.sources.logfiles import list_log_files, parse_name
from otel_logging.dashboard.state import ViewState
from otel_logging.record import to_json_lines
from otel_logging.sinks.files import compress_file
from tests.support.generated_logs import make_record, write_app_logs

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Europe/Paris switches to summer time at 01:00 UTC that day
TRACE = "0af7651916cd43dd8448eb211c80319c"


def _records() -> dict[str, list[dict]]:
    """Two apps, 12 records with known levels, loggers, attributes and one shared trace."""
    at = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    checkout = [
        make_record("checkout", at(0), body="cart 17 created", logger="shop.cart", attributes={"user": "alice"}),
        make_record(
            "checkout",
            at(10),
            level=("WARN", 13),
            body="slow payment provider: 870 ms",
            logger="shop.pay",
            attributes={"http.status_code": 200, "customer": {"tier": "gold"}},
        ),
        make_record("checkout", at(20), level=("ERROR", 17), body="Payment FAILED for order 42", logger="shop.pay"),
        make_record(
            "checkout",
            at(30),
            level=("ERROR", 17),
            body="payment failed for order 43",
            logger="shop.pay",
            trace_id=TRACE,
        ),
        make_record("checkout", at(40), level=("DEBUG", 5), body={"event": "cart", "items": 3}, logger="shop.cart"),
        make_record("checkout", at(50), body="cart 18 created", logger="shop.cart", attributes={"user": "bob"}),
    ]
    billing = [
        make_record("billing", at(5), body="invoice 7 sent to 'alice'", logger="bill.mail"),
        make_record("billing", at(31), body="charge started", logger="bill.charge", trace_id=TRACE),
        make_record("billing", at(32), level=("FATAL", 21), body="ledger corrupt", logger="bill.charge"),
        make_record("billing", at(45), level=("INFO", 9), body="invoice 8 sent to 'bob'", logger="bill.mail"),
        make_record("billing", at(55), level=("INFO", 9), body="invoice 9 sent to 'carol'", logger="bill.mail"),
        make_record("billing", at(29), body="charge queued", logger="bill.charge", trace_id=TRACE),
    ]
    return {"checkout": checkout, "billing": billing}


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    for app, records in _records().items():
        (directory / f"{app}.jsonl").write_bytes(to_json_lines(records))
    return directory


@pytest.fixture
def source(log_dir: Path) -> Iterator[FileSource]:
    src = FileSource(log_dir, min_refresh_interval_s=0)
    src.refresh()
    yield src
    src.close()


def bodies(source: FileSource, flt: LogFilter, limit: int = 100) -> list[object]:
    return [hit.record["body"] for hit in source.page(flt, limit=limit).hits]


def test_all_records_newest_first_with_their_full_record(source: FileSource) -> None:
    page = source.page(LogFilter())
    assert page.total == 12
    times = [hit.record["@timestamp"] for hit in page.hits]
    assert times == sorted(times, reverse=True)
    original = next(r for r in _records()["checkout"] if r["body"] == "slow payment provider: 870 ms")
    hit = next(h for h in page.hits if h.record["body"] == original["body"])
    assert hit.record == original
    assert hit.level == "WARN"


def test_pagination_past_any_cap(source: FileSource) -> None:
    pages = [source.page(LogFilter(), offset=offset, limit=5) for offset in (0, 5, 10)]
    assert [len(p.hits) for p in pages] == [5, 5, 2]
    refs = [h.ref for p in pages for h in p.hits]
    assert len(set(refs)) == 12


PAYMENTS = {"Payment FAILED for order 42", "payment failed for order 43"}
INVOICES = {"invoice 7 sent to 'alice'", "invoice 8 sent to 'bob'", "invoice 9 sent to 'carol'"}
SLOW = {"slow payment provider: 870 ms"}
CHECKOUT = {
    "cart 17 created",
    "slow payment provider: 870 ms",
    "Payment FAILED for order 42",
    "payment failed for order 43",
    '{"event":"cart","items":3}',
    "cart 18 created",
}
BILLING = INVOICES | {"charge started", "ledger corrupt", "charge queued"}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (LogFilter(query="level:ERROR"), PAYMENTS),
        (LogFilter(query="level:(ERROR OR FATAL)"), PAYMENTS | {"ledger corrupt"}),
        (
            LogFilter(query="service:billing logger:bill.charge"),
            {"charge started", "ledger corrupt", "charge queued"},
        ),
        (LogFilter(apps=("checkout",), query="level:DEBUG"), {'{"event":"cart","items":3}'}),
        (LogFilter(files=("billing.jsonl",), query="invoice"), INVOICES),
        (LogFilter(query='"PAYMENT failed"'), PAYMENTS),
        (LogFilter(query=r"/order \d+$/"), PAYMENTS),
        (LogFilter(query=r"/^invoice [89]/"), INVOICES - {"invoice 7 sent to 'alice'"}),
        (LogFilter(query=r'"\"items\":3"'), {'{"event":"cart","items":3}'}),
        (LogFilter(query="user:alice"), {"cart 17 created"}),
        (LogFilter(query="attributes.http.status_code:200"), SLOW),
        (LogFilter(query="attributes.customer.tier:gold"), SLOW),
        (LogFilter(query="resource.host.name:test-host logger:bill.mail"), INVOICES),
        (LogFilter(query="severity_number:21"), {"ledger corrupt"}),
        (
            LogFilter(start=T0 + timedelta(minutes=30), end=T0 + timedelta(minutes=32)),
            {"payment failed for order 43", "charge started"},
        ),
        (LogFilter(query="level:TRACE"), set()),
        # Exclusions: != (NOT) keeps the records that do not have the field at all.
        (LogFilter(query="service != billing"), CHECKOUT),
        (LogFilter(query="-user:alice"), (CHECKOUT | BILLING) - {"cart 17 created"}),
        (
            LogFilter(query="service:billing logger != bill.mail"),
            {"charge started", "ledger corrupt", "charge queued"},
        ),
        (
            LogFilter(query="level != INFO NOT logger:shop.pay"),
            {
                '{"event":"cart","items":3}',
                "ledger corrupt",
            },
        ),
        (LogFilter(query="attributes.http.status_code != 200"), (CHECKOUT | BILLING) - SLOW),
    ],
)
def test_filters(source: FileSource, flt: LogFilter, expected: set[str]) -> None:
    found = {b if isinstance(b, str) else orjson.dumps(b).decode() for b in bodies(source, flt)}
    assert found == expected
    assert source.count(flt) == len(expected)


def test_time_zones_name_the_same_instant(source: FileSource) -> None:
    paris = ZoneInfo("Europe/Paris")
    # 01:30 UTC is 03:30 in Paris after the switch to summer time (UTC+2) on 2026-03-29.
    local = LogFilter(start=datetime(2026, 3, 29, 2, 0, tzinfo=paris), end=datetime(2026, 3, 29, 3, 35, tzinfo=paris))
    utc = LogFilter(start=datetime(2026, 3, 29, 1, 0, tzinfo=UTC), end=datetime(2026, 3, 29, 1, 35, tzinfo=UTC))
    assert bodies(source, local) == bodies(source, utc)
    assert source.count(local) == 12 - source.count(LogFilter(end=local.start)) - source.count(
        LogFilter(start=local.end)
    )
    state = ViewState(range="abs", start="2026-03-29T01:59", end="2026-03-29T03:02:30", tz="Europe/Paris")
    flt = state.to_filter()
    assert flt.start_utc == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)  # still winter time (UTC+1)
    assert flt.end_utc == datetime(2026, 3, 29, 1, 2, 30, tzinfo=UTC)  # summer time (UTC+2)
    assert bodies(source, flt) == ["ledger corrupt", "charge started", "payment failed for order 43", "charge queued"]
    with pytest.raises(FilterError, match="time zone"):
        ViewState(range="abs", start="2026-03-29T01:31", tz="Mars/Olympus").to_filter()
    with pytest.raises(FilterError, match="starts"):
        ViewState(range="abs", start="2026-03-29T05:00", end="2026-03-29T04:00").to_filter()


def test_relative_presets_end_now() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert ViewState(range="1h").to_filter(now).start == now - timedelta(hours=1)
    assert ViewState(range="all").to_filter(now).start is None
    with pytest.raises(FilterError, match="time range"):
        ViewState(range="3y").to_filter(now)


def test_a_bad_query_is_a_clear_error(source: FileSource) -> None:
    with pytest.raises(QuerySyntaxError, match="bad regular expression"):
        source.page(LogFilter(query="/order (/"))
    with pytest.raises(QuerySyntaxError, match="not a level"):
        source.page(LogFilter(query="level:LOUD"))
    # Python accepts a lookahead, RE2 does not: the query refuses it instead of a traceback from DuckDB.
    with pytest.raises(QueryError, match="look-around"):
        source.page(LogFilter(query="/order (?=4)/"))


def test_fields() -> None:
    assert parse_field("service") == FieldRef("service")
    assert parse_field("body") == FieldRef("message")
    assert parse_field("order_id") == FieldRef("attributes", "order_id")
    assert parse_field("resource.host.name") == FieldRef("resource", "host.name")
    with pytest.raises(FilterError, match="map"):
        parse_field("attributes")
    with pytest.raises(FilterError, match="empty field"):
        parse_field(" ")


def test_levels_from_number_or_text() -> None:
    assert level_of(9, "whatever") == "INFO"
    assert level_of(0, "warning") == "WARN"
    assert level_of(None, "CRITICAL") == "FATAL"
    assert level_of(0, "") == "UNSET"


def test_trace_across_services_in_time_order(source: FileSource) -> None:
    hits = source.trace(TRACE.upper())
    assert [(h.record["service"], h.record["body"]) for h in hits] == [
        ("billing", "charge queued"),
        ("checkout", "payment failed for order 43"),
        ("billing", "charge started"),
    ]
    assert source.trace("ffffffffffffffffffffffffffffffff") == []


def test_context_is_time_order_across_services(source: FileSource) -> None:
    target = next(h for h in source.page(LogFilter(query="ledger")).hits)
    assert target.ref == "billing.jsonl:3"
    hits = source.context(target.ref, before=3, after=2)
    # Time order, not file order: "charge queued" (29 min) was written last in billing.jsonl; checkout's
    # records of the same minutes are in between.
    assert [(h.record["service"], h.record["body"]) for h in hits] == [
        ("billing", "charge queued"),
        ("checkout", "payment failed for order 43"),
        ("billing", "charge started"),
        ("billing", "ledger corrupt"),
        ("checkout", {"event": "cart", "items": 3}),
        ("billing", "invoice 8 sent to 'bob'"),
    ]
    assert hits[3] == target
    own = source.context(target.ref, before=3, after=2, same_service=True)
    assert [h.record["body"] for h in own] == [
        "invoice 7 sent to 'alice'",
        "charge queued",
        "charge started",
        "ledger corrupt",
        "invoice 8 sent to 'bob'",
        "invoice 9 sent to 'carol'",
    ]
    assert [h.record["body"] for h in source.context("billing.jsonl:6", before=1, after=1)] == [
        "Payment FAILED for order 42",
        "charge queued",
        "payment failed for order 43",
    ]
    assert [h.record["body"] for h in source.context("billing.jsonl:5", before=2, after=5)] == [
        "invoice 8 sent to 'bob'",
        "cart 18 created",
        "invoice 9 sent to 'carol'",
    ]
    assert [h.ref for h in source.context("checkout.jsonl:1", before=0, after=0)] == ["checkout.jsonl:1"]
    with pytest.raises(QueryError, match="no file"):
        source.context("nope.jsonl:1")
    with pytest.raises(QueryError, match="reference"):
        source.context("billing.jsonl")
    with pytest.raises(QueryError, match="no record"):
        source.context("billing.jsonl:99")


def test_context_keeps_the_record_among_equal_times(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    for app in ("a", "b"):  # 15 records each, all at the same instant
        records = [make_record(app, T0, body=f"{app}{i}") for i in range(1, 16)]
        (directory / f"{app}.jsonl").write_bytes(to_json_lines(records))
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    # Ties are ordered by file, then row: the window around a.jsonl's last row runs into b.jsonl's first.
    assert [h.ref for h in src.context("a.jsonl:15", before=2, after=2)] == [
        "a.jsonl:13",
        "a.jsonl:14",
        "a.jsonl:15",
        "b.jsonl:1",
        "b.jsonl:2",
    ]
    for ref in ("a.jsonl:1", "a.jsonl:8", "b.jsonl:8", "b.jsonl:15"):
        around = src.context(ref, before=3, after=3)
        assert ref in [h.ref for h in around]
        assert [h.ref for h in src.context(ref, before=3, after=3, same_service=True)] == [
            h.ref for h in around if h.ref.startswith(ref[0])
        ]
    src.close()


def test_hit_by_ref_until_its_file_is_gone(source: FileSource, log_dir: Path) -> None:
    target = source.page(LogFilter(query="ledger")).hits[0]
    assert source.hit(target.ref) == target
    assert source.hit("billing.jsonl:6") == source.page(LogFilter(query='"charge queued"')).hits[0]
    assert source.hit("billing.jsonl:7") is None  # past the file's last row
    assert source.hit("nope.jsonl:1") is None
    with pytest.raises(QueryError, match="reference"):
        source.hit("billing.jsonl")
    (log_dir / "billing.jsonl").unlink()
    source.refresh()
    assert source.hit(target.ref) is None
    assert source.hit("checkout.jsonl:1") is not None


def test_snapshot_pins_pages_while_records_arrive(source: FileSource, log_dir: Path) -> None:
    token = source.snapshot()
    pinned = LogFilter(until=token)
    errors = LogFilter(query="level:ERROR", until=token)
    pages = [source.page(pinned, offset=offset, limit=5) for offset in (0, 5, 10)]
    assert pages == [source.page(LogFilter(), offset=offset, limit=5) for offset in (0, 5, 10)]
    error_page = source.page(errors)
    bounds = source.time_bounds(pinned)
    assert source.newer_than(LogFilter(), token) == 0
    # New records: newer than all, and one arriving late with an old time (it would land on page 2).
    late = [
        make_record("checkout", T0 + timedelta(minutes=60), level=("ERROR", 17), body="late error"),
        make_record("checkout", T0 + timedelta(minutes=61), body="late info"),
        make_record("checkout", T0 + timedelta(minutes=25), body="late arrival, old time"),
    ]
    with open(log_dir / "checkout.jsonl", "ab") as f:
        f.write(to_json_lines(late))
    (log_dir / "audit.jsonl").write_bytes(to_json_lines([make_record("audit", T0 + timedelta(minutes=26))]))
    source.refresh()
    assert source.count(LogFilter()) == 16  # the new records are loaded...
    assert [source.page(pinned, offset=offset, limit=5) for offset in (0, 5, 10)] == pages  # ...and not shown
    assert source.page(errors) == error_page
    assert source.count(pinned) == 12
    assert source.time_bounds(pinned) == bounds
    assert source.newer_than(LogFilter(), token) == 4
    assert source.newer_than(pinned, token) == 4  # flt.until is ignored
    assert source.newer_than(LogFilter(query="level:ERROR"), token) == 1
    assert source.newer_than(LogFilter(query="service:checkout"), token) == 3
    assert source.newer_than(LogFilter(query="late"), token) == 3
    newer = source.snapshot()
    assert newer > token
    assert source.newer_than(LogFilter(), newer) == 0
    assert source.page(LogFilter(until=newer)) == source.page(LogFilter())
    source.refresh()  # nothing new: the token stays
    assert source.snapshot() == newer


def test_volume_buckets_by_level(source: FileSource) -> None:
    volume = source.volume(LogFilter(), 1800)
    counts = {(b.start, b.level): b.count for b in volume.buckets}
    assert counts[(T0, "INFO")] == 3  # 00:30-01:00: cart 17, invoice 7, charge queued
    assert counts[(T0, "ERROR")] == 1
    assert counts[(T0 + timedelta(minutes=30), "FATAL")] == 1
    assert sum(counts.values()) == 12
    assert choose_bucket(T0, T0 + timedelta(hours=1)) == 30
    assert choose_bucket(T0, T0 + timedelta(days=7)) == 3 * 3600


def test_top_values_and_field_names(source: FileSource) -> None:
    top = source.top_values(LogFilter(), FieldRef("logger"), limit=2)
    assert [(v.value, v.count) for v in top] == [("bill.charge", 3), ("bill.mail", 3)]
    levels = {v.value: v.count for v in source.top_values(LogFilter(query="service:checkout"), FieldRef("level"))}
    assert levels == {"INFO": 2, "ERROR": 2, "WARN": 1, "DEBUG": 1}
    users = source.top_values(LogFilter(), parse_field("user"))
    assert {(v.value, v.count) for v in users} == {("alice", 1), ("bob", 1)}
    names = source.field_names(LogFilter())
    assert {"service", "attributes.user", "attributes.http.status_code", "resource.host.name"} <= set(names)


def test_patterns_group_by_template(source: FileSource) -> None:
    groups = {g.template: g for g in source.patterns(LogFilter())}
    invoices = groups["invoice <num> sent to '<str>'"]
    assert invoices.count == 3
    assert invoices.first_seen == T0 + timedelta(minutes=5)
    assert invoices.last_seen == T0 + timedelta(minutes=55)
    assert invoices.growth == 1  # 2 in the second half hour, 1 in the first
    assert groups["cart <num> created"].count == 2
    ordered = [g.template for g in source.patterns(LogFilter())]
    assert ordered[0] == "invoice <num> sent to '<str>'"  # grew most


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("request 123e4567-e89b-12d3-a456-426614174000 took 12.5 ms", "request <uuid> took <num> ms"),
        ("span 00f067aa0ba902b7 at 0x7ffe12", "span <hex> at <hex>"),
        ("user \"alice\" said 'hi 2'", "user \"<str>\" said '<str>'"),
        ("no variables here", "no variables here"),
    ],
)
def test_template_masks(message: str, template: str) -> None:
    assert template_of(message) == template


def test_sql_templates_match_python(tmp_path: Path) -> None:
    import duckdb

    messages = [
        "order 42 for 'bob'",
        "id 123e4567-e89b-12d3-a456-426614174000",
        'x="y" 0xff 3.14',
        "deadbeefcafe0001 ok",
    ]
    con = duckdb.connect()
    rows = con.execute(f"SELECT {template_sql('m')} FROM (SELECT unnest(?) AS m)", [messages]).fetchall()
    assert [r[0] for r in rows] == [template_of(m) for m in messages]


def test_export_csv_and_jsonl(source: FileSource) -> None:
    flt = LogFilter(query="service:billing")
    lines = b"".join(source.export(flt, "jsonl")).splitlines()
    exported = [orjson.loads(line) for line in lines]
    assert sorted(exported, key=lambda r: r["@timestamp"]) == sorted(
        _records()["billing"], key=lambda r: r["@timestamp"]
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(source.export(flt, "csv")).decode())))
    assert len(rows) == 6
    assert rows[0]["message"] == "invoice 9 sent to 'carol'"
    assert rows[0]["level"] == "INFO"


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    good = [make_record("mixed", T0 + timedelta(seconds=i), body=f"good {i}") for i in range(3)]
    lines = [
        to_json_lines([good[0]]),
        b"this is not json\n",
        b"[1, 2, 3]\n",
        b'{"unrelated": true}\n',
        b"\n",
        to_json_lines([good[1]]),
        b'{"@timestamp": "2026-03-29T00:30:00Z", "body": "cut\n',
        to_json_lines([good[2]]),
    ]
    (directory / "mixed.jsonl").write_bytes(b"".join(lines))
    src = FileSource(directory, min_refresh_interval_s=0)
    status = src.refresh()
    assert bodies(src, LogFilter()) == ["good 2", "good 1", "good 0"]
    assert status.records == 3
    assert status.malformed == 4
    src.close()


def test_reads_only_appended_complete_lines(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "live.jsonl"
    first = to_json_lines([make_record("live", T0, body="one")])
    path.write_bytes(first)
    src = FileSource(directory, min_refresh_interval_s=0)
    assert src.refresh().bytes_read_last == len(first)
    assert src.refresh().bytes_read_last == 0  # nothing new, nothing read
    second = to_json_lines([make_record("live", T0 + timedelta(seconds=1), body="two")])
    with open(path, "ab") as f:
        f.write(second[:20])  # a line still being written
    assert src.refresh().bytes_read_last == 0
    assert src.count(LogFilter()) == 1
    with open(path, "ab") as f:
        f.write(second[20:])
    status = src.refresh()
    assert status.bytes_read_last == len(second)
    assert bodies(src, LogFilter()) == ["two", "one"]
    assert [h.ref for h in src.page(LogFilter()).hits] == ["live.jsonl:2", "live.jsonl:1"]
    src.close()


def test_rotation_compression_and_retention(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    live = directory / "app.jsonl"
    live.write_bytes(to_json_lines([make_record("app", T0 + timedelta(seconds=i), body=f"r{i}") for i in range(3)]))
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    # Rotation renames the file (records appended just before the rename included), a new file starts.
    with open(live, "ab") as f:
        f.write(to_json_lines([make_record("app", T0 + timedelta(seconds=3), body="r3")]))
    rotated = directory / "app.20260329T003000.000000Z.jsonl"
    os.replace(live, rotated)
    live.write_bytes(to_json_lines([make_record("app", T0 + timedelta(seconds=4), body="r4")]))
    status = src.refresh()
    assert bodies(src, LogFilter()) == ["r4", "r3", "r2", "r1", "r0"]
    assert status.files == 2
    # Compression writes a .gz beside the rotated file, then removes the plain one: nothing doubles.
    compressed = rotated.with_name(rotated.name + ".gz")
    compressed.write_bytes(gzip.compress(rotated.read_bytes()))
    src.refresh()
    assert src.count(LogFilter()) == 5
    compressed.unlink()
    compressed = compress_file(rotated)
    src.refresh()
    assert src.count(LogFilter()) == 5
    assert src.count(LogFilter(files=(compressed.name,))) == 4
    assert [a.files for a in src.apps()] == [["app.jsonl", compressed.name]]
    # Retention deletes it: its records go.
    compressed.unlink()
    src.refresh()
    assert bodies(src, LogFilter()) == ["r4"]
    src.close()


def test_a_reused_inode_is_a_new_file(tmp_path: Path) -> None:
    # A file system may give a deleted file's inode to the next new file: the live file that
    # follows a rotation can carry the inode of the rotated file that compression just removed.
    # Here it happens every time: a hard link holds the rotated file's inode while compression
    # removes its name, and the next live file is written into that inode.
    directory = tmp_path / "logs"
    directory.mkdir()
    live = directory / "app.jsonl"
    live.write_bytes(to_json_lines([make_record("app", T0 + timedelta(seconds=i), body=f"r{i}") for i in range(3)]))
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    first_inode = live.stat().st_ino
    rotated = directory / "app.20260329T003000.000000Z.jsonl"
    os.replace(live, rotated)
    src.refresh()
    held = directory / "held-inode"  # not a per-app file name: never listed
    os.link(rotated, held)
    compress_file(rotated)
    held.write_bytes(to_json_lines([make_record("app", T0 + timedelta(seconds=i), body=f"r{i}") for i in range(3, 10)]))
    os.replace(held, live)
    assert live.stat().st_ino == first_inode  # the new live file is on the inode of the file read first
    src.refresh()
    assert sorted(bodies(src, LogFilter())) == sorted(f"r{i}" for i in range(10))
    assert src.count(LogFilter(files=("app.jsonl",))) == 7
    src.close()


def test_a_gz_file_on_the_inode_of_a_file_not_read_yet_is_read_once(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    empty = directory / "app.jsonl"
    empty.touch()  # listed, nothing to read yet
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    inode = empty.stat().st_ino
    # The empty file goes and a compressed one comes on its inode (every time: a hard link holds
    # the inode while the name goes, and the compressed bytes are written into it).
    held = directory / "held-inode"  # not a per-app file name: never listed
    os.link(empty, held)
    empty.unlink()
    held.write_bytes(gzip.compress(to_json_lines([make_record("app", T0, body=f"r{i}") for i in range(3)])))
    compressed = directory / "app.20260329T003000.000000Z.jsonl.gz"
    os.replace(held, compressed)
    assert compressed.stat().st_ino == inode
    for _ in range(3):
        src.refresh()
        assert src.count(LogFilter()) == 3
    src.close()


def test_reads_gz_files_found_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    data = to_json_lines([make_record("old", T0 + timedelta(seconds=i), body=f"old {i}") for i in range(4)])
    with gzip.open(directory / "old.20260101T000000.000000Z.jsonl.gz", "wb") as f:
        f.write(data + b"garbage line\n")
    src = FileSource(directory, min_refresh_interval_s=0)
    status = src.refresh()
    assert status.records == 4 and status.malformed == 1
    assert src.context("old.20260101T000000.000000Z.jsonl.gz:2", before=1, after=1)[1].record["body"] == "old 1"
    src.close()


def test_truncated_file_is_read_again(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "t.jsonl"
    path.write_bytes(to_json_lines([make_record("t", T0, body=f"a{i}") for i in range(5)]))
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(to_json_lines([make_record("t", T0, body="fresh")]))
    src.refresh()
    assert bodies(src, LogFilter()) == ["fresh"]
    src.close()


def test_only_per_app_files_in_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    (directory / "sub").mkdir(parents=True)
    outside = tmp_path / "secret.jsonl"
    outside.write_bytes(to_json_lines([make_record("secret", T0, body="secret")]))
    (directory / "link.jsonl").symlink_to(outside)
    (directory / "sub" / "nested.jsonl").write_bytes(outside.read_bytes())
    (directory / "notes.txt").write_text("x")
    (directory / ".hidden.jsonl").write_bytes(outside.read_bytes())
    (directory / "ok.jsonl").write_bytes(to_json_lines([make_record("ok", T0, body="ok")]))
    assert [f.name for f in list_log_files(directory)] == ["ok.jsonl"]
    src = FileSource(directory, min_refresh_interval_s=0)
    src.refresh()
    assert bodies(src, LogFilter()) == ["ok"]
    assert src.page(LogFilter(files=("../secret.jsonl",))).total == 0
    with pytest.raises(QueryError, match="no file"):
        src.context("../secret.jsonl:1")
    assert parse_name("api.v2.20260101T000000.000000Z.jsonl.gz") == ("api.v2", True, True)
    src.close()


def test_missing_directory_is_an_empty_source(tmp_path: Path) -> None:
    src = FileSource(tmp_path / "not-yet", min_refresh_interval_s=0)
    status = src.refresh()
    assert status.records == 0
    assert any("does not exist" in p for p in status.problems)
    assert src.page(LogFilter()).total == 0
    src.close()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service": ["checkout"], "level": ["ERROR"], "s": ["ORDER 42"]}, {"Payment FAILED for order 42"}),
        ({"s": [r"order \d+$"], "re": ["1"]}, PAYMENTS),
        ({"f": ["user!=alice"], "service": ["checkout"]}, CHECKOUT - {"cart 17 created"}),
        ({"logger": ["bill.mail", "shop.pay"], "f": ["resource.host.name=test-host", "level!=ERROR"]}, INVOICES | SLOW),
    ],
)
def test_an_old_links_filters_still_filter(
    source: FileSource, params: dict[str, list[str]], expected: set[str]
) -> None:
    """``level=``, ``service=``, ``logger=``, ``f=``, ``s=``/``re=``: written into the query, even by ``to_filter``
    of a state that did not go through ``with_filters_in_query``."""
    state = ViewState.from_params(params)
    assert state.to_filter() == state.with_filters_in_query().to_filter()
    assert state.to_filter().query == state.with_filters_in_query().query != ""
    found = {b if isinstance(b, str) else orjson.dumps(b).decode() for b in bodies(source, state.to_filter())}
    assert found == expected


def test_url_state_round_trip() -> None:
    state = ViewState(
        apps=["checkout"],
        levels=["ERROR", "WARN"],
        range="abs",
        start="2026-03-29T01:00",
        end="2026-03-29T02:00",
        tz="Europe/Paris",
        matches=["attributes.order_id=42"],
        search="fail",
        regex=True,
        query='service:checkout AND "payment failed"',
        page=3,
        view="trace",
        trace=TRACE,
        live=True,
    )
    params = state.to_params()
    assert params["level"] == ["ERROR", "WARN"] and params["s"] == "fail" and params["re"] == "1"
    assert params["q"] == 'service:checkout AND "payment failed"'  # the query bar
    as_lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    assert ViewState.from_params(as_lists) == state
    assert ViewState().to_params() == {}
    odd = ViewState.from_params({"page": ["-4"], "size": ["7"], "view": ["nope"], "every": ["x"]})
    assert (odd.page, odd.size, odd.view, odd.every) == (1, 100, "records", 5)


def test_many_generated_apps(tmp_path: Path) -> None:
    generated = write_app_logs(tmp_path / "logs", apps=4, per_app=500)
    src = FileSource(tmp_path / "logs", min_refresh_interval_s=0)
    src.refresh()
    assert src.count(LogFilter()) == generated.records
    assert len(src.apps()) == 4
    errors = src.count(LogFilter(query="level:ERROR"))
    assert 0 < errors < generated.records
    assert sum(b.count for b in src.volume(LogFilter(query="level:ERROR"), 60).buckets) == errors
    for app in generated.apps:  # files loaded together keep their own line order (newest first = highest row)
        rows = [int(h.ref.rsplit(":", 1)[1]) for h in src.page(LogFilter(apps=(app,)), limit=500).hits]
        assert rows == list(range(500, 0, -1))
    hit = src.page(LogFilter(apps=("app02",)), limit=1).hits[0]
    assert re.fullmatch(r"app02\.jsonl:\d+", hit.ref)
    assert src.trace(hit.record["trace_id"])[0].record == hit.record
    src.close()


def test_large_reads_are_batched_with_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import otel_logging.dashboard.sources.files as file_source

    monkeypatch.setattr(file_source, "LOAD_BATCH_BYTES", 1)  # one file per batch
    generated = write_app_logs(tmp_path / "logs", apps=4, per_app=300)
    total = sum(p.stat().st_size for p in (tmp_path / "logs").iterdir())
    calls: list[tuple[int, int]] = []
    src = FileSource(tmp_path / "logs", min_refresh_interval_s=0)
    status = src.refresh(progress=lambda done, whole: calls.append((done, whole)))
    assert calls[0] == (0, total) and calls[-1] == (total, total) and len(calls) == 5
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert status.records == generated.records and status.bytes_read_last == total
    for app in generated.apps:
        rows = [int(h.ref.rsplit(":", 1)[1]) for h in src.page(LogFilter(apps=(app,)), limit=300).hits]
        assert rows == list(range(300, 0, -1))
    src.close()
