"""scripts/elasticsearch.sh: the version choice and the Java it needs, checked without starting a node."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.es_fixtures import SCRIPT

pytestmark = pytest.mark.integration


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    pins = ("OTEL_LOGGING_ES_VERSION", "ES_VERSION", "OTEL_LOGGING_ES_VERSION_9", "OTEL_LOGGING_ES_VERSION_8")
    environment = {k: v for k, v in os.environ.items() if k not in pins}
    environment.update(env)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=60)


@pytest.mark.parametrize(("pin", "version"), [({}, "9.2.0"), ({"OTEL_LOGGING_ES_VERSION_9": "9.5.2"}, "9.5.2")])
def test_9x_without_java_21_is_refused_naming_what_was_looked_at(
    tmp_path: Path, pin: dict[str, str], version: str
) -> None:
    # Only the default java (17 here) and an empty JVM dir to choose from.
    empty = tmp_path / "jvm"
    empty.mkdir()
    env = {"OTEL_LOGGING_JVM_DIR": str(empty), "OTEL_LOGGING_CACHE": str(tmp_path / "cache"), **pin}
    result = run_script("start", "--version", "9", "--run-dir", str(tmp_path / "run"), **env)
    assert result.returncode == 1
    assert f"Elasticsearch {version} needs Java 21 or newer" in result.stderr
    assert "$ES_JAVA_HOME" in result.stderr and str(empty) in result.stderr
    assert not (tmp_path / "cache").exists(), "nothing is downloaded before a Java is found"


def test_a_version_that_is_not_x_y_z_is_refused(tmp_path: Path) -> None:
    result = run_script("fetch", ES_VERSION="9.x", OTEL_LOGGING_CACHE=str(tmp_path / "cache"))
    assert result.returncode == 1
    assert "version '9.x' is not X.Y.Z (or a major: 8, 9)" in result.stderr


def test_a_run_dir_keeps_its_version(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "version").write_text("8.19.21\n")
    result = run_script("start", "--version", "9", "--run-dir", str(run_dir), OTEL_LOGGING_CACHE=str(tmp_path / "c"))
    assert result.returncode == 1
    assert "holds the data of Elasticsearch 8.19.21, not 9.2.0" in result.stderr
    assert not (tmp_path / "c").exists(), "refused before any download"
