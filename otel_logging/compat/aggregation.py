"""Log aggregation: existing log files and directories -> canonical records -> the project's sinks.

    aggregator = LogAggregator("billing", log_dir="/var/log/billing", files_dir="logs")
    aggregator.add_handler(FileRotatingHandler("aggregated.jsonl", max_bytes=10 << 20, backup_count=5))
    aggregator.aggregate_log_directory()          # everything under /var/log/billing, resumable
    aggregator.aggregate_log_file("/var/log/billing/old.log.gz")

    stop = configure_log_aggregation("billing", "/var/log/billing", es_host="127.0.0.1", es_port=9200)
    ...                                           # the directory is followed in a background thread
    stop()                                        # or stop.stop(); it is also a context manager

``log_dir`` is the app's own log directory (what is read). ``files_dir`` is where per-app files
are written, the directory ``otel-logging serve --log-dir`` uses. Handlers are sinks (see
``otel_logging.compat.aggregation_handlers``); a checkpoint file makes every call resumable.
``ElasticsearchHandler`` and ``LogstashHandler`` are importable from here too (loaded on first use).

Deprecated: ``otel-logging aggregate`` (the same reader, formats, checkpoints and destinations), or in Python
``otel_logging.ingest`` (``ingest.engine.Ingestor`` with ``sinks.build.build_sinks``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from otel_logging.compat import internal_use, warn_deprecated
from otel_logging.compat.aggregation_handlers import FileRotatingHandler, LoggingHandlerSink, as_sink
from otel_logging.ingest.checkpoint import default_checkpoint_path
from otel_logging.ingest.engine import FileReport, IngestOptions, Ingestor, Summary
from otel_logging.ingest.progress import Progress
from otel_logging.sinks import Sink
from otel_logging.sinks.files import FileSink

__all__ = [
    "AggregationHandle",
    "FileReport",
    "FileRotatingHandler",
    "LogAggregator",
    "LoggingHandlerSink",
    "Summary",
    "configure_log_aggregation",
    "default_checkpoint_path",
]


def __getattr__(name: str) -> Any:
    """The seed's remote handlers, from the modules that implement them (imported on first use)."""
    if name == "LogstashHandler":
        from otel_logging.compat.handlers_logstash import LogstashHandler

        return LogstashHandler
    if name == "ElasticsearchHandler":
        from otel_logging.compat.handlers import ElasticsearchHandler

        return ElasticsearchHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_REPLACEMENT = "use `otel-logging aggregate` (or otel_logging.ingest: Ingestor with sinks.build.build_sinks)"


class LogAggregator:
    """Reads an app's existing log files into canonical records and sends them to every handler."""

    def __init__(
        self,
        app_name: str,
        log_dir: str | Path | None = None,
        *,
        files_dir: str | Path | None = None,
        handlers: list[Any] | None = None,
        checkpoint: str | Path | None = None,
        log_format: str = "auto",
        pattern: str | None = None,
        timezone: str = "UTC",
        glob: str | None = None,
        recursive: bool = False,
        progress: Progress | None = None,
        poll_interval_s: float = 0.25,
        multiline_timeout_s: float = 1.0,
    ) -> None:
        warn_deprecated("LogAggregator", _REPLACEMENT)
        self.app_name = app_name
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.sinks: list[Sink] = []
        exclude: list[str] = []
        if files_dir is not None:
            sink = FileSink(files_dir)
            self.sinks.append(sink)
            exclude.append(os.path.abspath(sink.log_dir))
        for handler in handlers or []:
            self.add_handler(handler)
        self.options = IngestOptions(
            service=app_name,
            format=log_format,
            pattern=pattern,
            timezone=timezone,
            recursive=recursive,
            glob=glob,
            checkpoint_path=Path(checkpoint) if checkpoint is not None else default_checkpoint_path(app_name),
            exclude=frozenset(exclude),
            poll_interval_s=poll_interval_s,
            flush_after_s=multiline_timeout_s,
        )
        self._ingestor = Ingestor(self.sinks, self.options, progress)

    def add_handler(self, handler: Any) -> Any:
        """Send records to ``handler`` too (a sink, a handler wrapping one, or a ``logging.Handler``)."""
        sink = as_sink(handler)
        self.sinks.append(sink)
        base = getattr(sink, "baseFilename", None)
        if base is not None:
            self._exclude(base)
        return handler

    def _exclude(self, path: str) -> None:
        if hasattr(self, "options"):
            self.options.exclude = self.options.exclude | {os.path.abspath(path)}
            self._ingestor._exclude = self._ingestor._exclude | {os.path.abspath(path)}

    def _require_sinks(self) -> None:
        if not self.sinks:
            raise ValueError(
                f"LogAggregator({self.app_name!r}) has nowhere to send records: "
                "pass files_dir=... or add_handler(...) first"
            )

    def aggregate_log_file(self, path: str | Path) -> FileReport:
        """Ship one file from its checkpoint to its end; the report says what happened."""
        self._require_sinks()
        return self._ingestor.ingest_file(os.path.abspath(path))

    def aggregate_log_directory(self, path: str | Path | None = None, *, recursive: bool | None = None) -> Summary:
        """Ship every matching file of ``path`` (default ``log_dir``) from its checkpoint to its end."""
        self._require_sinks()
        directory = path if path is not None else self.log_dir
        if directory is None:
            raise ValueError("aggregate_log_directory needs a path (or LogAggregator(..., log_dir=...))")
        if recursive is not None:
            self.options.recursive = recursive
        return self._ingestor.run([str(directory)])

    def follow(self, paths: list[str | Path] | None = None, stop: threading.Event | None = None) -> Summary:
        """Tail ``paths`` (default ``log_dir``) until ``stop`` is set."""
        self._require_sinks()
        targets = [str(p) for p in paths] if paths else ([str(self.log_dir)] if self.log_dir else [])
        if not targets:
            raise ValueError("follow needs paths (or LogAggregator(..., log_dir=...))")
        return self._ingestor.follow(targets, stop)

    def start(self, paths: list[str | Path] | None = None) -> AggregationHandle:
        """``follow`` in a background thread; the handle stops it."""
        self._require_sinks()
        stop = threading.Event()
        handle = AggregationHandle(self, stop)
        handle.thread = threading.Thread(
            target=handle._run, args=(paths,), name=f"otel-logging-aggregate-{self.app_name}", daemon=True
        )
        handle.thread.start()
        return handle

    def close(self) -> None:
        self._ingestor.close()


class AggregationHandle:
    """A background follow loop: call it (or ``stop()``) to stop; ``summary`` holds the result after."""

    def __init__(self, aggregator: LogAggregator, stop_event: threading.Event) -> None:
        self.aggregator = aggregator
        self.stop_event = stop_event
        self.thread: threading.Thread | None = None
        self.summary: Summary | None = None
        self.error: BaseException | None = None

    def _run(self, paths: list[str | Path] | None) -> None:
        try:
            self.summary = self.aggregator.follow(paths, self.stop_event)
        except BaseException as exc:  # reported through the handle
            self.error = exc

    def stop(self, timeout: float = 30.0) -> Summary | None:
        """Stop following, close the sinks, return the summary."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)
        self.aggregator.close()
        if self.error is not None:
            raise self.error
        return self.summary

    def __call__(self) -> Summary | None:
        return self.stop()

    def __enter__(self) -> AggregationHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def configure_log_aggregation(
    app_name: str,
    log_dir: str | Path,
    es_host: str | None = None,
    es_port: int = 9200,
    es_index: str | None = None,
    logstash_host: str | None = None,
    logstash_port: int = 5000,
    output_file: str | Path | None = None,
    *,
    files_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    max_bytes: int = 10 << 20,
    backup_count: int = 5,
    **options: Any,
) -> AggregationHandle:
    """Follow ``log_dir`` in the background and ship to Elasticsearch, Logstash, ``output_file``
    (rotated JSON lines) and/or ``files_dir`` (per-app files). Returns a handle; call it to stop."""
    warn_deprecated("configure_log_aggregation()", _REPLACEMENT)
    from otel_logging.config import AggregateSettings, ElasticsearchSettings, LogstashSettings, OutputFileSettings
    from otel_logging.sinks.build import build_sinks

    es_prefix = {"prefix": es_index} if es_index else {}  # unset: the settings' default prefix (logs)
    logstash_targets: tuple[str, ...] = ()
    if logstash_host:
        logstash_targets = (
            f"[{logstash_host}]:{logstash_port}" if ":" in logstash_host else f"{logstash_host}:{logstash_port}",
        )
    settings = AggregateSettings(
        output=OutputFileSettings(
            path=Path(output_file) if output_file is not None else None, max_bytes=max_bytes, backups=backup_count
        ),
        elasticsearch=ElasticsearchSettings(urls=(f"http://{es_host}:{es_port}",) if es_host else (), **es_prefix),
        logstash=LogstashSettings(targets=logstash_targets),
    )
    sinks = build_sinks(settings)  # files_dir: LogAggregator's own FileSink, which it keeps out of what it reads
    with internal_use():  # one warning: this call's
        aggregator = LogAggregator(app_name, log_dir, files_dir=files_dir, checkpoint=checkpoint, **options)
    for sink in sinks:
        aggregator.add_handler(sink)
    return aggregator.start()
