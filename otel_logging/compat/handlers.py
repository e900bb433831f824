"""``ElasticsearchHandler``: the older API's handler, writing canonical records to ES data streams.

    handler = ElasticsearchHandler(Elasticsearch("http://127.0.0.1:9200"), index_name="logs")
    logging.getLogger().addHandler(handler)

A thin adapter over ``otel_logging.sinks.elasticsearch``: each ``LogRecord`` becomes the canonical
record (the same conversion as ``LogstashHandler``), documents go to the data stream
``<index_name>-<dataset>-<namespace>`` (``index_name`` is the prefix, so ``logs`` gives streams a
Kibana data view ``logs-*`` sees), with the same templates, document ids and error handling as the
central service's sink. Sending happens in batches on a background thread; the buffer in between is
in memory and bounded (``max_buffer``): records beyond it are counted in ``dropped``. For records
that must survive outages, send them to ``otel-logging serve --es-url`` (durable queue).

Deprecated: ``otel_logging.setup()`` in the app and ``otel-logging serve --es-url`` (or, for files,
``otel-logging aggregate --es-url``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from otel_logging.compat import warn_deprecated
from otel_logging.compat.handlers_base import BufferedRecordHandler, Retry
from otel_logging.extras import extra_for
from otel_logging.record import Record, RecordBatch
from otel_logging.sinks import SinkError


class ElasticsearchHandler(BufferedRecordHandler):
    """Send stdlib log records to Elasticsearch data streams ``<index_name>-<dataset>-<namespace>``."""

    def __init__(
        self,
        es_client: Any,
        index_name: str = "logs",
        *,
        service_name: str | None = None,
        namespace: str = "default",
        level: int = logging.NOTSET,
        resource: dict[str, Any] | None = None,
        batch_size: int = 500,
        max_buffer: int = 10_000,
        retry_interval_s: float = 1.0,
    ) -> None:
        warn_deprecated(
            "ElasticsearchHandler",
            "use otel_logging.setup() in the app and `otel-logging serve --es-url URL` (a durable queue), "
            "or `otel-logging aggregate --es-url URL` for files",
        )
        super().__init__(
            service_name=service_name,
            level=level,
            resource=resource,
            max_buffer=max_buffer,
            batch_size=batch_size,
            retry_interval_s=retry_interval_s,
            thread_name="otel-logging-elasticsearch",
        )
        try:
            from otel_logging.sinks.elasticsearch import DataStreamNames, ElasticsearchDirectSink
        except ModuleNotFoundError as exc:  # the app-side install has no Elasticsearch client
            raise (extra_for(exc, "ElasticsearchHandler") or exc) from exc

        self.names = DataStreamNames(index_name, namespace)
        self.sink = ElasticsearchDirectSink(es_client, self.names)
        self.data_stream = self.names(self.service_name)
        self.destination = "Elasticsearch"
        self._start()

    def _send(self, batch: list[bytes]) -> None:
        try:
            self.sink.send(batch)
        except SinkError as exc:  # Elasticsearch down or busy: send the batch again later
            raise Retry(str(exc)) from exc

    def write(self, by_service: Mapping[str, list[Record]]) -> None:
        """As a sink (``LogAggregator.add_handler``): send now and wait, raising ``SinkError`` to retry.
        ``by_service``: a ``RecordBatch``, or a dict service -> records."""
        self.sink.write(RecordBatch.of(by_service))
