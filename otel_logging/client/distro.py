"""Zero code: otel-logging's distro and configurator for ``opentelemetry-instrument``.

``OTEL_PYTHON_DISTRO=otel_logging opentelemetry-instrument python app.py`` runs an unmodified app with
otel-logging's pipeline for its logs: the handler fast path, the ``ReliableBatchProcessor`` (back-pressure
instead of silent drops, counted and reported loss, fork safety, flush at exit) and redaction, as
``otel_logging.setup()`` builds it. Traces and metrics are configured exactly as the stock configurator does
(the SDK's ``_initialize_components``), and every standard ``OTEL_*`` variable keeps its meaning.

Why a variable is needed: ``opentelemetry-distro`` (a dependency) registers a distro and a configurator too,
and ``opentelemetry-instrument`` takes the first entry point it finds when ``OTEL_PYTHON_DISTRO`` /
``OTEL_PYTHON_CONFIGURATOR`` are not set, in the order the installed packages' metadata is listed (a file
system listing). ``OTEL_PYTHON_DISTRO=otel_logging`` selects this distro, which sets
``OTEL_PYTHON_CONFIGURATOR=otel_logging`` (unless set) before the configurators are loaded.

What the configurator does with the logs signal (the rest is the SDK's):

- the OTLP exporter for logs over gRPC (``OTEL_LOGS_EXPORTER=otlp``, the default) becomes a
  ``ReliableBatchProcessor`` on the SDK's ``LoggerProvider`` (its resource: ``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``telemetry.auto.version``; the records also carry ``process.pid``);
  the endpoint, headers, TLS, compression, timeout and ``OTEL_BLRP_*`` are read as ``setup()`` reads them;
- other log exporters (``console``, OTLP over HTTP) keep the SDK's ``BatchLogRecordProcessor``;
  ``OTEL_LOGS_EXPORTER=none`` exports no logs;
- one ``OtelLoggingHandler`` (redaction on) on the root logger instead of the logging instrumentation's
  handler (or the SDK's deprecated one with ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``);
  none when ``OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false`` or the ``logging`` instrumentation is disabled
  (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``). Its level: ``OTEL_PYTHON_LOG_HANDLER_LEVEL``, else INFO
  (the root logger is lowered to it, as ``setup()`` does);
- ``otel_logging.setup()`` called later in the app returns this pipeline (no second handler).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import get_logger_provider
from opentelemetry.environment_variables import (
    OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER,
    OTEL_TRACES_EXPORTER,
)
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]  # mypy misses it
from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_CONFIGURATOR,
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
)
from opentelemetry.sdk._configuration import _initialize_components, _OTelSDKConfigurator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_PROTOCOL

from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.setup import LoggingHandle, build_processor, with_buffer
from otel_logging.client.state import CLIENT_STATE
from otel_logging.config import ClientSettings, ConfigError, resolve_client_settings
from otel_logging.record.redaction import Redactor

NAME = "otel_logging"  # the entry point's name in both groups (pyproject.toml)
OTEL_CONFIG_FILE = "OTEL_CONFIG_FILE"
OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION = "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION"
OTEL_PYTHON_LOG_HANDLER_LEVEL = "OTEL_PYTHON_LOG_HANDLER_LEVEL"
OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"

_logger = logging.getLogger(__name__)


class OtelLoggingDistro(BaseDistro):
    """The stock distro's defaults (OTLP for the three signals, over gRPC) and this package's configurator."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(OTEL_TRACES_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_LOGS_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")
        # read by opentelemetry-instrument right after this: the stock configurator is then not loaded
        os.environ.setdefault(OTEL_PYTHON_CONFIGURATOR, NAME)


class OtelLoggingConfigurator(_OTelSDKConfigurator):
    """The SDK's configuration, with otel-logging's pipeline for the logs (see the module's docstring)."""

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get(OTEL_CONFIG_FILE):
            _logger.warning(
                "%s is set: the SDK is configured from that file; otel-logging's log pipeline is not installed",
                OTEL_CONFIG_FILE,
            )
            super()._configure(**kwargs)
            return
        configure(**kwargs)


def handler_wanted(env: Mapping[str, str]) -> bool:
    """Whether stock auto-instrumentation would put a logging handler on the root logger."""
    if env.get(OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED, "").strip().lower() == "true":
        return True  # the SDK's (deprecated) handler
    disabled = {name.strip() for name in env.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "").split(",")}
    if "*" in disabled or "logging" in disabled:
        return False
    return env.get(OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION, "true").strip().lower() == "true"


def handler_level(env: Mapping[str, str]) -> int:
    raw = env.get(OTEL_PYTHON_LOG_HANDLER_LEVEL, "").strip()
    if not raw:
        return logging.INFO
    level = logging.getLevelName(raw.upper())
    if not isinstance(level, int):
        _logger.warning("Invalid log level %r for %s; using INFO", raw, OTEL_PYTHON_LOG_HANDLER_LEVEL)
        return logging.INFO
    return level


def _is_otlp_grpc(exporter: Any) -> bool:
    try:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    except ImportError:
        return False
    return isinstance(exporter, OTLPLogExporter)


def reliable_processor(settings: ClientSettings, provider: LoggerProvider) -> ReliableBatchProcessor:
    """The processor ``setup()`` builds (disk buffer included), encoding ``provider``'s resource plus
    ``process.pid``."""
    attributes = {"process.pid": os.getpid(), **provider.resource.attributes}
    return build_processor(with_buffer(settings, None, None), provider, attributes)


def configure(**kwargs: Any) -> None:
    """``_initialize_components`` with the logs pipeline of otel-logging (the configurator's work)."""
    env = os.environ
    resolved: list[ClientSettings] = []  # read when the logs need them
    bad: list[ConfigError] = []

    def settings() -> ClientSettings:
        if not resolved:
            try:
                resolved.append(resolve_client_settings(level=handler_level(env)))
            except ConfigError as exc:  # said once; the defaults stand in for the handle's report
                bad.append(exc)
                resolved.append(resolve_client_settings(level=handler_level(env), env={}))
        return resolved[0]

    built: list[ReliableBatchProcessor] = []

    def export_processor(exporter: Any, *args: Any, **options: Any) -> Any:
        provider = get_logger_provider()  # _init_logging sets it before it builds the processors
        if _is_otlp_grpc(exporter) and isinstance(provider, LoggerProvider):
            # A bad setting must not raise out of the configurator: opentelemetry-instrument would then load no
            # instrumentation at all. The logs go through the SDK's processor instead, said once.
            processor = None
            if not bad:
                try:
                    processor = reliable_processor(settings(), provider)
                except ConfigError as exc:
                    bad.append(exc)
            if processor is not None and not bad:
                exporter.shutdown()  # built by the SDK from the same variables; our transport sends instead
                built.append(processor)
                return processor
            _logger.error("otel-logging: %s; the logs go through the SDK's BatchLogRecordProcessor instead", bad[0])
        if type(exporter).__module__.startswith("opentelemetry.exporter.otlp"):
            _logger.warning(
                "otel-logging: logs exported by %s.%s go through the SDK's BatchLogRecordProcessor "
                "(otel-logging's pipeline speaks OTLP/gRPC: set %s=grpc)",
                type(exporter).__module__,
                type(exporter).__name__,
                OTEL_EXPORTER_OTLP_PROTOCOL,
            )
        return BatchLogRecordProcessor(exporter, *args, **options)

    kwargs.setdefault("export_log_record_processor", export_processor)
    kwargs["setup_logging_handler"] = False  # our handler instead of the SDK's deprecated one
    _initialize_components(**kwargs)

    provider = get_logger_provider()
    processors = getattr(getattr(provider, "_multi_log_record_processor", None), "_log_record_processors", ())
    if not processors or not handler_wanted(env):
        return  # no log exporter (OTEL_LOGS_EXPORTER=none), or no handler wanted
    handler = OtelLoggingHandler(level=settings().level, logger_provider=provider, redactor=Redactor())
    if len(built) == 1:
        handler.enable_fast_path(built[0])
    state = CLIENT_STATE
    with state.lock:
        # Trace ids on stdlib records; the logging instrumentation, loaded after this, is then instrumented
        # already and adds no handler. Before ours is added: OTEL_PYTHON_LOG_CORRELATION's basicConfig works.
        state.inject_trace_context()
        logging.getLogger().addHandler(handler)
        state.keep_handler_across_logging_config()
        state.lower_root_level(settings().level)
        state.handle = LoggingHandle(settings(), provider, built[0] if built else None, handler, zero_code=True)
