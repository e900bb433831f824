"""``otel-logging --version``: the version, the OpenTelemetry SDK's, and whether the native code runs."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from otel_logging.cli import main
from otel_logging.record import native
from tests.support.procs import child_env


def test_version_names_the_package_the_sdk_and_the_native_state(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"otel-logging {metadata.version('otel-logging')}"
    assert lines[1] == f"opentelemetry-sdk {metadata.version('opentelemetry-sdk')}"
    expected = "native code: active" if native.AVAILABLE and native.STDLIB_AVAILABLE else "native code: inactive"
    assert lines[2].startswith(expected)


def test_version_says_when_the_native_code_is_off() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "otel_logging", "--version"],
        env=child_env(OTEL_LOGGING_NATIVE="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == (
        "native code: inactive: disabled by OTEL_LOGGING_NATIVE=0 (pure-Python path)"
    )
