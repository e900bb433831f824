"""Building sinks from settings: the one place that turns settings into the sinks they name.

Used by ``CentralService`` (``otel-logging serve``), ``otel-logging aggregate`` and the older
``configure_log_aggregation``, so a settings object means the same sinks however it is started.

- ``ServeSettings``: a durable queue + bulk delivery to Elasticsearch (``elasticsearch.urls``), one
  durable queue per Logstash target (``logstash.targets``), each bounded by ``queue.max_bytes``, then the
  per-app files (``files``; always last: see ``CentralService``).
- ``AggregateSettings``: per-app files, a rotated JSON-lines file (``output``), and remote destinations
  that send and wait (aggregation's checkpoint is its queue; ``otel_logging.ingest.destinations``).

The settings are validated (``validate()``) before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from otel_logging.config import AggregateSettings, FilesSettings, LogstashSettings, ServeSettings
from otel_logging.sinks import Sink
from otel_logging.sinks.files import FileSink, RotationPolicy

if TYPE_CHECKING:
    from otel_logging.sinks.logstash import LogstashTls


def build_sinks(settings: ServeSettings | AggregateSettings) -> list[Sink]:
    """Every sink ``settings`` names, in write order; if one cannot be built, those built are closed.

    Raises ``ConfigError`` (a ValueError naming the setting) for settings that do not validate.
    """
    settings.validate()
    steps = _serve_steps(settings) if isinstance(settings, ServeSettings) else _aggregate_steps(settings)
    sinks: list[Sink] = []
    try:
        for step in steps:
            sinks.extend(step())
    except BaseException:
        for sink in reversed(sinks):
            sink.close()
        raise
    return sinks


_Step = Callable[[], list[Sink]]


def _serve_steps(settings: ServeSettings) -> list[_Step]:
    # Durable queues first, the per-app file last: a full queue refuses the request (503, the client
    # retries) before anything is in the file, so a retry does not duplicate file lines.
    return [
        lambda: _elasticsearch_queued(settings),
        lambda: _logstash_queued(settings),
        lambda: [file_sink(settings.files)],
    ]


def file_sink(files: FilesSettings) -> FileSink:
    """The per-app files ``<files.log_dir>/<app>.jsonl`` with the rotation and retention of ``files``."""
    policy = RotationPolicy(
        max_bytes=files.rotate_bytes,
        interval_s=files.rotate_interval_s,
        retain_count=files.retain_count,
        retain_age_s=files.retain_age_s,
        compress=files.compress_rotated,
    )
    return FileSink(files.log_dir, policy, fsync=files.fsync, drop_replays=files.drop_replayed_writes)


def _elasticsearch_queued(settings: ServeSettings) -> list[Sink]:
    """The Elasticsearch sink (durable queue under <log-dir>/_queue/elasticsearch/) if urls are given."""
    if not settings.elasticsearch.enabled:
        return []
    from otel_logging.sinks.elasticsearch import elasticsearch_queued_sink

    return [
        elasticsearch_queued_sink(
            settings.elasticsearch,
            settings.files.log_dir,
            max_bytes=settings.queue.max_bytes,
            fsync=settings.files.fsync,
        )
    ]


def _logstash_tls(logstash: LogstashSettings) -> LogstashTls | None:
    from otel_logging.sinks.logstash import LogstashTls

    if not logstash.tls_enabled:
        return None
    return LogstashTls(
        ca_file=logstash.tls_ca,
        cert_file=logstash.tls_cert,
        key_file=logstash.tls_key,
        server_name=logstash.tls_server_name,
    )


def _logstash_queued(settings: ServeSettings) -> list[Sink]:
    """One durable-queue sink per Logstash target."""
    logstash = settings.logstash
    if not logstash.enabled:
        return []
    from otel_logging.sinks.logstash import logstash_sink

    tls = _logstash_tls(logstash)
    return [
        logstash_sink(
            address, settings.files.log_dir, tls=tls, max_bytes=settings.queue.max_bytes, fsync=settings.files.fsync
        )
        for address in logstash.targets
    ]


def _aggregate_steps(settings: AggregateSettings) -> list[_Step]:
    return [
        lambda: [file_sink(settings.files)] if settings.files is not None else [],
        lambda: _output_file(settings),
        lambda: _elasticsearch_direct(settings),
        lambda: _logstash_direct(settings),
    ]


def _output_file(settings: AggregateSettings) -> list[Sink]:
    output = settings.output
    if output.path is None:
        return []
    from otel_logging.sinks.rotating_file import RotatingFileSink

    return [RotatingFileSink(str(output.path), output.max_bytes, output.backups)]


def _elasticsearch_direct(settings: AggregateSettings) -> list[Sink]:
    if not settings.elasticsearch.enabled:
        return []
    from otel_logging.ingest.destinations import elasticsearch_sink

    return [elasticsearch_sink(settings.elasticsearch)]


def _logstash_direct(settings: AggregateSettings) -> list[Sink]:
    if not settings.logstash.enabled:
        return []
    from otel_logging.ingest.destinations import logstash_sink

    tls = _logstash_tls(settings.logstash)
    options = {"tls": tls} if tls is not None else {}
    return [logstash_sink(host, port, **options) for host, port in settings.logstash.addresses()]
