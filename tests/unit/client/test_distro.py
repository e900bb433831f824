"""Zero code: the distro and configurator that ``opentelemetry-instrument`` loads (otel_logging/client/distro.py).

How opentelemetry-instrument picks them among the installed ones (its ``_load_distro`` and
``_load_configurators``, with stand-in entry point lists), what the configurator builds for the logs
signal (with the SDK's ``_initialize_components`` replaced by one that builds only the logs part), and
``setup()`` inside such a process. The real processes: tests/integration/test_zero_code.py.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.distro import OpenTelemetryConfigurator, OpenTelemetryDistro
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.auto_instrumentation import _load
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter

import otel_logging
from otel_logging.client import distro
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.state import CLIENT_STATE
from tests.support.procs import REPO, free_port

STOCK_DISTRO = EntryPoint("distro", "opentelemetry.distro:OpenTelemetryDistro", "opentelemetry_distro")
OUR_DISTRO = EntryPoint("otel_logging", "otel_logging.client.distro:OtelLoggingDistro", "opentelemetry_distro")
STOCK_CONFIGURATOR = EntryPoint(
    "configurator", "opentelemetry.distro:OpenTelemetryConfigurator", "opentelemetry_configurator"
)
OUR_CONFIGURATOR = EntryPoint(
    "otel_logging", "otel_logging.client.distro:OtelLoggingConfigurator", "opentelemetry_configurator"
)
SELECTION_VARIABLES = (
    "OTEL_PYTHON_DISTRO",
    "OTEL_PYTHON_CONFIGURATOR",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
)


@pytest.fixture(autouse=True)
def fresh_client_state() -> Iterator[None]:
    CLIENT_STATE.reset()
    yield
    CLIENT_STATE.reset()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SELECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_pyproject_registers_the_distro_and_the_configurator_under_one_name() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert project["opentelemetry_distro"] == {"otel_logging": OUR_DISTRO.value}
    assert project["opentelemetry_configurator"] == {"otel_logging": OUR_CONFIGURATOR.value}
    assert isinstance(OUR_DISTRO.load()(), BaseDistro)
    assert isinstance(OUR_CONFIGURATOR.load()(), _BaseConfigurator)
    assert distro.NAME == OUR_DISTRO.name == OUR_CONFIGURATOR.name


# -- which distro and configurator opentelemetry-instrument loads -------------------------------------------
def selection(monkeypatch: pytest.MonkeyPatch, distros: list[EntryPoint], configurators: list[EntryPoint]) -> Any:
    """opentelemetry-instrument's own selection over these entry points: (distro, configurators configured)."""
    groups = {"opentelemetry_distro": distros, "opentelemetry_configurator": configurators}
    monkeypatch.setattr(_load, "entry_points", lambda group: groups[group])
    configured: list[str] = []
    monkeypatch.setattr(OpenTelemetryConfigurator, "_configure", lambda self, **kw: configured.append("stock"))
    monkeypatch.setattr(distro.OtelLoggingConfigurator, "_configure", lambda self, **kw: configured.append("ours"))
    chosen = _load._load_distro()
    chosen.configure()
    _load._load_configurators()
    return type(chosen), configured


@pytest.mark.parametrize("stock_first", [True, False], ids=["stock-listed-first", "ours-listed-first"])
def test_otel_python_distro_selects_ours_and_ours_selects_its_configurator(
    clean_env: pytest.MonkeyPatch, stock_first: bool
) -> None:
    clean_env.setenv("OTEL_PYTHON_DISTRO", "otel_logging")
    distros, configurators = [STOCK_DISTRO, OUR_DISTRO], [STOCK_CONFIGURATOR, OUR_CONFIGURATOR]
    if not stock_first:
        distros.reverse()
        configurators.reverse()
    chosen, configured = selection(clean_env, distros, configurators)
    assert chosen is distro.OtelLoggingDistro
    assert configured == ["ours"]  # the stock configurator is not loaded


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"OTEL_PYTHON_CONFIGURATOR": "otel_logging"}, (OpenTelemetryDistro, ["ours"])),
        ({"OTEL_PYTHON_DISTRO": "distro"}, (OpenTelemetryDistro, ["ours"])),  # the configurator: listing order
        (
            {"OTEL_PYTHON_DISTRO": "distro", "OTEL_PYTHON_CONFIGURATOR": "configurator"},
            (OpenTelemetryDistro, ["stock"]),
        ),
    ],
    ids=["configurator-alone", "stock-distro-alone", "stock-both"],
)
def test_the_other_documented_selections(
    clean_env: pytest.MonkeyPatch, variables: dict[str, str], expected: tuple[type, list[str]]
) -> None:
    """docs/zero-code.md, with our configurator listed first: the stock distro alone does not bring its configurator."""
    for name, value in variables.items():
        clean_env.setenv(name, value)
    assert selection(clean_env, [STOCK_DISTRO, OUR_DISTRO], [OUR_CONFIGURATOR, STOCK_CONFIGURATOR]) == expected


def test_without_the_variable_the_first_listed_distro_wins(clean_env: pytest.MonkeyPatch) -> None:
    """Why installing otel-logging is not enough: opentelemetry-distro, a dependency, may be listed first."""
    chosen, configured = selection(clean_env, [STOCK_DISTRO, OUR_DISTRO], [STOCK_CONFIGURATOR, OUR_CONFIGURATOR])
    assert (chosen, configured) == (OpenTelemetryDistro, ["stock"])


def test_the_distro_keeps_the_stock_defaults_and_explicit_choices(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", "none")
    clean_env.setenv("OTEL_PYTHON_CONFIGURATOR", "configurator")
    distro.OtelLoggingDistro().configure()
    import os

    assert os.environ["OTEL_TRACES_EXPORTER"] == "none"
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "configurator"  # the user's choice stands
    assert (os.environ["OTEL_METRICS_EXPORTER"], os.environ["OTEL_LOGS_EXPORTER"]) == ("otlp", "otlp")
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, True),
        ({"OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "false"}, False),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask, logging"}, False),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"}, False),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"}, True),
        (
            {
                "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "false",
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            },
            True,
        ),
    ],
)
def test_a_handler_where_stock_auto_instrumentation_puts_one(env: dict[str, str], wanted: bool) -> None:
    assert distro.handler_wanted(env) is wanted


def test_handler_level_from_the_instrumentation_variable() -> None:
    assert distro.handler_level({}) == logging.INFO
    assert distro.handler_level({"OTEL_PYTHON_LOG_HANDLER_LEVEL": "warning"}) == logging.WARNING
    assert distro.handler_level({"OTEL_PYTHON_LOG_HANDLER_LEVEL": "loud"}) == logging.INFO


# -- what the configurator builds for the logs ---------------------------------------------------------------
@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run distro.configure() with an _initialize_components that builds only the logs part, as the SDK does."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_BLRP_EXPORT_TIMEOUT", "0")
    for name in ("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"):
        monkeypatch.delenv(name, raising=False)
    provider = LoggerProvider(shutdown_on_exit=False)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(distro, "get_logger_provider", lambda: provider)

    def run(*exporters: Any) -> LoggerProvider:
        def initialize(**kwargs: Any) -> None:
            seen.update(kwargs)
            for exporter in exporters:  # _init_logging: one processor per exporter named in OTEL_LOGS_EXPORTER
                provider.add_log_record_processor(kwargs["export_log_record_processor"](exporter))

        monkeypatch.setattr(distro, "_initialize_components", initialize)
        distro.OtelLoggingConfigurator().configure(auto_instrumentation_version="0")
        return provider

    run.seen = seen  # type: ignore[attr-defined]
    yield run
    provider.shutdown()


def root_otel_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if type(h).__module__.startswith(("opentelemetry", "otel_logging"))]


def test_otlp_grpc_logs_run_the_reliable_processor_behind_one_handler(configured: Any) -> None:
    provider = configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    assert configured.seen["setup_logging_handler"] is False  # never the SDK's deprecated handler
    assert configured.seen["auto_instrumentation_version"] == "0"
    (processor,) = provider._multi_log_record_processor._log_record_processors
    assert isinstance(processor, ReliableBatchProcessor)
    (handler,) = root_otel_handlers()
    assert isinstance(handler, OtelLoggingHandler)
    assert handler._fast_path() is processor and handler.redactor is not None
    handle = CLIENT_STATE.handle
    assert handle is not None and handle.zero_code and handle.processor is processor
    assert logging.getLogger().getEffectiveLevel() <= logging.INFO


def settings_of(processor: ReliableBatchProcessor) -> dict[str, Any]:
    """The processor's plain settings (numbers, strings, paths), not its threads, queue or transport."""
    plain = (int, float, str, bool, Path, type(None))
    return {k: v for k, v in vars(processor).items() if isinstance(v, plain)}


def test_the_processor_is_built_as_setup_builds_it(configured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same OTEL_* variables, same processor settings: an option added to setup()'s processor (the disk
    buffer, say) must be passed here too."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "123")
    handle = otel_logging.setup()
    assert handle.processor is not None
    from_setup = settings_of(handle.processor)
    CLIENT_STATE.reset()
    provider = configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    (processor,) = provider._multi_log_record_processor._log_record_processors
    assert settings_of(processor) == from_setup
    assert from_setup["_max_queue"] == 123


def test_setup_inside_the_zero_code_pipeline_returns_it_and_adds_no_handler(configured: Any) -> None:
    configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    zero_code = CLIENT_STATE.handle
    handle = otel_logging.setup("another-name", "http://127.0.0.1:2")
    assert handle is zero_code
    assert otel_logging.setup() is zero_code
    assert len(root_otel_handlers()) == 1


def test_other_log_exporters_keep_the_sdk_batch_processor(configured: Any) -> None:
    provider = configured(ConsoleLogRecordExporter(out=open("/dev/null", "w")))  # noqa: SIM115
    (processor,) = provider._multi_log_record_processor._log_record_processors
    assert isinstance(processor, BatchLogRecordProcessor)
    (handler,) = root_otel_handlers()
    assert isinstance(handler, OtelLoggingHandler) and handler._fast_path() is None  # every record via the SDK


def test_otlp_over_http_keeps_the_sdk_batch_processor_and_says_so(
    configured: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = pytest.importorskip("opentelemetry.exporter.otlp.proto.http._log_exporter")
    monkeypatch.setattr(distro._logger, "disabled", False)  # an earlier dictConfig in this process may disable it
    with caplog.at_level(logging.WARNING, logger="otel_logging.client.distro"):
        provider = configured(http.OTLPLogExporter(endpoint="http://127.0.0.1:1/v1/logs"))
    (processor,) = provider._multi_log_record_processor._log_record_processors
    assert isinstance(processor, BatchLogRecordProcessor)
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in caplog.text


def test_log_correlation_still_formats_the_console_with_trace_ids(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a fresh process: the root logger has no handler yet (pytest's own are set aside)."""
    monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "true")
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    console = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert len(console) == 1 and "otelTraceID" in str(console[0].formatter._fmt)  # type: ignore[union-attr]
    assert len(root_otel_handlers()) == 1


def test_no_log_exporter_means_no_handler(configured: Any) -> None:
    configured()  # OTEL_LOGS_EXPORTER=none
    assert root_otel_handlers() == [] and CLIENT_STATE.handle is None


@pytest.mark.parametrize("variable", ["OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_LOGGING_BUFFER_MAX_MB"])
def test_a_bad_logs_setting_is_said_and_stops_nothing(
    configured: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str
) -> None:
    """A bad value raises nothing out of the configurator (opentelemetry-instrument would then instrument no
    library at all): it is said once and the logs go through the SDK's BatchLogRecordProcessor."""
    monkeypatch.setenv(variable, "lots")
    monkeypatch.setenv("OTEL_LOGGING_BUFFER_DIR", "auto")
    # an earlier test's logging.config call (disable_existing_loggers) may have disabled the module's logger
    monkeypatch.setattr(logging.getLogger("otel_logging.client.distro"), "disabled", False)
    configured()  # traces and metrics configured, no logs: nothing to say
    assert configured.seen and variable not in caplog.text
    provider = configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    assert variable in caplog.text
    assert [type(p).__name__ for p in provider._multi_log_record_processor._log_record_processors] == [
        "BatchLogRecordProcessor"
    ]
    assert len(root_otel_handlers()) == 1  # the records still reach a handler


def test_no_handler_when_the_logging_auto_instrumentation_is_off(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "false")
    provider = configured(OTLPLogExporter(endpoint="http://127.0.0.1:1", insecure=True))
    assert isinstance(provider._multi_log_record_processor._log_record_processors[0], ReliableBatchProcessor)
    assert root_otel_handlers() == [] and CLIENT_STATE.handle is None
