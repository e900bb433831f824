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
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from typing import Any

import orjson

from otel_logging.client.guard import is_internal_logger
from otel_logging.config import default_service_name
from otel_logging.handlers_logstash import LogstashHandler, _json_default
from otel_logging.record import Record
from otel_logging.sinks import SinkError
from otel_logging.sinks.elasticsearch import DEFAULT_NAMESPACE, DataStreamNames, ElasticsearchDirectSink


class ElasticsearchHandler(logging.Handler):
    """Send stdlib log records to Elasticsearch data streams ``<index_name>-<dataset>-<namespace>``."""

    canonical = LogstashHandler.canonical  # the one LogRecord -> canonical record conversion

    def __init__(
        self,
        es_client: Any,
        index_name: str = "logs",
        *,
        service_name: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        level: int = logging.NOTSET,
        resource: dict[str, Any] | None = None,
        batch_size: int = 500,
        max_buffer: int = 10_000,
        retry_interval_s: float = 1.0,
    ) -> None:
        super().__init__(level)
        self.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or default_service_name()
        self.resource = {**(resource or {}), "service.name": self.service_name}
        self.names = DataStreamNames(index_name, namespace)
        self.sink = ElasticsearchDirectSink(es_client, self.names)
        self.data_stream = self.names(self.service_name)
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.retry_interval_s = retry_interval_s
        self.sent = 0
        self.dropped = 0
        self._buffer: deque[bytes] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="otel-logging-elasticsearch", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if is_internal_logger(record.name) or threading.current_thread() is self._thread:
            return  # the client's own logging must not loop back into it
        try:
            line = orjson.dumps(self.canonical(record), default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
        except Exception:
            self.handleError(record)
            return
        with self._cond:
            if len(self._buffer) >= self.max_buffer:
                if not self.dropped:
                    print("otel-logging: Elasticsearch unreachable, buffer full; dropping records", file=sys.stderr)
                self.dropped += 1
                return
            self._buffer.append(line)
            self._cond.notify_all()

    def write(self, by_service: dict[str, list[Record]]) -> None:
        """As a sink (``LogAggregator.add_handler``): send now and wait, raising ``SinkError`` to retry."""
        self.sink.write(by_service)

    def flush(self, timeout_s: float = 10.0) -> bool:  # type: ignore[override]
        """Wait until every buffered record is stored (or refused); False if that took longer than ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._buffer and not self._in_flight, timeout_s)

    def close(self) -> None:
        self.flush(5.0)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(5.0)
        super().close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._buffer or self._stopping)
                if self._stopping:
                    return
                batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
                self._in_flight = len(batch)
            while True:
                try:
                    self.sink.send(batch)
                    break
                except SinkError:  # Elasticsearch down or busy: wait and send the batch again
                    with self._cond:
                        if self._cond.wait_for(lambda: self._stopping, self.retry_interval_s):
                            return
            with self._cond:
                self.sent += len(batch)
                self._in_flight = 0
                self._cond.notify_all()
