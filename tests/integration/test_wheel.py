"""The wheel carries the native extension; the sdist installs without cargo and runs the pure-Python path.

``python -m build`` makes the sdist and, from it, the wheel (so the sdist is proven to carry the Rust sources).
Both are cached under ``$OTEL_LOGGING_CACHE/wheels/<hash of the sources>`` (Cargo's dirs under
``$OTEL_LOGGING_CACHE/cargo``), so a rerun without source changes skips the build. The installs go into one
fresh venv (its dependencies from PyPI, pip's cache under ``$OTEL_LOGGING_CACHE/pip``) whose commands run with
a PATH that has no cargo or rustc and without this checkout on ``sys.path``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import REPO, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.heavy]

CACHE = Path(os.environ.get("OTEL_LOGGING_CACHE") or REPO / ".cache")
WHEELS = CACHE / "wheels"
RUST_TOOLS = ("cargo", "rustc")
STDLIB_LOG = (
    "2024-03-01 10:00:00,001 - app.web - INFO - started\n"
    "2024-03-01 10:00:01,002 - app.web - WARNING - slow request 1200 ms\n"
    "2024-03-01 10:00:02,003 - app.db - ERROR - connection lost\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/db.py", line 7, in connect\n'
    "ConnectionError: refused\n"
)
PURE_PYTHON = "pure-Python path"


def _sources() -> Iterator[Path]:
    """What the sdist and the wheel are made of (build output and in-place extensions left out)."""
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        yield REPO / name
    yield from sorted((REPO / "native").glob("Cargo.*"))
    for root in ("native/src", "native/python", "otel_logging"):
        yield from sorted(
            p for p in (REPO / root).rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".so"
        )


def _cargo_dir() -> str | None:
    cargo = shutil.which("cargo") or (
        str(Path.home() / ".cargo/bin/cargo") if (Path.home() / ".cargo/bin/cargo").exists() else None
    )
    return str(Path(cargo).parent) if cargo else None


def _source_key(cargo_dir: str) -> str:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    rustc = subprocess.run([f"{cargo_dir}/rustc", "--version"], capture_output=True, text=True, check=True).stdout
    digest.update(f"{sys.version}\n{rustc}".encode())
    return digest.hexdigest()[:20]


def _run(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env(path: list[str]) -> dict[str, str]:
    """This environment without the checkout, the test venv, Rust's variables or the native switch."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OTEL_LOGGING_NATIVE", "CARGO", "RUSTC", "RUSTUP_TOOLCHAIN")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("CARGO_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join(path)
    env["PIP_CACHE_DIR"] = str(CACHE / "pip")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _path_without_rust() -> list[str]:
    return [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any((Path(d) / t).exists() for t in RUST_TOOLS)
    ]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) of this checkout: cached, or built by ``python -m build`` (the sdist, then the wheel from it)."""
    cargo_dir = _cargo_dir()
    assert cargo_dir, "cargo is needed to build the wheel with the native extension (https://rustup.rs)"
    key = _source_key(cargo_dir)
    out = WHEELS / key
    WHEELS.mkdir(parents=True, exist_ok=True)
    with open(WHEELS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per cache
        if not (out / "complete").exists():
            for old in WHEELS.iterdir():  # the builds of older sources
                if old.is_dir():
                    shutil.rmtree(old)
            work = tmp_path_factory.mktemp("build")
            env = _clean_env([cargo_dir, *_path_without_rust()])
            env["CARGO_HOME"] = str(CACHE / "cargo" / "home")
            env["CARGO_TARGET_DIR"] = str(CACHE / "cargo" / "target")
            started = time.monotonic()
            _run([sys.executable, "-m", "venv", str(work / "tools")], env, work)
            _run([str(work / "tools/bin/python"), "-m", "pip", "install", "-q", "build>=1"], env, work)
            _run([str(work / "tools/bin/python"), "-m", "build", "--outdir", str(work / "dist"), str(REPO)], env, work)
            print(f"built the sdist and the wheel in {time.monotonic() - started:.0f} s")
            shutil.move(work / "dist", out)
            (out / "complete").touch()
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def _extras(wheel: Path) -> list[str]:
    """The wheel's extras that the service needs (every one but the developers' ``test`` and ``docs``)."""
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Provides-Extra:")]


class Venv:
    """A fresh venv whose commands run without cargo or rustc on PATH and without this checkout importable."""

    client_only: ClientOnly

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.env = _clean_env([str(self.bin), *_path_without_rust()])
        self.env["VIRTUAL_ENV"] = str(root / "venv")
        for tool in RUST_TOOLS:
            assert shutil.which(tool, path=self.env["PATH"]) is None, f"{tool} is still on the venv's PATH"

    def run(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / command[0]), *command[1:]], self.env, self.root, timeout)

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("python", "-m", "pip", *args)

    def install_only(self, *args: str) -> None:
        """otel-logging from ``args`` instead of whatever was installed (its dependencies are there already)."""
        self.pip("uninstall", "-q", "-y", "otel-logging")
        self.pip("install", "-q", "--no-deps", *args)
        self.pip("check")

    def aggregate(self, log: Path, out: Path) -> tuple[list[dict[str, Any]], str]:
        """``otel-logging aggregate`` of ``log`` into the log dir ``out``: its records and its stderr."""
        result = self.run("otel-logging", "aggregate", str(log), "--app", "legacy", "--log-dir", str(out),
                          "--checkpoint", str(out / "checkpoint.json"), "--json", timeout=120)  # fmt: skip
        assert json.loads(result.stdout.splitlines()[-1])["records"] == 3, result.stdout
        return [json.loads(line) for line in (out / "legacy.jsonl").read_text().splitlines()], result.stderr

    def serve_stderr(self, log_dir: Path) -> str:
        """What ``otel-logging serve`` says on stderr from its start until it stops (SIGTERM once it listens)."""
        log_dir.mkdir()
        stdout, stderr = log_dir / "stdout.txt", log_dir / "stderr.txt"
        command = [
            str(self.bin / "otel-logging"),
            "serve",
            "--port",
            "0",
            "--http-port",
            "0",
            "--log-dir",
            str(log_dir),
        ]
        with open(stdout, "w") as out, open(stderr, "w") as err:
            proc = subprocess.Popen(command, env=self.env, cwd=self.root, stdout=out, stderr=err)
        try:
            wait_for(lambda: '"listening"' in stdout.read_text() or proc.poll() is not None, 60, what="serve to listen")
            assert proc.poll() is None, stderr.read_text()
        finally:
            proc.terminate()
            proc.wait(60)
        return stderr.read_text()


@dataclass
class ClientOnly:
    """What the wheel installed alone (no extra: the app side) did, before the service's extra was added."""

    site_packages_mb: float
    setup_output: str
    serve: subprocess.CompletedProcess[str]
    dashboard: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def venv(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with otel-logging's dependencies and its ``server`` extra (from PyPI) but not otel-logging
    itself; ``client_only`` holds what the wheel did installed alone, first."""
    wheel, _ = dists
    root = tmp_path_factory.mktemp("fresh")
    _run([sys.executable, "-m", "venv", str(root / "venv")], _clean_env(_path_without_rust()), root)
    made = Venv(root)
    assert {"server", "dashboard", "all"} <= set(_extras(wheel))
    # --no-compile: no .pyc for the packages now (the commands below compile what they import)
    made.pip("install", "-q", "--no-compile", str(wheel))
    site = Path(made.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file() and not f.is_symlink())
    setup_app = (
        "import logging, os, sys, otel_logging\n"
        "otel_logging.setup('svc', 'http://127.0.0.1:9')\n"
        "logging.getLogger('app').warning('hello')\n"
        "print('set up'); sys.stdout.flush(); os._exit(0)\n"
    )
    made.client_only = ClientOnly(
        size / 1e6,
        made.run("python", "-c", setup_app).stdout,
        subprocess.run([str(made.bin / "otel-logging"), "serve"], env=made.env, capture_output=True, text=True),
        subprocess.run([str(made.bin / "otel-logging"), "dashboard"], env=made.env, capture_output=True, text=True),
    )
    made.pip("install", "-q", "--no-compile", f"{wheel}[server]")
    made.pip("uninstall", "-q", "-y", "otel-logging")
    return made


def test_the_wheel_alone_is_the_app_side_and_a_command_names_its_extra(venv: Venv) -> None:
    alone = venv.client_only
    print(f"the wheel alone: {alone.site_packages_mb:.0f} MB of site-packages")
    assert alone.setup_output == "set up\n"
    assert alone.site_packages_mb < 100  # the app side: no Streamlit, DuckDB, pandas, Elasticsearch client
    for result, extra in ((alone.serve, "server"), (alone.dashboard, "dashboard")):
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"pip install 'otel-logging[{extra}]'" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def stdlib_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "app.log"
    path.write_text(STDLIB_LOG)
    return path


@pytest.fixture(scope="module")
def reference(stdlib_log: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The records of ``stdlib_log`` made by this checkout's pure-Python path, minus their observed time."""
    out = tmp_path_factory.mktemp("reference")
    env = {**os.environ, "OTEL_LOGGING_NATIVE": "0", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "otel_logging", "aggregate", str(stdlib_log), "--app", "legacy"]
    _run([*command, "--log-dir", str(out), "--checkpoint", str(out / "checkpoint.json")], env, out)
    return _comparable([json.loads(line) for line in (out / "legacy.jsonl").read_text().splitlines()])


def _comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k != "observed_timestamp"} for record in records]


def test_the_wheel_is_one_abi3_wheel_with_the_extension_and_the_sdist_has_the_rust_sources(
    dists: tuple[Path, Path],
) -> None:
    wheel, sdist = dists
    print(f"{wheel.name}: {wheel.stat().st_size} bytes; {sdist.name}: {sdist.stat().st_size} bytes")
    assert re.fullmatch(r"otel_logging-[^-]+-cp311-abi3-[a-z0-9_]+\.whl", wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "otel_logging_native/otel_logging_native.abi3.so" in names
    assert {"otel_logging_native/__init__.py", "otel_logging_native/__init__.pyi", "otel_logging/cli.py"} <= names
    with tarfile.open(sdist) as tf:
        inside = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    assert {"setup.py", "native/Cargo.toml", "native/Cargo.lock", "native/src/lib.rs"} <= inside
    assert not any(name.endswith(".so") or name.startswith("native/target") for name in inside)


def test_a_fresh_venv_with_the_wheel_runs_the_native_code_without_a_rust_toolchain(
    dists: tuple[Path, Path], venv: Venv, stdlib_log: Path, reference: list[dict[str, Any]]
) -> None:
    wheel, _ = dists
    venv.install_only(str(wheel))
    version = venv.run("otel-logging", "--version").stdout
    assert "native code: active" in version, version
    venv.run(
        "python", "-c", "from otel_logging.record import native; assert native.AVAILABLE and native.STDLIB_AVAILABLE"
    )
    records, stderr = venv.aggregate(stdlib_log, venv.root / "native-out")
    assert PURE_PYTHON not in stderr and "Python path" not in stderr, stderr
    assert _comparable(records) == reference
    serving = venv.serve_stderr(venv.root / "native-serve")
    assert "Python path" not in serving and "stopped cleanly" in serving, serving
    assert [r["severity_text"] for r in records] == ["INFO", "WARN", "ERROR"]
    assert records[2]["body"].startswith("connection lost") and "ConnectionError: refused" in json.dumps(records[2])


def test_the_sdist_installs_without_cargo_and_says_once_that_it_runs_the_pure_python_path(
    dists: tuple[Path, Path], venv: Venv, stdlib_log: Path, reference: list[dict[str, Any]]
) -> None:
    _, sdist = dists
    # --no-cache-dir: build it now, not a wheel pip cached from an earlier run
    venv.install_only("--no-cache-dir", str(sdist))
    site = venv.run(
        "python", "-c", "import otel_logging, os; print(os.path.dirname(os.path.dirname(otel_logging.__file__)))"
    )
    assert not list(Path(site.stdout.strip()).glob("otel_logging_native/*.so"))
    version = venv.run("otel-logging", "--version").stdout
    assert re.search(
        r"native code: inactive: .*installed without its native extension.*\(pure-Python path\)", version
    ), version
    records, stderr = venv.aggregate(stdlib_log, venv.root / "pure-out")
    assert stderr.count(PURE_PYTHON) == 1, stderr
    assert _comparable(records) == reference
    serving = venv.serve_stderr(venv.root / "pure-serve")
    assert serving.count("converted on the Python path") == 1 and "stopped cleanly" in serving, serving
