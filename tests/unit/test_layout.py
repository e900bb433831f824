"""The package layout: the old import paths still work, and the dependencies point one way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "otel_logging"

# old path -> where the module lives now (the old path is the same module object)
MOVED = {
    "otel_logging.names": "otel_logging.record.names",
    "otel_logging.severity": "otel_logging.record.severity",
    "otel_logging.native": "otel_logging.record.native",
    "otel_logging.redaction": "otel_logging.record.redaction",
    "otel_logging.lines": "otel_logging.record.lines",
    "otel_logging.queue": "otel_logging.sinks.queue",
    "otel_logging.centralized_logging": "otel_logging.compat.centralized_logging",
    "otel_logging.handlers": "otel_logging.compat.handlers",
    "otel_logging.handlers_base": "otel_logging.compat.handlers_base",
    "otel_logging.handlers_logstash": "otel_logging.compat.handlers_logstash",
    "otel_logging.aggregation": "otel_logging.compat.aggregation",
    "otel_logging.aggregation_handlers": "otel_logging.compat.aggregation_handlers",
}

# every name ``otel_logging.record`` exported when it was one module
RECORD_NAMES = [
    "CanonicalRecord",
    "DecodedJson",
    "InvalidRecord",
    "JsonValue",
    "Lines",
    "MalformedRequest",
    "Record",
    "RecordBatch",
    "any_value",
    "convert_request",
    "decode_json",
    "from_json_line",
    "iter_records",
    "key_values",
    "parse_json",
    "parse_protobuf",
    "rejection_message",
    "rfc3339_nanos",
    "to_json_line",
    "to_json_lines",
]


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_is_the_moved_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_the_record_package_exports_every_name_the_record_module_did() -> None:
    record = importlib.import_module("otel_logging.record")
    missing = [name for name in RECORD_NAMES if not hasattr(record, name)]
    assert not missing
    assert set(RECORD_NAMES) <= set(record.__all__)


def shim_paths() -> set[Path]:
    return {PACKAGE / (name.removeprefix("otel_logging.").replace(".", "/") + ".py") for name in MOVED}


def imported_modules(path: Path) -> set[str]:
    """The otel_logging modules ``path`` imports (at any depth: deferred imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("otel_logging")}


def modules_of(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_internal_code_imports_the_new_paths_not_the_old_ones() -> None:
    offenders = [
        (str(path.relative_to(PACKAGE)), sorted(imported_modules(path) & set(MOVED)))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in shim_paths() and imported_modules(path) & set(MOVED)
    ]
    assert not offenders


def test_the_record_package_depends_on_nothing_else_of_the_project() -> None:
    for path in modules_of("record"):
        outside = {name for name in imported_modules(path) if not name.startswith("otel_logging.record")}
        assert not outside, f"{path.relative_to(PACKAGE)} imports {sorted(outside)}"


def test_nothing_outside_compat_imports_the_older_api() -> None:
    compat = set(modules_of("compat")) | shim_paths()
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in compat:
            continue
        older = {name for name in imported_modules(path) if name.startswith("otel_logging.compat")}
        assert not older, f"{path.relative_to(PACKAGE)} imports {sorted(older)}"


def test_nothing_imports_the_cli() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "commands" or path.name in ("cli.py", "__main__.py"):
            continue
        cli = {
            name
            for name in imported_modules(path)
            if name == "otel_logging.cli" or name.startswith(("otel_logging.cli.", "otel_logging.commands"))
        }
        assert not cli, f"{path.relative_to(PACKAGE)} imports {sorted(cli)}"


def test_unit_tests_mirror_the_packages_with_unique_module_names() -> None:
    unit = Path(__file__).resolve().parent
    folders = sorted(path.name for path in unit.iterdir() if path.is_dir() and path.name != "__pycache__")
    assert all((PACKAGE / name / "__init__.py").is_file() for name in folders), folders
    assert all((unit / name / "__init__.py").is_file() for name in folders)
    names = [path.name for path in (unit.parent).rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)
