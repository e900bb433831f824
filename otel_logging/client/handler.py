"""The stdlib ``logging`` handler: records -> OpenTelemetry log records.

It is the handler of ``opentelemetry-instrumentation-logging`` (the SDK's own is deprecated),
with three changes: ``extra`` values are cleaned once into valid attribute values, secrets
are masked (``redact=True``), and records of the export machinery itself (OpenTelemetry,
gRPC, otel-logging, or anything logged on the export thread) are never exported, so a down
receiver cannot cause recursion.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationLoggingHandler

from otel_logging.client.attributes import clean_mapping, clean_value
from otel_logging.client.guard import export_guard, is_internal_logger
from otel_logging.redaction import Redactor

# Added to every stdlib record by the logging instrumentation's trace-context injection;
# the OTel record carries trace_id/span_id natively, so they are not repeated as attributes.
_INJECTED = ("otelSpanID", "otelTraceID", "otelTraceSampled", "otelServiceName")


class OtelLoggingHandler(InstrumentationLoggingHandler):
    def __init__(
        self,
        level: int = logging.NOTSET,
        logger_provider: LoggerProvider | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(level=level, logger_provider=logger_provider)
        self.redactor = redactor

    def _get_attributes(self, record: logging.LogRecord) -> tuple[dict[str, Any], str | None]:
        attributes, event_name = super()._get_attributes(record)
        for key in _INJECTED:
            attributes.pop(key, None)
        attributes = clean_mapping(attributes)
        if self.redactor is not None:
            attributes = self.redactor.mapping(attributes)
        return attributes, event_name

    def _translate(self, record: logging.LogRecord) -> Any:
        log_record = super()._translate(record)
        body = log_record.body
        if not isinstance(body, str):
            body = clean_value(body)
        if self.redactor is not None:
            body = self.redactor.value(body)
        log_record.body = body
        return log_record

    def handle(self, record: logging.LogRecord) -> bool:
        """Like ``logging.Handler.handle`` without the per-handler lock.

        ``emit`` is thread-safe (the processor has its own lock), and holding the handler
        lock while the processor applies back-pressure would deadlock with the export
        thread logging a warning through the root logger.
        """
        if export_guard.active or is_internal_logger(record.name):
            return False
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if export_guard.active or is_internal_logger(record.name):
            return
        try:
            super().emit(record)
        except Exception:
            self.handleError(record)
