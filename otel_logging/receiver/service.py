"""The central service: sinks, the export path and both front ends, started and stopped together."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from otel_logging.config import ServeSettings
from otel_logging.receiver.auth import TokenAuthenticator
from otel_logging.receiver.export import LogsExporter
from otel_logging.receiver.grpc_native import grpc_front_end
from otel_logging.receiver.grpc_server import TlsFiles
from otel_logging.receiver.http_server import HttpFrontEnd, server_tls_context
from otel_logging.receiver.limits import (
    NewAppLimiter,
    RecordProcessor,
    redacting_processor,
    truncating_processor,
)
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record.names import parse_log_file_name
from otel_logging.record.redaction import Redactor, redactor_from_rules_file
from otel_logging.sinks import Sink
from otel_logging.sinks.build import build_sinks
from otel_logging.sinks.files import FileSink
from otel_logging.worker import Worker

_log = logging.getLogger("otel_logging.service")


@dataclass(frozen=True, slots=True)
class BoundPorts:
    host: str
    grpc: int
    http: int | None
    grpc_server: str  # "native" or "grpcio": which transport serves OTLP/gRPC


class CentralService:
    """``otel-logging serve`` as an object: ``start()`` binds, ``stop()`` drains and closes."""

    def __init__(self, settings: ServeSettings, extra_sinks: list[Sink] | None = None) -> None:
        """Validates ``settings`` (``ConfigError`` names a bad value) and builds the sinks they name
        (``build_sinks``); ``extra_sinks`` go before the per-app files."""
        settings.validate()
        self.settings = settings
        receiver, security = settings.receiver, settings.security
        self.metrics = ServiceMetrics()
        tls = None
        if security.tls_cert and security.tls_key:
            tls = TlsFiles(security.tls_cert, security.tls_key, security.tls_client_ca)
        self.authenticator = TokenAuthenticator(security.auth_token_file) if security.auth_token_file else None
        processors = _record_processors(settings)
        new_app_limiter = _new_app_limiter(settings)
        # The sinks the settings name (Elasticsearch and Logstash queues, then the per-app files),
        # the same whether the service is started by the CLI or constructed directly.
        *remote, file_sink = build_sinks(settings)
        assert isinstance(file_sink, FileSink)
        self.file_sink = file_sink
        # Durable queues first, the per-app file last: a full queue refuses the request (503, the
        # client retries) before anything is in the file, so a retry does not duplicate file lines.
        # (A file failure after the queues took the records makes the retry re-queue them; the
        # remote sinks' content-hash ids make that harmless.)
        self.sinks: list[Sink] = [*remote, *(extra_sinks or []), file_sink]
        for sink in self.sinks:
            samples = getattr(sink, "metric_samples", None)  # remote sinks: queue counters on /metrics
            if samples is not None:
                self.metrics.add_source(samples)
        self.exporter = LogsExporter(
            self.sinks,
            self.metrics,
            processors=processors,
            max_records_per_request=receiver.max_records_per_request,
            new_app_limiter=new_app_limiter,
        )
        self.metrics.add_source(self.exporter.conversion.metric_samples)
        for processor in processors:  # --redact: how many secrets each rule masked (never the secrets)
            redactor = getattr(processor, "redactor", None)
            if redactor is not None:
                self.metrics.add_source(redactor.metric_samples)
        self.grpc = grpc_front_end(self.exporter, receiver, self.authenticator, tls)
        self.http: HttpFrontEnd | None = None
        if receiver.http_port is not None:
            self.http = HttpFrontEnd(
                self.exporter,
                self.metrics,
                receiver.host,
                receiver.http_port,
                max_request_bytes=receiver.max_request_bytes,
                authenticator=self.authenticator,
                tls_context=server_tls_context(
                    str(tls.cert), str(tls.key), str(tls.client_ca) if tls.client_ca else None
                )
                if tls
                else None,
            )
        self._stopped = threading.Event()
        self._housekeeper = Worker("rotation", self._housekeeping, on_stop=self._stopped.set)

    def reload(self) -> None:
        """SIGHUP: re-read the auth token file (the current tokens stay if it is broken)."""
        if self.authenticator is not None:
            self.authenticator.reload()

    def start(self) -> BoundPorts:
        conversion = self.exporter.conversion
        if conversion.native:
            _log.info("%s", conversion.describe())
        else:
            _log.warning("%s", conversion.describe())
        self.grpc.start()
        if self.http is not None:
            self.http.start()
        if self.settings.files.rotate_interval_s:
            self._housekeeper.start()
        return BoundPorts(
            self.settings.receiver.host, self.grpc.port, self.http.port if self.http else None, self.grpc.transport
        )

    def _housekeeping(self) -> None:
        period = max(1.0, min(60.0, (self.settings.files.rotate_interval_s or 60) / 4))
        while not self._stopped.wait(period):
            try:
                self.file_sink.rotate_due()
            except OSError as exc:
                _log.warning("rotation failed: %s", exc)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish, flush and close every sink."""
        if self._stopped.is_set():
            return
        grace = self.settings.receiver.shutdown_grace_s if grace_s is None else grace_s
        self._stopped.set()
        self._housekeeper.stop()
        self._housekeeper.join(timeout=10)  # a rotation in progress finishes first
        if self.http is not None:
            self.http.stop(grace)
        self.grpc.stop(grace)
        self.exporter.close()
        for sink in self.sinks:
            sink.close()


def _record_processors(settings: ServeSettings) -> list[RecordProcessor]:
    processors: list[RecordProcessor] = []
    security = settings.security
    if security.redact or security.redact_rules:
        redactor = redactor_from_rules_file(security.redact_rules) if security.redact_rules else Redactor()
        processors.append(redacting_processor(redactor))
    if settings.receiver.max_attribute_length:
        processors.append(truncating_processor(settings.receiver.max_attribute_length))
    return processors


def _new_app_limiter(settings: ServeSettings) -> NewAppLimiter | None:
    per_minute = settings.receiver.max_new_apps_per_minute
    if not per_minute:
        return None
    log_dir = settings.files.log_dir
    names = (parse_log_file_name(p.name) for p in log_dir.glob("*.jsonl")) if log_dir.exists() else ()
    existing = {name.app for name in names if name is not None}  # api.v2.jsonl is app api.v2, not api
    return NewAppLimiter(per_minute, known=existing)
