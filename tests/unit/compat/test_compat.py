"""The older API (otel_logging.compat): each entry point warns once, naming its replacement, at the caller's line.

Behaviour of the older API is tested where it always was (tests/unit/compat/test_aggregation_handlers.py,
tests/integration/test_aggregate.py, test_app_side.py, test_elasticsearch.py, test_logstash.py), with the
warning filtered (``tests.support.compat.older_api``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_logging.compat import aggregation, aggregation_handlers, centralized_logging, handlers, handlers_logstash
from tests.support.procs import REPO, child_env


@pytest.fixture
def root_level() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def deprecations(call: Callable[[], Any]) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, DeprecationWarning)]


def assert_one_warning(caught: list[warnings.WarningMessage], entry_point: str, *replacement: str) -> None:
    assert len(caught) == 1, [str(w.message) for w in caught]
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith(f"{entry_point} is deprecated: use ")
    for name in replacement:
        assert name in message
    assert "docs/migrating.md" in message
    assert warning.filename == __file__, "the warning points at the caller's line"


def test_configure_centralized_logging_warns_and_still_calls_setup(
    monkeypatch: pytest.MonkeyPatch, root_level: None
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(centralized_logging, "setup", lambda **kwargs: calls.append(kwargs) or "handle")
    handle, caught = deprecations(
        lambda: centralized_logging.configure_centralized_logging("my_app", "logs.internal", 4317)
    )
    assert_one_warning(caught, "configure_centralized_logging()", "otel_logging.setup(")
    assert handle == "handle"
    assert calls == [
        {"service_name": "my_app", "endpoint": "http://logs.internal:4317", "level": logging.INFO, "insecure": True}
    ]
    with pytest.warns(DeprecationWarning, match=r"otel_logging\.setup"):
        centralized_logging.configure_centralized_logging("my_app")


def test_get_centralized_logger_warns_and_is_a_standard_logger() -> None:
    logger, caught = deprecations(lambda: centralized_logging.get_centralized_logger("app.web"))
    assert_one_warning(caught, "get_centralized_logger()", "logging.getLogger(name)")
    assert logger is logging.getLogger("app.web")


def test_the_older_handlers_warn_naming_the_service_flags(tmp_path: Path) -> None:
    from elasticsearch import Elasticsearch

    client = Elasticsearch("http://127.0.0.1:9")  # never contacted: nothing is logged through the handler
    es_handler, caught = deprecations(lambda: handlers.ElasticsearchHandler(client, service_name="billing"))
    es_handler.close()
    client.close()
    assert_one_warning(caught, "ElasticsearchHandler", "otel_logging.setup()", "--es-url")

    logstash_handler, caught = deprecations(lambda: handlers_logstash.LogstashHandler("127.0.0.1", 9))
    logstash_handler.close()
    assert_one_warning(caught, "LogstashHandler", "otel_logging.setup()", "--logstash")

    rotating, caught = deprecations(lambda: aggregation_handlers.FileRotatingHandler(str(tmp_path / "out.jsonl")))
    rotating.close()
    assert_one_warning(caught, "FileRotatingHandler", "--output-file", "RotatingFileSink")


def test_log_aggregator_warns_naming_the_command(tmp_path: Path) -> None:
    aggregator, caught = deprecations(
        lambda: aggregation.LogAggregator("billing", files_dir=tmp_path / "logs", checkpoint=tmp_path / "ck.json")
    )
    aggregator.close()
    assert_one_warning(caught, "LogAggregator", "`otel-logging aggregate`", "otel_logging.ingest")


def test_configure_log_aggregation_warns_once_not_again_for_its_own_aggregator(tmp_path: Path) -> None:
    (tmp_path / "app-logs").mkdir()
    handle, caught = deprecations(
        lambda: aggregation.configure_log_aggregation(
            "billing", tmp_path / "app-logs", output_file=tmp_path / "all.jsonl", checkpoint=tmp_path / "ck.json"
        )
    )
    handle.stop()
    assert_one_warning(caught, "configure_log_aggregation()", "`otel-logging aggregate`")
    with pytest.warns(DeprecationWarning, match="LogAggregator is deprecated"):
        aggregation.LogAggregator("billing", checkpoint=tmp_path / "ck.json").close()  # the flag did not stick


def test_the_aggregate_command_output_file_is_no_deprecated_handler(tmp_path: Path) -> None:
    from otel_logging.config import AggregateSettings, OutputFileSettings
    from otel_logging.sinks.build import build_sinks
    from otel_logging.sinks.rotating_file import RotatingFileSink

    settings = AggregateSettings(output=OutputFileSettings(path=tmp_path / "all.jsonl"))
    sinks, caught = deprecations(lambda: build_sinks(settings))
    assert not caught
    (sink,) = sinks
    assert type(sink) is RotatingFileSink and sink.name == f"file:{tmp_path / 'all.jsonl'}"
    sink.close()


def test_importing_the_package_the_old_paths_and_compat_emits_no_warning() -> None:
    code = (
        "import otel_logging; otel_logging.setup; otel_logging.shutdown\n"
        "import otel_logging.compat.aggregation, otel_logging.compat.centralized_logging\n"
        "from otel_logging.centralized_logging import configure_centralized_logging, get_centralized_logger\n"
        "from otel_logging.handlers import ElasticsearchHandler\n"
        "from otel_logging.handlers_logstash import LogstashHandler\n"
        "from otel_logging.aggregation import FileRotatingHandler, LogAggregator, configure_log_aggregation\n"
        "from otel_logging.aggregation import ElasticsearchHandler, LogstashHandler\n"
        "from otel_logging.aggregation_handlers import as_sink\n"
        "from otel_logging.handlers_base import BufferedRecordHandler\n"
        "import otel_logging.names, otel_logging.queue, otel_logging.native, otel_logging.record\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_handlers_are_still_importable_from_the_aggregation_module() -> None:
    # (the old module paths are the compat modules: tests/unit/test_layout.py)
    assert aggregation.LogstashHandler is handlers_logstash.LogstashHandler  # still importable from there
    assert aggregation.ElasticsearchHandler is handlers.ElasticsearchHandler
