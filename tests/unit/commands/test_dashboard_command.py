"""``otel-logging dashboard`` refuses what it must not do before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.cli import main
from otel_logging.commands.dashboard import PASSWORD_ENV


def test_exposed_address_needs_a_password(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert main(["dashboard", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert PASSWORD_ENV in capsys.readouterr().err


def test_log_dir_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_dir = tmp_path / "file.jsonl"
    not_a_dir.write_text("")
    assert main(["dashboard", "--log-dir", str(not_a_dir), "--port", "0"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_registered_with_its_options() -> None:
    from otel_logging.cli import build_parser

    args = build_parser().parse_args(["dashboard", "--es-url", "http://127.0.0.1:9200"])
    assert (args.host, args.port, args.log_dir, args.es_url) == (
        "127.0.0.1",
        8050,
        Path("logs"),
        "http://127.0.0.1:9200",
    )
