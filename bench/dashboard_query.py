"""Dashboard query latency over 1,000,000 records in 20 per-app files, through the query layer.

Measured, in one run over the same generated files:

    first page    a new FileSource: read every file into DuckDB, then the newest page (what a user waits
                  for when the dashboard starts over existing logs); target 3 s
    filter+search page() = count + newest 100 rows, for levels ERROR/WARN in 3 of the 20 apps (other apps
                  each run) with a case-insensitive substring; target p50 1 s
    chart         volume() = records per 1-minute bucket and level over the whole set, with a level filter
                  (and a distinct end time each run, so that no answer is reused); target p50 1 s
    baseline      the seed dashboard's way: re-read every file with json.loads per line, filter and
                  search in Python, sort newest first, keep 100 (one run: it is slow)

Usage: python bench/dashboard_query.py [--records 1000000] [--apps 20] [--runs 20] [--dir DIR] [--keep]
Last line: the p50/p95 figures with their ratio to the targets and to the baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otel_logging.dashboard.filters import LogFilter  # noqa: E402
from otel_logging.dashboard.sources.files import FileSource  # noqa: E402
from tests.support.generated_logs import write_app_logs  # noqa: E402

TARGET_QUERY_S = 1.0
TARGET_FIRST_PAGE_S = 3.0
SEARCH_TERMS = ("user 1", "order 4", "PAYMENT", "cache miss", "took 12", "logged in", "declined", "10.0.3")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed_style_page(log_dir: Path, apps: set[str], levels: set[str], needle: str) -> tuple[int, list[dict]]:
    """The baseline: every line parsed in Python on every refresh, then filtered, sorted and cut."""
    matches: list[dict] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        with open(path, "rb") as f:
            for line in f:
                record = json.loads(line)
                if record["service"] not in apps or record["severity_text"] not in levels:
                    continue
                body = record["body"]
                if needle in (body if isinstance(body, str) else json.dumps(body)).lower():
                    matches.append(record)
    matches.sort(key=lambda r: r["@timestamp"], reverse=True)
    return len(matches), matches[:100]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", type=Path, help="reuse (or create) the generated files here")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    log_dir = work / "logs"
    per_app = args.records // args.apps
    if not (log_dir / f"app{args.apps - 1:02d}.jsonl").exists():
        started = time.perf_counter()
        write_app_logs(log_dir, args.apps, per_app, span=timedelta(hours=24))
        print(
            f"generated {per_app * args.apps:,} records in {args.apps} files in {time.perf_counter() - started:.1f} s"
        )
    size_mb = sum(p.stat().st_size for p in log_dir.glob("*.jsonl")) / 1e6

    started = time.perf_counter()
    source = FileSource(log_dir, min_refresh_interval_s=0)
    status = source.refresh()
    loaded = time.perf_counter() - started
    first = source.page(LogFilter(), limit=100)
    first_page = time.perf_counter() - started
    assert status.records == per_app * args.apps and len(first.hits) == 100, status
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"first page: {first_page:.2f} s ({loaded:.2f} s reading {size_mb:.0f} MB, {status.records:,} records); "
        f"peak RSS {rss_mb:.0f} MB"
    )

    apps = ("app01", "app07", "app13")
    filter_times: list[float] = []
    chart_times: list[float] = []
    matched = 0
    # Every run asks something new (the source keeps answers until the data changes: a repeat is free).
    far = datetime.now(UTC) + timedelta(days=365)
    for run in range(args.runs):
        chosen = tuple(f"app{(run + k) % args.apps:02d}" for k in (0, 7, 13))
        flt = LogFilter(apps=chosen, query=f'level:(ERROR OR WARN) "{SEARCH_TERMS[run % len(SEARCH_TERMS)]}"')
        t = time.perf_counter()
        page = source.page(flt, limit=100)
        filter_times.append(time.perf_counter() - t)
        matched += page.total
        levels = ("level:ERROR", "level:(WARN OR ERROR)", "level:INFO", "")[run % 4]
        t = time.perf_counter()
        volume = source.volume(LogFilter(query=levels, end=far + timedelta(seconds=run)), 60)
        chart_times.append(time.perf_counter() - t)
        assert volume.buckets
    assert matched > 0
    f50, f95 = percentile(filter_times, 0.5), percentile(filter_times, 0.95)
    c50, c95 = percentile(chart_times, 0.5), percentile(chart_times, 0.95)
    print(f"filter+search page: p50 {f50 * 1000:.0f} ms, p95 {f95 * 1000:.0f} ms over {args.runs} runs")
    print(f"chart aggregation:  p50 {c50 * 1000:.0f} ms, p95 {c95 * 1000:.0f} ms over {args.runs} runs")

    t = time.perf_counter()
    total, _ = seed_style_page(log_dir, set(apps), {"ERROR", "WARN"}, SEARCH_TERMS[0].lower())
    baseline = time.perf_counter() - t
    expected = source.page(LogFilter(apps=apps, query=f'level:(ERROR OR WARN) "{SEARCH_TERMS[0]}"'), limit=100)
    assert total == expected.total, (total, expected.total)
    print(f"baseline (seed-style full re-read, json.loads per line): {baseline:.2f} s for the same page")
    source.close()
    if not args.keep and args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{status.records:,} records/{args.apps} apps: filter+search p50 {f50:.3f} s ({f50 / TARGET_QUERY_S:.2f}x of "
        f"the 1 s target), p95 {f95:.3f} s; chart p50 {c50:.3f} s ({c50 / TARGET_QUERY_S:.2f}x of 1 s), "
        f"p95 {c95:.3f} s; "
        f"first page {first_page:.2f} s ({first_page / TARGET_FIRST_PAGE_S:.2f}x of the 3 s target); "
        f"filter+search p50 is {baseline / f50:.0f}x faster than the seed-style re-read ({baseline:.2f} s)"
    )


if __name__ == "__main__":
    main()
