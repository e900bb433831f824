"""``LogstashHandler``: the older API's handler, sending canonical records straight to Logstash.

    handler = LogstashHandler("logstash.internal", 5000, service_name="shop")
    logging.getLogger().addHandler(handler)

A thin adapter: each ``LogRecord`` becomes the canonical record (the same fields the central
service writes) and goes over ``LogstashTransport`` (TCP json_lines, optional TLS, reconnects,
a batch counts as sent only once Logstash's TCP stack acknowledged it). Sending happens on a
background thread; ``emit`` never waits for the network. The buffer in between is in memory
and bounded (``max_buffer`` records): when Logstash stays away that long, new records are
counted in ``dropped`` and a warning is printed to stderr, instead of the app blocking. For
records that must survive outages, send them to ``otel-logging serve --logstash`` (durable queue).

The handler is also a sink (``write(by_service)``), so ``LogAggregator.add_handler`` can use it.

Deprecated: ``otel_logging.setup()`` in the app and ``otel-logging serve --logstash`` (or, for files,
``otel-logging aggregate --logstash``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_logging.compat import warn_deprecated
from otel_logging.compat.handlers_base import BufferedRecordHandler, Retry
from otel_logging.record import Record, RecordBatch
from otel_logging.sinks.logstash import DEFAULT_LOGSTASH_PORT, LogstashTls, LogstashTransport, LogstashUnavailable


class LogstashHandler(BufferedRecordHandler):
    """Send stdlib log records to Logstash's ``tcp`` input (``json_lines`` codec) as canonical records."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_LOGSTASH_PORT,
        *,
        service_name: str | None = None,
        level: int = logging.NOTSET,
        tls_ca_file: str | Path | None = None,
        tls_cert_file: str | Path | None = None,
        tls_key_file: str | Path | None = None,
        resource: dict[str, Any] | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 500,
    ) -> None:
        warn_deprecated(
            "LogstashHandler",
            "use otel_logging.setup() in the app and `otel-logging serve --logstash HOST:PORT` (a durable queue), "
            "or `otel-logging aggregate --logstash HOST:PORT` for files",
        )
        super().__init__(
            service_name=service_name,
            level=level,
            resource=resource,
            max_buffer=max_buffer,
            batch_size=batch_size,
            retry_interval_s=0.0,  # the transport waits out its own backoff before reconnecting
            thread_name="otel-logging-logstash",
        )
        tls = None
        if tls_ca_file or tls_cert_file:
            tls = LogstashTls(
                ca_file=Path(tls_ca_file) if tls_ca_file else None,
                cert_file=Path(tls_cert_file) if tls_cert_file else None,
                key_file=Path(tls_key_file) if tls_key_file else None,
            )
        self.transport = LogstashTransport(host, port, tls=tls)
        self.name = f"logstash:{self.transport.name}"
        self.destination = f"Logstash {self.transport.name}"
        self._start()

    def _send(self, batch: list[bytes]) -> None:
        try:
            self.transport.send(batch)
        except LogstashUnavailable as exc:
            raise Retry(str(exc)) from exc

    def _close_destination(self) -> None:
        self.transport.close()

    def write(self, by_service: Mapping[str, list[Record]]) -> None:
        """As a sink (``LogAggregator.add_handler``): buffer the records for sending.
        ``by_service``: a ``RecordBatch`` (its JSON lines go as they are), or a dict service -> records."""
        self._enqueue(RecordBatch.of(by_service).split_lines()[0])
