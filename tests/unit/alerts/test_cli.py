"""``otel-logging alerts check | list | silence`` as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from otel_logging.alerts.rules import load_rules
from otel_logging.cli import main

RULES = '[[rule]]\nname = "errors"\nquery = "level:error"\ncount_above = 3\n'


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(RULES)
    return path


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_check_prints_the_rules_or_each_problem(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check", "--rules", str(rules)]) == 0
    out = lines(capsys.readouterr().out)
    assert out[0]["rule"] == "errors" and out[-1] == {"event": "ok", "file": str(rules), "rules": 1, "targets": 0}
    rules.write_text(RULES.replace("count_above = 3", 'count_above = 3\nwindow = "soon"'))
    assert main(["alerts", "check", "--rules", str(rules)]) == 1
    err = capsys.readouterr().err
    assert f"otel-logging alerts: {rules}: rule 'errors': window: 'soon' is not a duration" in err


def test_list_without_a_state_yet(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "list", "--rules", str(rules), "--log-dir", str(tmp_path)]) == 0
    (row,) = lines(capsys.readouterr().out)
    assert (row["rule"], row["status"]) == ("errors", "unknown")


def test_silence_appends_a_checked_silence(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    assert (
        main(["alerts", "silence", "--rules", str(rules), "--rule", "errors", "--for", "2h", "--comment", "deploy"])
        == 0
    )
    (event,) = lines(capsys.readouterr().out)
    assert event["event"] == "silenced"
    (silence,) = load_rules(rules).silences
    assert silence.rule == "errors" and silence.comment == "deploy"
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= silence.until <= datetime.now(UTC) + timedelta(hours=2)
    assert load_rules(rules).silenced("errors", datetime.now(UTC) + timedelta(hours=1)) is not None


def test_silence_refuses_what_the_file_would_not_take(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "silence", "--rules", str(rules), "--rule", "nope", "--until", "2099-01-01T00:00:00Z"]) == 1
    assert "silence #1: rule: there is no rule named 'nope'" in capsys.readouterr().err
    assert rules.read_text() == RULES  # untouched
    assert main(["alerts", "silence", "--rules", str(rules), "--rule", "errors"]) == 2
    assert "give --for or --until" in capsys.readouterr().err
    assert main(["alerts", "silence", "--rules", str(rules), "--rule", "errors", "--until", "2020-01-01T00:00"]) == 2
    assert "already past" in capsys.readouterr().err
