"""``otel-logging query``: the query language (docs/query-language.md) from a terminal. Prints the newest records
that match (oldest of them first, as ``tail`` does), their count, or, with ``--follow``, each new matching record
as it arrives. Reads through the dashboard's source interface: the per-app files (kept in a store of its own,
``<log-dir>/.otel-logging/query/store.duckdb``, so that a second run reads only what the files gained) or
Elasticsearch."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from otel_logging.store import MEMORY_LIMIT, STORE_DIR

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from otel_logging.dashboard.filters import LogFilter
    from otel_logging.dashboard.query import Hit, LogSource

QUERY_STORE = Path("query") / "store.duckdb"  # under <log-dir>/.otel-logging: one process per store
EXAMPLES = """examples:
  otel-logging query 'service:checkout AND level:error' --since 1h
  otel-logging query 'duration_ms > 500' -n 0 --json > slow.jsonl
  otel-logging query --count 'level >= warn' --from 2026-12-04T09:00 --to 2026-12-04T10:00
  otel-logging query -f 'level:error'
  otel-logging query --es-url http://127.0.0.1:9200 'service:api'
"""
PAGE_LIMIT = 10_000  # up to this many newest records are one page; more are read in one pass


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="print the records matching a query (newest N, oldest of them first), their count, or new ones "
        "as they arrive (--follow)",
        description="Print the newest records matching a query (docs/query-language.md), oldest of them first,\n"
        "their count, or (--follow) each new match as it arrives; over the per-app files (kept in a store\n"
        "of its own, read incrementally) or Elasticsearch.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "query",
        nargs="?",
        help="in the query language, e.g. 'service:checkout AND level:error' (none: every record)",
    )
    p.add_argument("--log-dir", type=Path, default=Path("logs"), help="directory of the per-app files (default logs)")
    p.add_argument("--es-url", help="query Elasticsearch (logs-*) instead of the files")
    p.add_argument("--since", help="only records of the last DURATION, e.g. 15m, 2h, 7d")
    p.add_argument("--from", dest="start", help="only records at or after this time, e.g. 2026-12-04T14:30")
    p.add_argument("--to", dest="end", help="only records before this time")
    p.add_argument(
        "--tz",
        default="UTC",
        help="IANA zone of times written without an offset (the query's, --from, --to) and of the times "
        "printed (default UTC)",
    )
    p.add_argument("-n", "--limit", type=int, default=100, help="the newest N matching records (default 100; 0: all)")
    p.add_argument("--json", action="store_true", help="whole records, one JSON line each, instead of text")
    p.add_argument("--count", action="store_true", help="print only how many records match")
    p.add_argument(
        "-f", "--follow", action="store_true", help="then print each new matching record as it arrives (Ctrl-C stops)"
    )
    p.add_argument("--every", default="1s", help="how often --follow looks for new records (default 1s)")
    p.add_argument("--store", type=Path, help=f"the store's file (default <log-dir>/{STORE_DIR}/{QUERY_STORE})")
    p.add_argument("--no-store", action="store_true", help="read the files into memory instead of a store")
    p.add_argument("--memory-limit", default=MEMORY_LIMIT, help=f"DuckDB memory limit (default {MEMORY_LIMIT})")
    p.set_defaults(func=run)


class UsageError(ValueError):
    """A flag or the query cannot be used; the message says which and why."""


def run(args: argparse.Namespace) -> int:
    try:
        flt, zone, every = _read_args(args)
    except UsageError as exc:
        print(f"otel-logging query: {exc}", file=sys.stderr)
        return 2
    from otel_logging.commands.store import refresh_showing_progress
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.querylang import QuerySyntaxError
    from otel_logging.ingest.progress import Progress

    stop = threading.Event()
    restore = _stop_on_signals(stop) if args.follow else None
    source: LogSource | None = None
    try:
        source = _open_source(args)
        # A first run over a large directory reads it all into the store: a bar on a terminal if that takes a while.
        refresh_showing_progress(source, Progress(counts_records=False, delay_s=1.0))
        token = source.snapshot()
        flt = replace(flt, until=token)
        show = _printer(args.json, zone, sys.stdout)
        if args.count:
            print(source.count(flt), flush=True)
        else:
            _print_newest(source, flt, args.limit, show)
        if args.follow:
            _follow(source, flt, token, every, stop, show, args.count)
    except QuerySyntaxError as exc:
        print(f"otel-logging query: {exc}", file=sys.stderr)
        return 2
    except QueryError as exc:
        print(f"otel-logging query: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `| head`: the reader has gone; what is left unwritten goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if restore is not None:
            restore()
        if source is not None:
            source.close()
    return 0


def _read_args(args: argparse.Namespace) -> tuple[LogFilter, ZoneInfo, float]:
    """The filter, the zone and --follow's interval the flags ask for; ``UsageError`` naming the flag otherwise."""
    from otel_logging.dashboard.filters import FilterError, LogFilter
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.querylang import parse
    from otel_logging.dashboard.state import parse_local, zone_named
    from otel_logging.durations import seconds

    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give 0 (every record) or more")
    if args.since and (args.start or args.end):
        raise UsageError("--since cannot be combined with --from or --to")
    if args.count and args.json:
        raise UsageError("--count prints a number: it cannot be combined with --json")
    try:
        zone = zone_named(args.tz)
    except FilterError as exc:
        raise UsageError(f"--tz: {exc}") from exc
    try:
        every = seconds(args.every)
    except ValueError as exc:
        raise UsageError(f"--every: {exc}") from exc
    if every <= 0:
        raise UsageError("--every must be more than 0")
    start = end = None
    try:
        if args.since:
            start = datetime.now(UTC) - timedelta(seconds=seconds(args.since))
        start = parse_local(args.start, zone) if args.start else start
        end = parse_local(args.end, zone) if args.end else None
    except (ValueError, FilterError) as exc:
        flag = "--since" if args.since else "--from/--to"
        raise UsageError(f"{flag}: {exc}") from exc
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--from {args.start} is not before --to {args.end}")
    text = args.query or ""
    try:
        parse(text, zone)  # a mistake is shown with its position before any file is read
    except QueryError as exc:
        raise UsageError(str(exc)) from exc
    return LogFilter(start=start, end=end, query=text, query_zone=zone.key), zone, every


def _open_source(args: argparse.Namespace) -> LogSource:
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.sources import open_source

    if args.es_url:
        return open_source(es_url=args.es_url)
    log_dir = args.log_dir.resolve()
    if not log_dir.is_dir():
        raise QueryError(f"{args.log_dir} is not a directory (--log-dir: where the service writes <app>.jsonl)")
    if args.no_store:
        return open_source(log_dir=log_dir, min_refresh_interval_s=0)
    store = (args.store or log_dir / STORE_DIR / QUERY_STORE).resolve()
    return open_source(log_dir=log_dir, store=store, memory_limit=args.memory_limit, min_refresh_interval_s=0)


Printer = Callable[["list[Hit]"], None]


def _printer(as_json: bool, zone: ZoneInfo, out: TextIO) -> Printer:
    """Prints hits in the order given, as JSON lines or as text, and flushes."""
    from otel_logging.record import to_json_line

    def print_hits(hits: list[Hit]) -> None:
        if as_json:
            out.write(b"".join(to_json_line(hit.record) for hit in hits).decode())
        else:
            out.write("".join(text_line(hit, zone) for hit in hits))
        out.flush()

    return print_hits


def text_line(hit: Hit, zone: ZoneInfo) -> str:
    """``<time> <LEVEL> <service> <logger>: <message> {attributes}``, and the exception on a second line."""
    import orjson

    from otel_logging.dashboard.state import hit_time

    record = hit.record
    attributes = dict(record.get("attributes") or {})
    error = attributes.pop("exception.type", None)
    error_message = attributes.pop("exception.message", None)
    attributes.pop("exception.stacktrace", None)
    text = f"{hit_time(hit, zone)} {hit.level:<5} {record.get('service') or '-'} {record.get('logger') or '-'}: "
    text += hit.message.replace("\n", "\n    ")
    if attributes:
        text += " " + orjson.dumps(attributes).decode()
    if error is not None:
        text += f"\n    {error}: {error_message or ''}".rstrip()
    return text + "\n"


def _print_newest(source: LogSource, flt: LogFilter, limit: int, show: Printer) -> None:
    """The newest ``limit`` records of ``flt`` (0: all), printed oldest first. Up to ``PAGE_LIMIT`` one page (the
    sources answer the newest N quickly); more are read in one pass, newest first, and kept to be printed in
    reverse (``limit`` records in memory); all of them in one pass, oldest first, streamed."""
    if limit == 0:
        for hits in source.all_hits(flt, oldest_first=True):
            show(hits)
        return
    if limit <= PAGE_LIMIT:
        show(list(reversed(source.page(flt, 0, limit).hits)))
        return
    newest: list[Hit] = []
    for hits in source.all_hits(flt):
        newest.extend(hits[: limit - len(newest)])
        if len(newest) >= limit:
            break
    show(list(reversed(newest)))


def _follow(
    source: LogSource, flt: LogFilter, token: int, every: float, stop: threading.Event, show: Printer, count: bool
) -> None:
    """Every ``every`` seconds, the records that arrived since the last look and match (in time order within each
    look; a record that arrives late, with an older time, is still printed once it arrives), or, with ``count``,
    the count again when it changed."""
    last = source.count(flt) if count else 0
    while not stop.wait(every):
        source.refresh(force=True)
        newest = source.snapshot()
        if newest == token:
            continue
        arrived = replace(flt, after=token, until=newest)
        if count:
            total = source.count(replace(flt, until=newest))
            if total != last:
                print(total, flush=True)
                last = total
        else:
            for hits in source.all_hits(arrived, oldest_first=True):
                show(hits)
        token = newest


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM end --follow after its current look; returns what restores the old handlers."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    old: dict[int, Any] = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore
