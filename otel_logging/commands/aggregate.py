"""``otel-logging aggregate``: ship existing log files and directories to the sinks, resumably."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from otel_logging.build_info import native_status
from otel_logging.commands.options import SettingsFlags, refuse
from otel_logging.config import (
    AggregateSettings,
    ConfigError,
    ElasticsearchSettings,
    FilesSettings,
    LogstashSettings,
    OutputFileSettings,
    default_of,
)
from otel_logging.ingest.engine import IngestOptions
from otel_logging.ingest.formats import FORMATS

# Flags that set AggregateSettings (where records go) or IngestOptions (how files are read) take their
# defaults from there.
FLAGS = SettingsFlags(AggregateSettings)
INGEST = SettingsFlags(IngestOptions)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "aggregate",
        help="read existing log files into canonical records and ship them (resumable)",
        description="Read log files and directories (plain or .gz) into canonical records and send them to the "
        "per-app files, Elasticsearch and/or Logstash. A checkpoint makes a second run send only what is new.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="log files and/or directories")
    p.add_argument("--app", required=True, help="service.name of the records (unless a line names its own)")
    p.add_argument("--recursive", "-r", action="store_true", help="descend into sub-directories")
    p.add_argument("--glob", help="only files whose name matches, e.g. '*.log*' (in directories; default: all)")
    p.add_argument("--follow", "-f", action="store_true", help="keep tailing: appended lines, new and rotated files")
    INGEST.add(p, "--format", "format", choices=FORMATS, help="force a format (default: detect per file)")
    p.add_argument(
        "--pattern", help="regex with named groups, or a logging format string like '%%(asctime)s %%(message)s'"
    )
    INGEST.add(p, "--timezone", "timezone", help="zone of timestamps that name none (IANA name, default %(default)s)")
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="store secrets as written (default: mask password=..., tokens, card numbers, as the app side does)",
    )
    INGEST.add(
        p,
        "--redact-rules",
        "redact_rules",
        type=Path,
        help='extra redaction rules (JSON: {"keys": [], "patterns": []})',
    )
    p.add_argument("--log-dir", type=Path, help="write per-app files <dir>/<app>.jsonl (default ./logs if no other)")
    FLAGS.note("--log-dir", "files.log_dir")
    FLAGS.add(
        p, "--output-file", "output.path", type=Path, help="also write every record to this JSON-lines file (rotated)"
    )
    FLAGS.add(p, "--output-max-bytes", "output.max_bytes", type=int, help="rotate --output-file at this size")
    FLAGS.add(p, "--output-backups", "output.backups", type=int, help="rotated --output-file copies to keep")
    p.add_argument("--es-url", help="also send to Elasticsearch at this URL, e.g. http://127.0.0.1:9200")
    FLAGS.note("--es-url", "elasticsearch.urls")
    FLAGS.add(p, "--es-index", "elasticsearch.prefix", help="data stream prefix: records go to <prefix>-<app>-default")
    p.add_argument("--logstash", metavar="HOST:PORT", help="also send to Logstash's tcp json_lines input")
    FLAGS.note("--logstash", "logstash.targets")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (default: under ~/.local/state/otel-logging)")
    p.add_argument(
        "--retry-for",
        type=float,
        help="seconds to retry a refusing destination before stopping (60; --follow: forever)",
    )
    INGEST.add(p, "--poll-interval", "poll_interval_s", type=float, help="--follow: seconds between checks for changes")
    INGEST.add(
        p,
        "--multiline-timeout",
        "flush_after_s",
        type=float,
        help="--follow: a record is complete after this many quiet s",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_aggregate)


def aggregate_settings(args: argparse.Namespace) -> AggregateSettings:
    """Where the flags send the records (per-app files in ./logs when no destination is named)."""
    log_dir = args.log_dir
    if log_dir is None and not (args.output_file or args.es_url or args.logstash):
        log_dir = default_of(FilesSettings, "log_dir")
    return AggregateSettings(
        files=FilesSettings(log_dir=log_dir) if log_dir is not None else None,
        output=OutputFileSettings(path=args.output_file, max_bytes=args.output_max_bytes, backups=args.output_backups),
        elasticsearch=ElasticsearchSettings(urls=(args.es_url,) if args.es_url else (), prefix=args.es_index),
        logstash=LogstashSettings(targets=(args.logstash,) if args.logstash else ()),
    )


def _sinks(settings: AggregateSettings) -> tuple[list, list[str]]:
    from otel_logging.sinks.build import build_sinks

    written = [str(p) for p in (settings.files and settings.files.log_dir, settings.output.path) if p is not None]
    return build_sinks(settings), written


def _follow(args: argparse.Namespace, ingestor: Any) -> Any:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.json:
        sys.stdout.write(orjson.dumps({"event": "following", "paths": args.paths}).decode() + "\n")
        sys.stdout.flush()
    return ingestor.follow(args.paths, stop)


def _aggregate(args: argparse.Namespace) -> int:
    from otel_logging.ingest.checkpoint import default_checkpoint_path
    from otel_logging.ingest.engine import Ingestor, fewer_gc_passes
    from otel_logging.ingest.progress import Progress

    try:
        settings = aggregate_settings(args).validate()
    except ConfigError as exc:
        return refuse("aggregate", exc, FLAGS)
    if not args.follow and not any(os.path.lexists(p) for p in args.paths):  # --follow waits for them to appear
        missing = ", ".join(args.paths)
        print(
            f"otel-logging aggregate: nothing to read: {missing}: no such file or directory; nothing was written",
            file=sys.stderr,
        )
        return 1
    status = native_status()
    if not status.startswith("active"):  # said once, at start: this run reads stdlib lines on the slower path
        print(f"otel-logging aggregate: native code {status}", file=sys.stderr)
    try:
        sinks, written = _sinks(settings)
        options = IngestOptions(
            service=args.app,
            format=args.format,
            pattern=args.pattern,
            timezone=args.timezone,
            recursive=args.recursive,
            glob=args.glob,
            checkpoint_path=args.checkpoint or default_checkpoint_path(args.app),
            retry_for_s=args.retry_for,
            poll_interval_s=args.poll_interval,
            flush_after_s=args.multiline_timeout,
            redact=not args.no_redact,
            redact_rules=args.redact_rules,
            exclude=frozenset(os.path.abspath(p) for p in written),
        )
        ingestor = Ingestor(sinks, options, Progress(sys.stderr, enabled=sys.stderr.isatty() and not args.json))
    except (ValueError, OSError, RuntimeError) as exc:
        return refuse("aggregate", exc, FLAGS, INGEST)
    try:
        with fewer_gc_passes():
            summary = _follow(args, ingestor) if args.follow else ingestor.run(args.paths)
    finally:
        ingestor.progress.close()
        ingestor.close()
    for report in summary.failed:
        print(f"otel-logging aggregate: {report.path}: {report.error}", file=sys.stderr)
    if summary.delivery_error:
        print(f"otel-logging aggregate: {summary.delivery_error}", file=sys.stderr)
    if args.json:
        sys.stdout.write(orjson.dumps(summary.to_dict()).decode() + "\n")
    elif not sys.stderr.isatty():
        data = summary.to_dict()
        print(
            f"otel-logging aggregate: {_count(data['records'], 'record')} from {_count(data['files'], 'file')} "
            f"({data['files_failed']} failed) in {data['seconds']} s",
            file=sys.stderr,
        )
    return summary.exit_code()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
