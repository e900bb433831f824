"""``otel-logging store``: rebuild, inspect or keep up to date the log store of a log directory."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import orjson

from otel_logging.alerts import DEFAULT_DASHBOARD_URL
from otel_logging.commands.alerts import add_alert_flags
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.sources.logfiles import list_log_files
from otel_logging.ingest.progress import Progress
from otel_logging.store import IN_USE, MEMORY_LIMIT, default_store_path, remove_store, store_files, store_in_use

if TYPE_CHECKING:  # DuckDB is imported only by the store commands, not by every `otel-logging` start
    from otel_logging.dashboard.query import LogSource, SourceStatus
    from otel_logging.dashboard.sources.files import FileSource


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="rebuild, inspect or follow the log store of a log directory")
    actions = p.add_subparsers(dest="action", required=True)
    for name, text, run in (
        ("rebuild", "delete the store and read every file again (with a progress bar)", _rebuild),
        ("status", "print the store's records, files and size next to the files' (one JSON line)", _status),
        ("follow", "keep the store up to date as the files grow (Ctrl-C stops)", _follow),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("--log-dir", type=Path, default=Path("logs"), help="directory of the per-app files")
        a.add_argument("--store", type=Path, help="the store's file (default <log-dir>/.otel-logging/store.duckdb)")
        a.add_argument("--memory-limit", default=MEMORY_LIMIT, help=f"DuckDB memory limit (default {MEMORY_LIMIT})")
        if name == "follow":
            a.add_argument("--interval", type=float, default=1.0, help="seconds between reads (default 1)")
            add_alert_flags(a, link_default=DEFAULT_DASHBOARD_URL)
        a.set_defaults(func=run)


def _paths(args: argparse.Namespace) -> tuple[Path, Path] | None:
    log_dir = args.log_dir.resolve()
    if not log_dir.is_dir():
        print(f"otel-logging store: --log-dir {log_dir} is not a directory", file=sys.stderr)
        return None
    return log_dir, (args.store or default_store_path(log_dir)).resolve()


def _open(log_dir: Path, store: Path, args: argparse.Namespace) -> FileSource | None:
    from otel_logging.dashboard.sources.files import FileSource

    try:
        return FileSource(log_dir, store=store, memory_limit=args.memory_limit, min_refresh_interval_s=0)
    except QueryError as exc:
        print(f"otel-logging store: {exc}", file=sys.stderr)
        return None


def _open_from_args(args: argparse.Namespace) -> tuple[Path, Path, FileSource] | int:
    """(log dir, store, the source over it), or the exit code of what went wrong (already said on stderr)."""
    paths = _paths(args)
    if paths is None:
        return 2
    source = _open(*paths, args)
    return 1 if source is None else (*paths, source)


def refresh_showing_progress(source: LogSource, bar: Progress) -> SourceStatus:
    """``source.refresh(force=True)``, ``bar`` advanced by the bytes it reads (planned then if it was not)."""
    seen = [0]

    def progress(done: int, total: int) -> None:
        if not bar.total_bytes:
            bar.plan(bar.total_files, total)
        bar.advance(done - seen[0], 0)
        seen[0] = done

    status = source.refresh(force=True, progress=progress)
    bar.files_done = bar.total_files = status.files
    bar.close()
    return status


def _rebuild(args: argparse.Namespace) -> int:
    paths = _paths(args)
    if paths is None:
        return 2
    log_dir, store = paths
    if store_in_use(store):  # deleting it would leave its holder writing to a file no longer there
        print(f"otel-logging store: cannot rebuild the store {store}: {IN_USE}", file=sys.stderr)
        return 1
    files = list_log_files(log_dir)
    bar = Progress(enabled=None, counts_records=False)  # the store tells bytes read as it goes
    bar.plan(len(files), sum(f.size for f in files))
    remove_store(store)
    source = _open(log_dir, store, args)
    if source is None:
        return 1
    started = time.monotonic()
    status = refresh_showing_progress(source, bar)
    source.close()
    print(
        orjson.dumps(
            {
                "event": "rebuilt",
                "store": str(store),
                "records": status.records,
                "files": status.files,
                "malformed": status.malformed,
                "seconds": round(time.monotonic() - started, 2),
                "problems": status.problems,
            }
        ).decode()
    )
    return 1 if status.problems else 0


def _status(args: argparse.Namespace) -> int:
    opened = _open_from_args(args)
    if isinstance(opened, int):
        return opened
    log_dir, store, source = opened
    status = source.refresh(force=True)
    source.close()
    store_bytes = sum(p.stat().st_size for p in store_files(store))
    file_bytes = sum(f.size for f in list_log_files(log_dir))
    report = {
        "store": str(store),
        "records": status.records,
        "files": status.files,
        "store_bytes": store_bytes,
        "file_bytes": file_bytes,
        "store_to_files": round(store_bytes / file_bytes, 3) if file_bytes else None,
        "problems": status.problems,
    }
    print(orjson.dumps(report).decode())
    return 0


def _follow(args: argparse.Namespace) -> int:
    opened = _open_from_args(args)
    if isinstance(opened, int):
        return opened
    log_dir, store, source = opened
    host = None
    if args.alerts:  # evaluated here, on the store this process holds (no dashboard runs)
        from otel_logging.alerts.host import AlertsHost
        from otel_logging.alerts.rules import RuleFileError

        try:
            host = AlertsHost(
                args.alerts,
                source,
                log_dir,
                dashboard_url=args.dashboard_url,
                state_path=args.alerts_state,
                metrics_port=args.alerts_metrics_port,
            )
        except RuleFileError as exc:
            for problem in exc.problems:
                print(f"otel-logging store follow: --alerts {args.alerts}: {problem}", file=sys.stderr)
            source.close()
            return 1
        except OSError as exc:
            port = args.alerts_metrics_port
            print(f"otel-logging store follow: --alerts-metrics-port {port}: {exc.strerror or exc}", file=sys.stderr)
            source.close()
            return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        if host is not None:
            host.reload()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    status = source.refresh(force=True)
    print(orjson.dumps({"event": "following", "store": str(store), "records": status.records}).decode(), flush=True)
    if host is not None:
        host.start()
    try:
        while not stop.wait(args.interval):
            source.refresh(force=True)
    finally:
        if host is not None:
            host.stop()
        source.close()
    return 0
