"""Building sinks from settings: the one place that turns settings into the sinks they name.

Used by ``CentralService`` (``otel-logging serve``), ``otel-logging aggregate`` and the older
``configure_log_aggregation``, so a settings object means the same sinks however it is started.

- ``ServeSettings``: a durable queue + bulk delivery to Elasticsearch (``es_urls``), one durable queue
  per Logstash target (``logstash``), then the per-app files (always last: see ``CentralService``).
- ``AggregateSettings``: per-app files, a rotated JSON-lines file, and remote destinations that send
  and wait (aggregation's checkpoint is its queue; ``otel_logging.ingest.destinations``).
"""

from __future__ import annotations

from collections.abc import Callable

from otel_logging.config import AggregateSettings, ServeSettings
from otel_logging.sinks import Sink
from otel_logging.sinks.files import FileSink, RotationPolicy


def build_sinks(settings: ServeSettings | AggregateSettings) -> list[Sink]:
    """Every sink ``settings`` names, in write order; if one cannot be built, those built are closed."""
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
        lambda: [_file_sink(settings)],
    ]


def _file_sink(settings: ServeSettings) -> FileSink:
    policy = RotationPolicy(
        max_bytes=settings.rotate_bytes,
        interval_s=settings.rotate_interval_s,
        retain_count=settings.retain_count,
        retain_age_s=settings.retain_age_s,
        compress=settings.compress_rotated,
    )
    return FileSink(settings.log_dir, policy, fsync=settings.fsync)


def _elasticsearch_queued(settings: ServeSettings) -> list[Sink]:
    """The Elasticsearch sink (durable queue under <log-dir>/_queue/elasticsearch/) if es_urls are given."""
    if not settings.es_urls:
        return []
    from otel_logging.sinks.elasticsearch import ElasticsearchOptions, elasticsearch_queued_sink

    options = ElasticsearchOptions(
        urls=tuple(settings.es_urls),
        api_key=settings.es_api_key,
        user=settings.es_user,
        password=settings.es_password,
        ca_cert=settings.es_ca_cert,
        namespace=settings.es_namespace,
    )
    return [
        elasticsearch_queued_sink(options, settings.log_dir, max_bytes=settings.queue_max_bytes, fsync=settings.fsync)
    ]


def _logstash_queued(settings: ServeSettings) -> list[Sink]:
    """One durable-queue sink per Logstash target."""
    if not settings.logstash:
        return []
    from otel_logging.sinks.logstash import LogstashTls, logstash_sink, parse_address, sink_name

    names = [sink_name(*parse_address(address)) for address in settings.logstash]
    if len(set(names)) != len(names):
        raise ValueError(f"--logstash: the same target is given twice ({', '.join(settings.logstash)})")
    tls = None
    if settings.logstash_tls or settings.logstash_tls_ca or settings.logstash_tls_cert:
        tls = LogstashTls(
            ca_file=settings.logstash_tls_ca,
            cert_file=settings.logstash_tls_cert,
            key_file=settings.logstash_tls_key,
            server_name=settings.logstash_tls_server_name,
        )
    sinks: list[Sink] = []
    for address in settings.logstash:
        sinks.append(
            logstash_sink(address, settings.log_dir, tls=tls, max_bytes=settings.queue_max_bytes, fsync=settings.fsync)
        )
    return sinks


def _aggregate_steps(settings: AggregateSettings) -> list[_Step]:
    return [
        lambda: [FileSink(settings.log_dir)] if settings.log_dir is not None else [],
        lambda: _output_file(settings),
        lambda: _elasticsearch_direct(settings),
        lambda: _logstash_direct(settings),
    ]


def _output_file(settings: AggregateSettings) -> list[Sink]:
    if settings.output_file is None:
        return []
    from otel_logging.sinks.rotating_file import RotatingFileSink

    return [RotatingFileSink(str(settings.output_file), settings.output_max_bytes, settings.output_backups)]


def _elasticsearch_direct(settings: AggregateSettings) -> list[Sink]:
    if not settings.es_url:
        return []
    from otel_logging.ingest.destinations import elasticsearch_sink

    return [elasticsearch_sink(settings.es_url, settings.es_index)]


def _logstash_direct(settings: AggregateSettings) -> list[Sink]:
    if not settings.logstash:
        return []
    from otel_logging.ingest.destinations import logstash_sink
    from otel_logging.sinks.logstash import parse_address

    return [logstash_sink(*parse_address(settings.logstash))]
