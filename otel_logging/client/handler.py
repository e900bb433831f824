"""The stdlib ``logging`` handler: records -> OpenTelemetry log records.

It is the handler of ``opentelemetry-instrumentation-logging`` (the SDK's own is deprecated),
with these changes: ``extra`` values are cleaned once into valid attribute values, secrets
are masked (``redact=True``), records of the export machinery itself (OpenTelemetry, gRPC,
otel-logging, or anything logged on the export thread) are never exported, so a down
receiver cannot cause recursion, and no per-handler lock is taken.

Fast path: while the provider's only processor is our ``ReliableBatchProcessor``, a record
(with ``exc_info`` too: the SDK path's ``exception.*`` attributes) becomes one compact entry
handed straight to it (no SDK ``LogRecord``, no second attribute cleaning, no copies). As soon
as another processor is added to the provider, every record takes the standard SDK path again,
so other SDK processors see every record. With the native extension the common record's entry
is made in Rust (``otel_logging_native.EntryMaker``: ``_entry`` is its reference; it gives back
None for a record it leaves to ``_entry``).
"""

from __future__ import annotations

import logging
import time
import traceback
from itertools import islice
from typing import TYPE_CHECKING, Any

from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.log_utils import std_to_otel
from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationLoggingHandler
from opentelemetry.trace import get_current_span

from otel_logging.client.attributes import clean_mapping, clean_value
from otel_logging.client.guard import INTERNAL_LOGGER_PREFIXES, export_guard, is_internal_logger
from otel_logging.record import native
from otel_logging.record.redaction import Redactor
from otel_logging.record.severity import STDLIB_TEXT

if TYPE_CHECKING:
    from otel_logging.client.processor import ReliableBatchProcessor

# Added to every stdlib record by the logging instrumentation's trace-context injection;
# the OTel record carries trace_id/span_id natively, so they are not repeated as attributes.
_INJECTED = ("otelSpanID", "otelTraceID", "otelTraceSampled", "otelServiceName")

# Every attribute a stdlib LogRecord has by itself; what remains in ``record.__dict__`` is ``extra``.
_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", *_INJECTED}
# LogRecord.__init__ sets these first, in this order; factories and ``extra`` add keys after them.
_INIT_FIELD_COUNT = len(vars(logging.makeLogRecord({})))
_PRIMITIVES = (str, int, float, bool)
_SEVERITY_TEXT = STDLIB_TEXT  # otel_logging.record.severity holds the table
_EVENT_KEYS = ("otel.event.name", "event.name")


class OtelLoggingHandler(InstrumentationLoggingHandler):
    def __init__(
        self,
        level: int = logging.NOTSET,
        logger_provider: LoggerProvider | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(level=level, logger_provider=logger_provider)
        self.redactor = redactor
        self._processor: ReliableBatchProcessor | None = None
        self._provider_processors: Any = None
        self._severities: dict[tuple[int, str], tuple[int, str]] = {}
        self._maker: Any = None  # the native ``_entry`` for the common record (made for ``_maker_redactor``)
        self._maker_redactor: Redactor | None = None

    def enable_fast_path(self, processor: ReliableBatchProcessor) -> None:
        """Hand records straight to ``processor`` while it is the provider's only processor."""
        self._processor = processor
        self._provider_processors = getattr(self._logger_provider, "_multi_log_record_processor", None)
        self._make_native_maker()

    def _make_native_maker(self) -> None:
        """``otel_logging_native.EntryMaker`` for this handler's redactor (None without the extension, or for a
        redactor whose rules the native pre-check does not take: custom patterns)."""
        redactor = self._maker_redactor = self.redactor
        if redactor is not None and redactor._scan is None:
            self._maker = None
            return
        scan, key_cache = (None, None) if redactor is None else (redactor._scan, redactor._key_cache)
        self._maker = native.entry_maker(
            logging.LogRecord, _INIT_FIELD_COUNT, _STANDARD_FIELDS, self._severities, scan, key_cache
        )

    def _fast_path(self) -> ReliableBatchProcessor | None:
        processor = self._processor
        if processor is None or self._provider_processors is None:
            return None
        registered = self._provider_processors._log_record_processors
        return processor if len(registered) == 1 and registered[0] is processor else None

    def _new_severity(self, levelno: int, levelname: str) -> tuple[int, str]:
        """The (number, text) of a level not in ``_severities`` yet, stored there (the native maker reads it)."""
        severity = (std_to_otel(levelno).value, _SEVERITY_TEXT.get(levelname, levelname))
        self._severities[levelno, levelname] = severity
        return severity

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
        thread logging a warning through the root logger. The fast path (``_emit``'s, with
        ``_fast_path``'s check) is written out here: one Python call per record, not three.
        """
        if export_guard.active or record.name.startswith(INTERNAL_LOGGER_PREFIXES):
            return False
        if self.filters:  # (without filters ``filter`` is True: not called)
            allowed = self.filter(record)
            if not allowed:
                return False
            if isinstance(allowed, logging.LogRecord):  # Python 3.12+: a filter may return a replacement
                record = allowed
        try:
            processor = self._processor
            provider_processors = self._provider_processors
            if processor is None or provider_processors is None or self.formatter is not None:
                super().emit(record)  # the standard SDK path
                return True
            registered = provider_processors._log_record_processors
            if len(registered) != 1 or registered[0] is not processor:
                super().emit(record)  # another processor is installed: every record goes through the SDK
                return True
            maker = self._maker
            entry = None
            if maker is not None and self._maker_redactor is self.redactor:
                entry = maker.make(record)  # the common record, natively; None: Python builds it
            processor.enqueue(entry if entry is not None else self._entry(record))
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if export_guard.active or is_internal_logger(record.name):
            return
        self._emit(record)

    def _emit(self, record: logging.LogRecord) -> None:
        """The fast path (one entry to our processor) or the SDK path; the caller checked the guards
        (``handle`` has the same steps written out)."""
        try:
            processor = self._fast_path()
            if processor is None or self.formatter is not None:
                super().emit(record)  # the standard SDK path
            else:
                maker = self._maker
                if maker is not None and self._maker_redactor is self.redactor:
                    entry = maker.make(record)  # the common record, natively; None: Python builds it
                    processor.enqueue(entry if entry is not None else self._entry(record))
                else:
                    processor.enqueue(self._entry(record))
        except Exception:
            self.handleError(record)

    def _entry(self, record: logging.LogRecord) -> tuple:
        msg = record.msg
        if record.args:
            body: Any = record.getMessage()
        elif type(msg) is str:
            body = msg
        else:
            body = clean_value(msg)
        fields = record.__dict__
        attributes: dict[str, Any] | None = (
            {k: v for k, v in islice(fields.items(), _INIT_FIELD_COUNT, None) if k not in _STANDARD_FIELDS}
            if len(fields) > _INIT_FIELD_COUNT
            else None
        )
        event_name = None
        exc_info = record.exc_info
        if exc_info:  # the exception's attributes after ``extra``'s, as the SDK path sets them
            if attributes is None:
                attributes = {}
            exctype, value, tb = exc_info
            if exctype is not None:
                attributes["exception.type"] = exctype.__name__
            if value is not None and value.args:
                attributes["exception.message"] = str(value.args[0])
            if tb is not None:
                attributes["exception.stacktrace"] = "".join(traceback.format_exception(*exc_info))
        if attributes:
            for value in attributes.values():
                if type(value) not in _PRIMITIVES:
                    attributes = clean_mapping(attributes)
                    break
            if _EVENT_KEYS[0] in attributes or _EVENT_KEYS[1] in attributes:
                event_name = attributes.pop(_EVENT_KEYS[0], None)
                deprecated = attributes.pop(_EVENT_KEYS[1], None)
                event_name = str(event_name or deprecated)
        redactor = self.redactor
        if redactor is not None:
            body = redactor.text(body) if type(body) is str else redactor.value(body)
            if attributes:
                attributes = redactor.mapping(attributes)
        if fields.get("otelTraceID") == "0":  # the trace-context injection found no span: skip the lookup
            trace_id = span_id = flags = 0
        else:
            span_context = get_current_span().get_span_context()
            trace_id, span_id, flags = span_context.trace_id, span_context.span_id, int(span_context.trace_flags)
        severity = self._severities.get((record.levelno, record.levelname))
        if severity is None:
            severity = self._new_severity(record.levelno, record.levelname)
        return (
            int(record.created * 1e9),
            time.time_ns(),
            severity[0],
            severity[1],
            body,
            attributes or None,
            trace_id,
            span_id,
            flags,
            record.name,
            event_name,
        )
