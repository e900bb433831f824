"""The examples of docs/libraries.md run as written and send what the page says they send."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.procs import run_app, wait_for
from tests.unit.client.bridge_support import receiver

pytest.importorskip("structlog")
pytest.importorskip("loguru")

PAGE = Path(__file__).resolve().parents[3] / "docs" / "libraries.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[str]:
    """The page's complete examples: the Python blocks that call ``otel_logging.setup()``."""
    return [code for code in BLOCK.findall(PAGE.read_text()) if "otel_logging.setup(" in code]


def test_the_examples_of_the_libraries_page_run() -> None:
    structlog_example, loguru_example = examples()
    with receiver() as server:
        for code in (structlog_example, loguru_example):
            result = run_app(code.replace("http://127.0.0.1:4317", server.endpoint))
            assert result.returncode == 0, result.stderr
        wait_for(lambda: len(server.snapshot()) >= 4, timeout=30, what="the examples' four records")
        records = server.snapshot()
    by_body = {record["body"]: record for record in records}
    assert len(records) == 4
    order = by_body["order placed"]
    assert order["service"] == "checkout-api" and order["severity_number"] == 9
    assert order["attributes"] == {
        "request_id": "r-1",
        "user": "ann",
        "order_id": 42,
        "customer": {"tier": "gold", "address": {"city": "Oslo"}},
    }
    assert by_body["lookup failed"]["attributes"]["exception.type"] == "KeyError"
    invoice = by_body["invoice 7 sent"]
    assert invoice["service"] == "billing-worker"
    assert invoice["attributes"] == {
        "user": "ann",
        "request_id": "r-1",
        "invoice": 7,
        "total": 9.5,
        "customer": {"tier": "gold"},
    }
    assert by_body["billing failed"]["attributes"]["exception.type"] == "ZeroDivisionError"


def test_the_testing_example_of_the_libraries_page_passes(tmp_path: Path) -> None:
    (code,) = [code for code in BLOCK.findall(PAGE.read_text()) if code.startswith("# conftest.py")]
    conftest, test_module = code.split("# a test module\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_example.py").write_text(test_module)
    result = run_app(
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[1]]))", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
