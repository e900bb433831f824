"""What starting `otel-logging` loads: the store's engine only for the store and the dashboard."""

from __future__ import annotations

import subprocess

from tests.support.procs import PYTHON


def test_building_the_command_line_does_not_import_duckdb() -> None:
    probe = "import sys; from otel_logging.cli import build_parser; build_parser(); print('duckdb' in sys.modules)"
    out = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
