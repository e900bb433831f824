"""A command or API whose extra is not installed says, in one line, which extra to install (no traceback);
the app side (``import otel_logging``; ``setup()``) needs none of them.

The missing packages are simulated the way Python itself reports an absent module: ``sys.modules[name] = None``
makes both ``import name`` and ``importlib.util.find_spec(name)`` see nothing, in a child process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_logging.extras import EXTRAS
from tests.support.procs import child_env

ALL_EXTRA_MODULES = sorted({module for modules in EXTRAS.values() for module in modules} | {"elastic_transport"})


def _run_without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], env=child_env(), capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("argv", "extra", "missing"),
    [
        (["dashboard", "--log-dir", "/nonexistent"], "dashboard", "streamlit, duckdb, pandas, altair, elasticsearch"),
        (
            ["store", "status", "--log-dir", "/nonexistent"],
            "dashboard",
            "streamlit, duckdb, pandas, altair, elasticsearch",
        ),
        (["serve", "--log-dir", "/nonexistent"], "server", "grpc_health, elasticsearch"),
        (["aggregate", "/nonexistent", "--app", "a"], "server", "grpc_health, elasticsearch"),
    ],
)
def test_a_command_without_its_extra_says_which_to_install(argv: list[str], extra: str, missing: str) -> None:
    result = _run_without(ALL_EXTRA_MODULES, f"from otel_logging.cli import main\nsys.exit(main({argv!r}))")
    assert result.returncode == 2
    assert result.stderr == (
        f"otel-logging {argv[0]} needs the '{extra}' extra: pip install 'otel-logging[{extra}]' (missing: {missing})\n"
    )


def test_help_and_version_need_no_extra() -> None:
    for argv in (["--help"], ["--version"], ["dashboard", "--help"], ["serve", "--help"]):
        result = _run_without(ALL_EXTRA_MODULES, f"from otel_logging.cli import main\nsys.exit(main({argv!r}))")
        assert result.returncode == 0, (argv, result.stderr)
        assert result.stdout and not result.stderr


def test_a_module_missing_midway_is_named_with_its_extra(tmp_path: Path) -> None:
    # The command's check is emptied, so the import inside the command is what fails: an extra's module is
    # named with its extra; a module of otel-logging's own is not disguised as one.
    code = (
        "from otel_logging.cli import main\n"
        "from otel_logging import extras\n"
        "extras.EXTRAS['server'] = ()\n"
        f"sys.exit(main(['serve', '--log-dir', {str(tmp_path)!r}, '--es-url', 'http://127.0.0.1:9', '--port', '0']))\n"
    )
    result = _run_without(["elasticsearch", "elastic_transport"], code)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "otel-logging serve needs the 'server' extra: pip install 'otel-logging[server]' (missing: elastic_transport)"
    )
    assert "Traceback" not in result.stderr
    ours = _run_without(["otel_logging.sinks.elasticsearch"], code)
    assert ours.returncode == 1 and "ModuleNotFoundError" in ours.stderr


def test_the_legacy_elasticsearch_handler_names_the_server_extra() -> None:
    code = (
        "from otel_logging.extras import MissingExtraError\n"
        "from otel_logging.compat.handlers import ElasticsearchHandler\n"
        "try:\n"
        "    ElasticsearchHandler(object())\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    result = _run_without(["elasticsearch"], code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "ElasticsearchHandler needs the 'server' extra: pip install 'otel-logging[server]' (missing: elasticsearch)"
    )


def test_the_app_side_needs_no_extra() -> None:
    code = (
        "import logging, os\n"
        "import otel_logging\n"
        "otel_logging.setup('svc', 'http://127.0.0.1:9')\n"
        "logging.getLogger('app').warning('hello', extra={'n': 1})\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ALL_EXTRA_MODULES!r} and sys.modules[m]))\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n"
    )
    result = _run_without(ALL_EXTRA_MODULES, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
