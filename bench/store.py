"""The log store over a week of a fleet's logs: catch-up, first page, queries, visibility, memory, disk.

Generates ``--records`` records from ``--apps`` apps spread evenly over the last ``--days`` days, written as
a service rotating daily would leave them (``<app>.<stamp>.jsonl`` per past day, ``<app>.jsonl`` for today),
then measures, each side in its own fresh process so that its peak RSS is its own:

    catch-up      ``otel-logging store rebuild``-equivalent: every file read into a new store (MB/s, peak RSS)
    first page    a new process opens the existing store, refreshes (nothing new) and makes every call of the
                  dashboard's first page with the default range ("all") and no query (``dashboard_page``: the
                  pickers' counts, the field values, the page, the newer-than count, the histogram)
    dashboard     those calls again per round, with the source's answer cache emptied (and once without the
                  roll-up, ``use_rollup = False``, for comparison)
    week search   page() (count + newest 100) with a service/level filter and a message search, whole week
    every app     page() of a message search alone over the whole week (every app, every level): the worst case
    every app, one word  what the dashboard asks for a one-word search over every app and the whole week: the
                  page, the histogram (3-hour buckets) and the pickers' counts (the word index answers them)
    hour search   the same over the last hour
    week chart    volume() per hour and level over the week, with a level filter
    trace         trace(): every record of one trace id
    visible       one record appended to a live file until a refresh + count finds it
    baseline      the in-memory files source (today's dashboard before the store): first page and RSS;
                  only up to --baseline-max records (it holds the whole history in memory)

Targets (issue 15): first page <= 1 s; week search p50 <= 1 s, p95 <= 2 s; hour search p50 <= 0.2 s; week
chart p50 <= 1 s; trace <= 0.3 s; visible <= 2 s; peak RSS of each side <= 1 GB; store < 1/3 of the files.
Queries alternate kinds across rounds (a week search, an hour search, a chart, a trace, again) and every
run asks something new (the source keeps answers until the data changes).

Usage: python bench/store.py [--records 1000000] [--apps 20] [--days 7] [--runs 20] [--dir DIR] [--store PATH]
The generated files are kept in DIR (default /tmp/otel-logging-store-bench/<records>) and reused; the store is
DIR/store.duckdb unless ``--store`` names another file (to keep a store of another version for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from otel_logging.record.names import rotated_name  # noqa: E402

TARGETS = {
    "first_page_s": 1.0,
    "dashboard_p50_s": 1.0,
    "week_search_p50_s": 1.0,
    "week_search_p95_s": 2.0,
    "every_app_search_p50_s": 1.0,
    "every_app_word_p50_s": 1.0,
    "hour_search_p50_s": 0.2,
    "week_chart_p50_s": 1.0,
    "trace_max_s": 0.3,
    "visible_s": 2.0,
    "store_rss_mb": 1024,
    "query_rss_mb": 1024,
    "store_to_files": 1 / 3,
}
SEARCHES = ("declined", "cache miss", "logged in", "took 12", "user 4", "visa-3", "order 9", "10.0.7")
WORDS = ("declined", "cache", "logged", "payment", "request", "placed", "miss", "took", "alice", "card")
MESSAGE_SQL = """
CASE i % 5
  WHEN 0 THEN 'order ' || (h % 99999) || ' placed by user ' || (h % 500)
  WHEN 1 THEN 'payment ' || (h % 99999) || ' declined: card ''visa-' || (h % 500) || ''''
  WHEN 2 THEN 'cache miss for key ' || left(md5(i::VARCHAR), 16)
  WHEN 3 THEN 'request ' || left(md5(h::VARCHAR), 8) || ' took ' || (h % 900) || ' ms'
  ELSE 'user "' || ['alice', 'bob', 'carol', 'dave'][h % 4 + 1] || '" logged in from 10.0.' || (h % 250) || '.1'
END
"""
LEVEL_SQL = "['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR'][h % 6 + 1]"
NUMBER_SQL = "[5, 9, 9, 9, 13, 17][h % 6 + 1]"


def generate(log_dir: Path, records: int, apps: int, days: int, end: datetime) -> None:
    """Write the files with DuckDB (fast): app a's record i at start + i * step, one file per app and day."""
    log_dir.mkdir(parents=True, exist_ok=True)
    per_app = records // apps
    span = timedelta(days=days)
    start = end - span
    step_us = span / timedelta(microseconds=1) / per_app
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for day in range(days):
        low = int(per_app * day / days)
        high = int(per_app * (day + 1) / days)
        for a in range(apps):
            app = f"app{a:02d}"
            last = day == days - 1
            name = f"{app}.jsonl" if last else rotated_name(app, start + timedelta(days=day + 1))
            con.execute(
                f"""
                COPY (
                  SELECT
                    strftime(t, '%Y-%m-%dT%H:%M:%S.%f') || '000Z' AS "@timestamp",
                    strftime(t + INTERVAL 1 MILLISECOND, '%Y-%m-%dT%H:%M:%S.%f') || '000Z' AS observed_timestamp,
                    {LEVEL_SQL} AS severity_text, {NUMBER_SQL} AS severity_number,
                    {MESSAGE_SQL} AS body,
                    '{app}.module' || (i % 7) AS logger, '{app}' AS service,
                    {{'order_id': h % 99999, 'http.status_code': CASE WHEN h % 10 = 0 THEN 500 ELSE 200 END,
                      'customer': {{'tier': 'gold'}}}} AS attributes,
                    {{'service.name': '{app}', 'host.name': 'host-{a % 4}'}} AS resource,
                    md5(i::VARCHAR || '{app}') AS trace_id, left(md5(i::VARCHAR || 's{app}'), 16) AS span_id
                  FROM (
                    SELECT i, (hash(i * 31 + {a}) % 1000000007)::BIGINT AS h,
                           TIMESTAMP '{start.replace(tzinfo=None).isoformat()}'
                             + to_microseconds((i * {step_us})::BIGINT + {a}) AS t
                    FROM range({low}, {high}) r(i)
                  )
                ) TO '{log_dir / name}' (FORMAT json)
                """
            )
    con.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def side_catch_up(log_dir: str, store: str) -> dict:
    from otel_logging.dashboard.sources.files import FileSource
    from otel_logging.store import MEMORY_LIMIT, remove_store

    remove_store(Path(store))
    started = time.perf_counter()
    source = FileSource(log_dir, store=store, memory_limit=MEMORY_LIMIT, min_refresh_interval_s=0)
    status = source.refresh(force=True)
    seconds = time.perf_counter() - started
    source.close()
    return {"seconds": seconds, "records": status.records, "problems": status.problems}


def dashboard_page(source: Any) -> None:
    """The source calls of the dashboard's first page, default range "all", no query (otel_logging/dashboard/app.py
    ``_sidebar``, views.records): the pickers' values and counts, the field values, the page, the histogram."""
    from otel_logging.dashboard.filters import FieldRef, LogFilter, choose_bucket

    flt = LogFilter()
    source.top_values(flt, FieldRef("service"), limit=1000)  # app._all_services
    for name in ("level", "service", "logger"):  # app._counts
        source.top_values(flt, FieldRef(name), limit=200)
    source.field_names(flt)  # app._field_values, default field "service"
    source.top_values(flt, FieldRef("service"), limit=10)
    token = source.snapshot()  # views.records
    pinned = replace(flt, until=token)
    source.page(pinned, offset=0, limit=100)
    source.newer_than(flt, token)
    low, high = source.time_bounds(pinned)  # views._time_span, views._volume
    if low is not None and high is not None:
        source.volume(pinned, choose_bucket(low, high + timedelta(seconds=1)))


def side_queries(log_dir: str, store: str | None, runs: int) -> dict:
    from otel_logging.dashboard.filters import FieldRef, LogFilter
    from otel_logging.dashboard.sources.files import FileSource
    from otel_logging.store import MEMORY_LIMIT

    started = time.perf_counter()
    source = FileSource(log_dir, store=store, memory_limit=MEMORY_LIMIT if store else None, min_refresh_interval_s=0)
    source.refresh(force=True)
    opened = time.perf_counter() - started
    dashboard_page(source)
    out: dict = {"first_page_s": time.perf_counter() - started, "open_refresh_s": opened}
    first = source.page(LogFilter(), limit=100)
    out["records"] = first.total
    if store is None:
        return out
    newest = first.hits[0].record
    end = datetime.fromisoformat(newest["@timestamp"].replace("Z", "")[:26]).replace(tzinfo=UTC)
    week, every_app, one_word, hour, chart, trace, dashboard = [], [], [], [], [], [], []
    found = 0
    for run in range(runs):
        source._answers.clear()  # every figure of the round is computed, not remembered
        t = time.perf_counter()
        dashboard_page(source)
        dashboard.append(time.perf_counter() - t)
        apps = tuple(f"app{(run + k) % 20:02d}" for k in (0, 7, 13))
        levels = ("level:(ERROR OR WARN)", "level:ERROR", "level:(INFO OR WARN)", "")[run % 4]
        term = SEARCHES[run % len(SEARCHES)]
        t = time.perf_counter()
        page = source.page(LogFilter(apps=apps, query=f'{levels} "{term}"'), limit=100)
        week.append(time.perf_counter() - t)
        t = time.perf_counter()
        source.page(LogFilter(query=f'"{term}"'), limit=100)
        every_app.append(time.perf_counter() - t)
        t = time.perf_counter()
        word = LogFilter(query=WORDS[run % len(WORDS)])
        source.page(word, limit=100)
        source.volume(word, 10800)
        for name in ("service", "level", "logger"):
            source.top_values(word, FieldRef(name))
        one_word.append(time.perf_counter() - t)
        found += page.total
        t = time.perf_counter()
        source.page(LogFilter(start=end - timedelta(hours=1, seconds=run), query=f'"{term}"'), limit=100)
        hour.append(time.perf_counter() - t)
        t = time.perf_counter()
        volume = source.volume(LogFilter(query=levels, end=end + timedelta(seconds=run + 1)), 3600)
        chart.append(time.perf_counter() - t)
        assert volume.buckets
        trace_id = page.hits[run % len(page.hits)].record.get("trace_id") if page.hits else None
        if trace_id:
            t = time.perf_counter()
            assert source.trace(trace_id)
            trace.append(time.perf_counter() - t)
    assert found > 0
    # A record appended to a live file: how long until the source shows it.
    # It is stamped with the data's newest time, so the data keep their shape across runs (one more record each).
    live = Path(log_dir) / "app00.jsonl"  # the live file of an app (not a rotated one)
    marker = f"visible-{os.getpid()}-{time.time_ns()}"
    line = json.loads(live.open("rb").readline())
    line["body"] = marker
    line["@timestamp"] = end.isoformat().replace("+00:00", "Z")
    recent = LogFilter(query=f'"{marker}"', start=end - timedelta(minutes=1))
    t = time.perf_counter()
    with open(live, "ab") as f:
        f.write(json.dumps(line).encode() + b"\n")
    while source.count(recent) == 0:
        source.refresh(force=True)
        if time.perf_counter() - t > 30:
            raise SystemExit("the appended record did not become visible within 30 s")
    out["visible_s"] = time.perf_counter() - t
    source._answers.clear()
    source.use_rollup = False
    t = time.perf_counter()
    dashboard_page(source)
    out["dashboard_without_rollup_s"] = time.perf_counter() - t
    source.use_rollup = True
    out.update(
        dashboard_p50_s=percentile(dashboard, 0.5),
        dashboard_p95_s=percentile(dashboard, 0.95),
        week_search_p50_s=percentile(week, 0.5),
        week_search_p95_s=percentile(week, 0.95),
        every_app_search_p50_s=percentile(every_app, 0.5),
        every_app_word_p50_s=percentile(one_word, 0.5),
        hour_search_p50_s=percentile(hour, 0.5),
        week_chart_p50_s=percentile(chart, 0.5),
        trace_max_s=max(trace),
        rounds={
            "dashboard": dashboard,
            "week": week,
            "every app": every_app,
            "one word": one_word,
            "hour": hour,
            "chart": chart,
            "trace": trace,
        },
    )
    source.close()
    return out


def in_child(side: str, *args: str) -> dict:
    """Run one side in a fresh process; its answer and its own peak RSS (MB)."""
    output = subprocess.run(
        [sys.executable, __file__, "--side", side, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--store", type=Path, help="the store's file (default DIR/store.duckdb)")
    parser.add_argument("--baseline-max", type=int, default=5_000_000)
    parser.add_argument("--skip-catch-up", action="store_true", help="reuse the store built by an earlier run")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        answer = {"catch-up": side_catch_up, "queries": side_queries}[args.side](
            *[None if a == "-" else a for a in args.args[:2]], *[int(a) for a in args.args[2:]]
        )
        answer["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(answer))
        return

    work = args.dir or Path("/tmp/otel-logging-store-bench") / str(args.records)
    log_dir, store = work / "logs", args.store or work / "store.duckdb"
    if not (log_dir / f"app{args.apps - 1:02d}.jsonl").exists():
        t = time.perf_counter()
        generate(log_dir, args.records, args.apps, args.days, datetime.now(UTC).replace(microsecond=0))
        print(f"generated {args.records:,} records in {time.perf_counter() - t:.0f} s", flush=True)
    file_bytes = sum(p.stat().st_size for p in log_dir.glob("*.jsonl*"))
    print(
        f"{args.records:,} records, {args.apps} apps, {args.days} days: {file_bytes / 1e9:.2f} GB of JSONL", flush=True
    )

    if not args.skip_catch_up:
        catch = in_child("catch-up", str(log_dir), str(store))
        rate = file_bytes / 1e6 / catch["seconds"]
        print(
            f"catch-up: {catch['seconds']:.1f} s, {rate:.0f} MB/s, {catch['records']:,} records, "
            f"peak RSS {catch['rss_mb']:.0f} MB",
            flush=True,
        )
    else:
        catch = {"rss_mb": float("nan")}
    store_bytes = sum(p.stat().st_size for p in (store, store.with_name(store.name + ".wal")) if p.exists())
    ratio = store_bytes / file_bytes
    print(f"store: {store_bytes / 1e9:.2f} GB = {ratio:.3f} of the JSONL", flush=True)

    q = in_child("queries", str(log_dir), str(store), str(args.runs))
    rounds = q.pop("rounds")
    for kind, values in rounds.items():
        print(f"  {kind:9} rounds (s): " + " ".join(f"{v:.3f}" for v in values))
    print(
        f"dashboard first page after a restart: {q['first_page_s']:.2f} s "
        f"(open + refresh {q['open_refresh_s']:.2f} s); "
        f"the same calls without the roll-up: {q['dashboard_without_rollup_s']:.2f} s"
    )
    figures = {**q, "store_rss_mb": catch["rss_mb"], "query_rss_mb": q["rss_mb"], "store_to_files": ratio}
    for name, target in TARGETS.items():
        value = figures.get(name)
        if value is not None:
            print(f"{name:18} {value:10.3f}   target {target:8.3f}   ({value / target:.2f}x of target)")

    if args.records <= args.baseline_max:
        base = in_child("queries", str(log_dir), "-", "0")
        print(
            f"baseline (in-memory files source, before the store): first page {base['first_page_s']:.2f} s, "
            f"peak RSS {base['rss_mb']:.0f} MB; store: first page {q['first_page_s']:.2f} s "
            f"({base['first_page_s'] / q['first_page_s']:.1f}x faster), peak RSS {q['rss_mb']:.0f} MB "
            f"({base['rss_mb'] / q['rss_mb']:.1f}x less)"
        )
    else:
        print(f"baseline not run over {args.records:,} records (it holds the whole history in memory)")
    print(
        f"SUMMARY {args.records:,} records: first page {q['first_page_s']:.2f} s (dashboard calls p50 "
        f"{q['dashboard_p50_s']:.2f} s, {q['dashboard_without_rollup_s']:.2f} s without the roll-up), week search p50 "
        f"{q['week_search_p50_s']:.2f} s p95 {q['week_search_p95_s']:.2f} s, every-app search p50 "
        f"{q['every_app_search_p50_s']:.2f} s (one word, page + chart + pickers: {q['every_app_word_p50_s']:.2f} s), "
        f"hour search p50 "
        f"{q['hour_search_p50_s']:.3f} s, week chart p50 {q['week_chart_p50_s']:.2f} s, trace max "
        f"{q['trace_max_s']:.3f} s, visible {q['visible_s']:.2f} s, RSS store {catch['rss_mb']:.0f} MB / "
        f"queries {q['rss_mb']:.0f} MB, disk {ratio:.3f} of JSONL"
    )


if __name__ == "__main__":
    main()
