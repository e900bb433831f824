"""The cost of one evaluation of 100 alert rules over a week of records in the log store.

Uses the files of ``bench/store.py`` (``--records`` records from 20 apps over 7 days, generated there if
missing) and a store over them (``--store``; built if missing: that takes minutes). 100 rules, a mix of every
condition with windows of 5 minutes to 1 hour, are evaluated as ``otel-logging alerts run`` does at each
interval (``AlertsRunner.tick``: one refresh that finds nothing new, then every rule), ``--ticks`` times with
"now" 5 s later each time (so no answer is reused from the source's cache). Prints one JSON line: the tick's
p50 and max in seconds, and the first (cold) tick apart.

``--no-pattern-memo`` makes the new-pattern rules group their whole lookback at every interval (as the first
interval after a start does), for comparison.

Usage: python bench/alerts.py [--records 5000000] [--ticks 5] [--dir DIR] [--store PATH] [--no-pattern-memo]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otel_logging.alerts.evaluate import check  # noqa: E402
from otel_logging.alerts.runner import AlertsRunner  # noqa: E402
from otel_logging.alerts.state import StateFile  # noqa: E402
from otel_logging.dashboard.filters import LogFilter  # noqa: E402
from otel_logging.dashboard.sources.files import FileSource  # noqa: E402


def rules_text(apps: int) -> str:
    """100 rules: 40 counts, 20 ratios, 20 changes, 10 new patterns, 10 silences."""
    out = []
    for i in range(40):
        app = f"app{i % apps:02d}"
        query = f"service:{app} AND level:error" if i % 2 else f'service:{app} AND "declined"'
        out.append(f'[[rule]]\nname = "count {i}"\nquery = {json.dumps(query)}\nwindow = "5m"\ncount_above = 100\n')
    for i in range(20):
        app = f"app{i % apps:02d}"
        out.append(
            f'[[rule]]\nname = "ratio {i}"\nquery = "level:error"\nbase = "service:{app}"\nwindow = "15m"\n'
            "ratio_above = 0.2\n"
        )
    for i in range(20):
        app = f"app{i % apps:02d}"
        out.append(f'[[rule]]\nname = "change {i}"\nquery = "service:{app}"\nwindow = "1h"\nchange_above = 3\n')
    for i in range(10):
        app = f"app{i % apps:02d}"
        out.append(
            f'[[rule]]\nname = "new {i}"\nquery = "service:{app} AND level:error"\nwindow = "5m"\n'
            'new_pattern = true\nlookback = "1d"\n'
        )
    for i in range(10):
        out.append(f'[[rule]]\nname = "silence {i}"\nquery = "service:app{i % apps:02d}"\nsilence = "10m"\n')
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--store", type=Path)
    parser.add_argument(
        "--no-pattern-memo", action="store_true", help="new_pattern rules group their whole lookback every interval"
    )
    args = parser.parse_args()
    base = args.dir or Path(f"/tmp/otel-logging-store-bench/{args.records}")
    log_dir = base / "logs"
    if not log_dir.is_dir():
        from datetime import UTC, datetime

        from bench.store import generate

        generate(log_dir, args.records, args.apps, 7, datetime.now(UTC))
    store = args.store or base / "alerts-bench.duckdb"
    source = FileSource(log_dir, store=store, memory_limit="512MB", min_refresh_interval_s=0)
    started = time.monotonic()
    status = source.refresh(force=True)
    caught_up_s = time.monotonic() - started
    _, newest = source.time_bounds(LogFilter())
    assert newest is not None, "no records"
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch) / "alerts.toml"
        rules.write_text(rules_text(args.apps))
        clock = {"now": newest}
        runner = AlertsRunner(
            rules, source, StateFile(Path(scratch) / "state.json"), lambda e: None, clock=lambda: clock["now"]
        )
        seconds = []
        for tick in range(args.ticks):
            clock["now"] = newest + timedelta(seconds=5 * tick)
            if args.no_pattern_memo:
                runner.evaluator.known_patterns.clear()
            begin = time.monotonic()
            evaluated = runner.tick(monotonic=1e9 * (tick + 1))
            seconds.append(time.monotonic() - begin)
            assert evaluated == 100, evaluated
        firing = sum(st.status == "firing" for st in runner.state.rules.values())
        by_condition: dict[str, float] = {}
        clock["now"] = newest + timedelta(seconds=5 * args.ticks)
        if args.no_pattern_memo:
            runner.evaluator.known_patterns.clear()
        for rule in runner.rules.rules:  # one more round, timed per condition
            begin = time.monotonic()
            check(rule, source, clock["now"], runner.evaluator.known_patterns)
            by_condition[rule.condition] = by_condition.get(rule.condition, 0.0) + time.monotonic() - begin
    source.close()
    print(
        json.dumps(
            {
                "records": status.records,
                "rules": 100,
                "refresh_s": round(caught_up_s, 2),
                "cold_tick_s": round(seconds[0], 3),
                "tick_p50_s": round(statistics.median(seconds[1:] or seconds), 3),
                "tick_max_s": round(max(seconds[1:] or seconds), 3),
                "seconds_by_condition": {k: round(v, 3) for k, v in by_condition.items()},
                "firing": firing,
                "errors": runner.state.counters.evaluation_errors,
            }
        )
    )


if __name__ == "__main__":
    main()
