"""Remote destinations for aggregation, built on the project's own sink modules.

Aggregation needs no durable queue in front of a remote destination: the log files and the
checkpoint already are one. So a destination's ``write`` sends and waits for the destination's
confirmation; when it cannot, it raises ``SinkError``, the engine retries with backoff, and the
checkpoint stays before the batch until it is confirmed.

- Logstash: ``otel_logging.sinks.logstash.LogstashTransport`` (TCP json_lines; a batch counts as
  sent once Logstash's TCP stack acknowledged it and the connection is still up).
- Elasticsearch: ``otel_logging.sinks.elasticsearch.direct_sink`` (bulk ``create`` into data streams
  ``<prefix>-<dataset>-<namespace>``; document ids from the record, so a resend is stored once).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_logging.record import RecordBatch
from otel_logging.sinks import Sink

if TYPE_CHECKING:
    from otel_logging.config import ElasticsearchSettings

LOGSTASH_PIECE = 2_000  # lines per confirmed send: bounds what a retry sends again


class DestinationUnavailable(RuntimeError):
    """The sink module for a destination is not part of this installation."""


class LogstashDestination:
    """Canonical records to Logstash, each piece confirmed before ``write`` returns."""

    def __init__(self, host: str, port: int, **transport_options: Any) -> None:
        from otel_logging.sinks.logstash import LogstashTransport

        self.transport = LogstashTransport(host, port, **transport_options)
        self.name = f"logstash:{self.transport.name}"
        self._confirmed: tuple[int, int] = (0, 0)  # (id of the batch, lines of it already confirmed)

    def write(self, batch: RecordBatch) -> None:
        lines, _services = batch.split_lines()
        batch_id = id(batch)
        confirmed_id, done = self._confirmed
        start = done if confirmed_id == batch_id else 0  # a retry of the same batch resumes after its last piece
        for i in range(start, len(lines), LOGSTASH_PIECE):
            self.transport.send(lines[i : i + LOGSTASH_PIECE])  # raises LogstashUnavailable (a SinkError)
            self._confirmed = (batch_id, i + LOGSTASH_PIECE)
        self._confirmed = (0, 0)

    def close(self) -> None:
        self.transport.close()


def logstash_sink(host: str, port: int, **transport_options: Any) -> Sink:
    """A sink sending JSON lines to Logstash's ``tcp`` input at ``host:port`` (``tls=LogstashTls(...)``)."""
    return LogstashDestination(host, port, **transport_options)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"otel_logging.sinks.{name}")
    except ImportError as exc:
        raise DestinationUnavailable(f"the {name} sink is not available in this installation ({exc})") from exc


def elasticsearch_sink(settings: ElasticsearchSettings) -> Sink:
    """A sink writing to the Elasticsearch the settings name: data streams ``<prefix>-<app>-<namespace>``."""
    module = _module("elasticsearch")
    sink: Sink = module.direct_sink(settings)
    return sink
