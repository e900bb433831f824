"""``otel_logging.setup()``: one call wires stdlib logging to the OpenTelemetry Logs SDK.

LoggerProvider (with the resolved resource) + ``ReliableBatchProcessor`` + OTLP/gRPC exporter
+ one handler on the root logger, and trace-context injection into stdlib records
(``record.otelTraceID`` / ``record.otelSpanID``) so plain-text formatters can print them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import get_logger_provider, set_logger_provider
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationLoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler
from opentelemetry.sdk.resources import Resource

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ProcessorStats, ReliableBatchProcessor
from otel_logging.client.transport import GrpcTransport
from otel_logging.config import ClientSettings, resolve_client_settings
from otel_logging.redaction import Redactor


@dataclass
class LoggingHandle:
    """What ``setup()`` returns: flush, shut down, and look at the counters."""

    settings: ClientSettings
    provider: Any
    processor: ReliableBatchProcessor | None
    handler: logging.Handler | None
    reused_handler: logging.Handler | None = None
    _closed: bool = field(default=False, repr=False)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Export everything logged so far; True when the receiver took it all in time."""
        flush = getattr(self.provider, "force_flush", None)
        return bool(flush(int(timeout_s * 1000))) if flush else True

    def shutdown(self) -> None:
        """Flush, detach the handler and stop the export thread. Idempotent."""
        global _current
        with _state_lock:
            if self._closed:
                return
            self._closed = True
            if self.handler is not None:
                logging.getLogger().removeHandler(self.handler)
            if _current is self:
                _current = None
        if self.processor is not None:
            self.processor.shutdown()

    def stats(self) -> ProcessorStats | None:
        return self.processor.stats() if self.processor else None


_state_lock = threading.RLock()
_current: LoggingHandle | None = None
_config_functions_wrapped = False


def _keep_handler_across_logging_config() -> None:
    """``dictConfig``/``fileConfig``/``basicConfig(force=True)`` after ``setup()`` keep our handler.

    They reset the root logger's handlers; the current handler is taken out before and put
    back after (as opentelemetry-instrumentation-logging does for its own handler).
    """
    global _config_functions_wrapped
    if _config_functions_wrapped:
        return
    _config_functions_wrapped = True
    import logging.config

    def wrap(function: Any) -> Any:
        def configure(*args: Any, **kwargs: Any) -> Any:
            handle = _current
            handler = handle.handler if handle is not None else None
            root = logging.getLogger()
            removed = handler is not None and handler in root.handlers
            if removed:
                root.removeHandler(handler)
            try:
                return function(*args, **kwargs)
            finally:
                if removed and handler not in root.handlers:
                    root.addHandler(handler)

        configure.__wrapped__ = function  # type: ignore[attr-defined]
        return configure

    logging.config.dictConfig = wrap(logging.config.dictConfig)
    logging.config.fileConfig = wrap(logging.config.fileConfig)
    logging.basicConfig = wrap(logging.basicConfig)


def _existing_otel_handler() -> logging.Handler | None:
    """A handler installed by someone else (``opentelemetry-instrument``, the SDK)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, (InstrumentationLoggingHandler, SdkLoggingHandler)) and not isinstance(
            handler, OtelLoggingHandler
        ):
            return handler
    return None


def _inject_trace_context() -> None:
    instrumentor = LoggingInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)


def setup(
    service_name: str | None = None,
    endpoint: str | None = None,
    *,
    level: int | str = logging.INFO,
    insecure: bool | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    redact: bool = True,
    compression: str | None = None,
    certificate_file: str | None = None,
    timeout_s: float | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_ms: int | None = None,
    export_timeout_ms: int | None = None,
    redactor: Redactor | None = None,
) -> LoggingHandle:
    """Send this process's stdlib logging to an OTLP/gRPC endpoint (the central service).

    Every argument falls back to its OTEL_* environment variable, then to a default
    (``http://localhost:4317``). Calling it again replaces the previous pipeline rather
    than adding a second handler. Inside ``opentelemetry-instrument`` the handler that the
    instrumentation installed is kept and no second one is added.
    """
    global _current
    settings = resolve_client_settings(
        service_name=service_name,
        endpoint=endpoint,
        level=level,
        insecure=insecure,
        headers=headers,
        resource_attributes=resource_attributes,
        redact=redact,
        compression=compression,
        certificate_file=certificate_file,
        timeout_s=timeout_s,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_ms=schedule_delay_ms,
        export_timeout_ms=export_timeout_ms,
    )
    with _state_lock:
        if _current is not None:
            if _current.settings == settings:
                return _current
            _current.shutdown()
        root = logging.getLogger()
        existing = _existing_otel_handler()
        if existing is not None:
            handle = LoggingHandle(settings, get_logger_provider(), None, None, reused_handler=existing)
        else:
            resource = Resource.create(settings.resource_attributes)
            provider = LoggerProvider(resource=resource)
            processor = ReliableBatchProcessor(
                lambda: GrpcTransport(settings),
                BatchEncoder(resource.attributes, resource.schema_url),
                max_queue_size=settings.max_queue_size,
                max_export_batch_size=settings.max_export_batch_size,
                schedule_delay_ms=settings.schedule_delay_ms,
                export_timeout_ms=settings.export_timeout_ms,
                target=settings.endpoint,
            )
            provider.add_log_record_processor(processor)
            if redactor is None and settings.redact:
                redactor = Redactor()
            handler = OtelLoggingHandler(
                level=settings.level,
                logger_provider=provider,
                redactor=redactor if settings.redact else None,
            )
            handler.enable_fast_path(processor)
            root.addHandler(handler)
            _keep_handler_across_logging_config()
            if root.getEffectiveLevel() > settings.level:
                root.setLevel(settings.level)
            _set_global_provider_once(provider)
            handle = LoggingHandle(settings, provider, processor, handler)
        _inject_trace_context()
        _current = handle
        return handle


def _set_global_provider_once(provider: LoggerProvider) -> None:
    from opentelemetry._logs import _internal as logs_internal

    if getattr(logs_internal, "_LOGGER_PROVIDER", None) is None:
        set_logger_provider(provider)


def shutdown() -> None:
    """Flush and detach the pipeline set up by ``setup()`` (also runs at interpreter exit)."""
    with _state_lock:
        handle = _current
    if handle is not None:
        handle.shutdown()


def current() -> LoggingHandle | None:
    return _current
