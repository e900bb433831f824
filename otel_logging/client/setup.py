"""``otel_logging.setup()``: one call wires stdlib logging to the OpenTelemetry Logs SDK.

LoggerProvider (with the resolved resource) + ``ReliableBatchProcessor`` + OTLP/gRPC exporter
+ one handler on the root logger, and trace-context injection into stdlib records
(``record.otelTraceID`` / ``record.otelSpanID``) so plain-text formatters can print them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry._logs import get_logger_provider
from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationLoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler
from opentelemetry.sdk.resources import Resource

from otel_logging.client.bridges.install import install_bridges
from otel_logging.client.disk_buffer import DEFAULT_MAX_BYTES, DiskBuffer, service_directory
from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ProcessorStats, ReliableBatchProcessor
from otel_logging.client.state import CLIENT_STATE
from otel_logging.client.transport import GrpcTransport
from otel_logging.config import ClientSettings, ConfigError, resolve_client_settings
from otel_logging.record.redaction import Redactor


@dataclass
class LoggingHandle:
    """What ``setup()`` returns: flush, shut down, and look at the counters."""

    settings: ClientSettings
    provider: Any
    processor: ReliableBatchProcessor | None
    handler: logging.Handler | None
    reused_handler: logging.Handler | None = None
    libraries: tuple[str, ...] = ()  # the bridges setup() installed ("structlog", "loguru")
    zero_code: bool = False  # installed by opentelemetry-instrument with otel-logging's configurator (distro.py)
    _uninstall: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Export everything logged so far; True when the receiver took it all in time."""
        flush = getattr(self.provider, "force_flush", None)
        return bool(flush(int(timeout_s * 1000))) if flush else True

    def shutdown(self) -> None:
        """Flush, detach the handler and stop the export thread. Idempotent."""
        with CLIENT_STATE.lock:
            if self._closed:
                return
            self._closed = True
            if self.handler is not None:
                logging.getLogger().removeHandler(self.handler)
            for uninstall in reversed(self._uninstall):
                uninstall()
            if CLIENT_STATE.handle is self:
                CLIENT_STATE.handle = None
        if self.processor is not None:
            self.processor.shutdown()

    def stats(self) -> ProcessorStats | None:
        return self.processor.stats() if self.processor else None


def _existing_otel_handler() -> logging.Handler | None:
    """A handler installed by someone else (``opentelemetry-instrument``, the SDK)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, (InstrumentationLoggingHandler, SdkLoggingHandler)) and not isinstance(
            handler, OtelLoggingHandler
        ):
            return handler
    return None


BUFFER_DIR_ENV = "OTEL_LOGGING_BUFFER_DIR"
BUFFER_MAX_MB_ENV = "OTEL_LOGGING_BUFFER_MAX_MB"


def default_buffer_base() -> Path:
    """``buffer_dir="auto"``: ``$XDG_STATE_HOME/otel-logging/buffer`` (``~/.local/state/...``), else the temp dir."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    if state.startswith("~"):
        return Path(tempfile.gettempdir()) / "otel-logging-buffer"
    return Path(state) / "otel-logging" / "buffer"


def resolve_buffer(
    buffer_dir: str | os.PathLike[str] | None, buffer_max_mb: int | None, env: Mapping[str, str] | None = None
) -> tuple[Path | None, int]:
    """The disk buffer's base directory (None: off) and size limit in bytes: argument, variable, default (off)."""
    env = os.environ if env is None else env
    raw: str | os.PathLike[str] | None = buffer_dir if buffer_dir is not None else env.get(BUFFER_DIR_ENV)
    base: Path | None = None
    if raw is not None and str(raw).strip() and str(raw).strip().lower() not in ("off", "none", "false", "0"):
        base = default_buffer_base() if str(raw).strip().lower() == "auto" else Path(raw).expanduser()
    if buffer_max_mb is None:
        raw_mb = env.get(BUFFER_MAX_MB_ENV)
        if raw_mb:
            try:
                buffer_max_mb = int(raw_mb)
            except ValueError:
                raise ConfigError(f"{BUFFER_MAX_MB_ENV}: expected whole megabytes, got {raw_mb!r}") from None
    if buffer_max_mb is not None and buffer_max_mb < 1:
        raise ConfigError(f"buffer_max_mb ({BUFFER_MAX_MB_ENV}) must be at least 1, got {buffer_max_mb}")
    return base, (buffer_max_mb << 20) if buffer_max_mb is not None else DEFAULT_MAX_BYTES


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
    structlog: bool = False,
    loguru: bool = False,
    buffer_dir: str | os.PathLike[str] | None = None,
    buffer_max_mb: int | None = None,
) -> LoggingHandle:
    """Send this process's stdlib logging to an OTLP/gRPC endpoint (the central service).

    Every argument falls back to its OTEL_* environment variable, then to a default
    (``http://localhost:4317``). Calling it again replaces the previous pipeline rather
    than adding a second handler. Inside ``opentelemetry-instrument`` the handler that the
    instrumentation installed is kept and no second one is added; with otel-logging's distro
    (docs/zero-code.md) the pipeline it runs is returned as it is. ``structlog=True`` /
    ``loguru=True`` send those libraries' events through the same pipeline (docs/libraries.md).
    ``buffer_dir`` (``OTEL_LOGGING_BUFFER_DIR``; ``"auto"``: under ``$XDG_STATE_HOME``) keeps records on disk,
    up to ``buffer_max_mb`` (``OTEL_LOGGING_BUFFER_MAX_MB``, 256), while the service is unreachable
    (docs/queue-and-guarantees.md).
    """
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
    settings = with_buffer(settings, buffer_dir, buffer_max_mb)
    libraries = tuple(name for name, wanted in (("structlog", structlog), ("loguru", loguru)) if wanted)
    state = CLIENT_STATE
    with state.lock:
        if state.handle is not None and state.handle.zero_code:
            # Zero code (client/distro.py): opentelemetry-instrument runs this pipeline already, configured by
            # the OTEL_* variables. It is kept (no second handler); only the bridges asked for are added.
            handle = state.handle
            missing = tuple(name for name in libraries if name not in handle.libraries)
            handle._uninstall.extend(install_bridges(missing, handle.settings.level))
            handle.libraries += missing
            return handle
        if state.handle is not None:
            if state.handle.settings == settings and state.handle.libraries == libraries:
                return state.handle
            state.handle.shutdown()
        root = logging.getLogger()
        existing = _existing_otel_handler()
        if existing is not None:
            handle = LoggingHandle(settings, get_logger_provider(), None, None, reused_handler=existing)
        else:
            # process.pid tells the workers of one service apart (a forked child reports its own).
            resource = Resource.create({"process.pid": os.getpid(), **settings.resource_attributes})
            provider = LoggerProvider(resource=resource)
            processor = build_processor(settings, provider, resource.attributes)
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
            state.keep_handler_across_logging_config()
            state.lower_root_level(settings.level)
            state.set_global_provider_once(provider)
            handle = LoggingHandle(settings, provider, processor, handler)
        state.inject_trace_context()
        state.handle = handle
        handle.libraries = libraries
        try:
            handle._uninstall.extend(install_bridges(libraries, settings.level))
        except Exception:
            handle.shutdown()
            raise
        return handle


def with_buffer(
    settings: ClientSettings, buffer_dir: str | os.PathLike[str] | None, buffer_max_mb: int | None
) -> ClientSettings:
    """``settings`` with the disk buffer's directory (per service) and limit, from the arguments or
    ``OTEL_LOGGING_BUFFER_DIR`` / ``OTEL_LOGGING_BUFFER_MAX_MB`` (unchanged when no buffer is asked for)."""
    base, max_bytes = resolve_buffer(buffer_dir, buffer_max_mb)
    if base is None:
        return settings
    directory = service_directory(base, settings.service_name)
    return dataclasses.replace(
        settings, extra={**settings.extra, "buffer_dir": str(directory), "buffer_max_bytes": max_bytes}
    )


def build_processor(
    settings: ClientSettings, provider: LoggerProvider, attributes: Mapping[str, Any]
) -> ReliableBatchProcessor:
    """The export processor of ``setup()`` and of the zero-code configurator: records encoded with
    ``attributes`` as the resource (after a fork: the provider's, refreshed by the SDK), sent over gRPC, kept
    on disk when ``settings`` ask for a buffer."""
    resource = provider.resource
    return ReliableBatchProcessor(
        lambda: GrpcTransport(settings),
        BatchEncoder(attributes, resource.schema_url, lambda: provider.resource.attributes),
        max_queue_size=settings.max_queue_size,
        max_export_batch_size=settings.max_export_batch_size,
        schedule_delay_ms=settings.schedule_delay_ms,
        export_timeout_ms=settings.export_timeout_ms,
        target=settings.endpoint,
        buffer_factory=_buffer_factory(settings),
    )


def _buffer_factory(settings: ClientSettings) -> Callable[[], tuple[DiskBuffer | None, str]] | None:
    directory = settings.extra.get("buffer_dir")
    if directory is None:
        return None
    max_bytes = int(settings.extra.get("buffer_max_bytes", DEFAULT_MAX_BYTES))  # type: ignore[call-overload]
    return lambda: DiskBuffer.open(Path(str(directory)), max_bytes)


def shutdown() -> None:
    """Flush and detach the pipeline set up by ``setup()`` (also runs at interpreter exit)."""
    with CLIENT_STATE.lock:
        handle = CLIENT_STATE.handle
    if handle is not None:
        handle.shutdown()


def current() -> LoggingHandle | None:
    return CLIENT_STATE.handle
