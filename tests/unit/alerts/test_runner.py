"""The run loop's pieces: evaluation over a real files source, reloads that keep good rules, /metrics text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from otel_logging.alerts.rules import RuleFileError
from otel_logging.alerts.runner import AlertsRunner, describe_state
from otel_logging.alerts.state import FIRING, StateFile
from otel_logging.dashboard.sources.files import FileSource
from tests.unit.alerts.support import NOW, Clock, burst, write_records

RULES = """
[[rule]]
name = "errors"
query = "level:error"
window = "1m"
every = "10s"
count_above = 3
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path, FileSource]]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)
    source = FileSource(log_dir, min_refresh_interval_s=0)
    yield log_dir, rules, source
    source.close()


def runner_of(setup: tuple[Path, Path, FileSource], events: list[dict[str, Any]], clock: Clock) -> AlertsRunner:
    log_dir, rules, source = setup
    return AlertsRunner(rules, source, StateFile(log_dir / "state.json"), events.append, clock=clock)


def test_due_rules_are_evaluated_each_interval(setup: tuple[Path, Path, FileSource]) -> None:
    events: list[dict[str, Any]] = []
    clock = Clock()
    runner = runner_of(setup, events, clock)
    write_records(setup[0], "shop", burst(NOW - timedelta(seconds=5), 5))
    assert runner.tick(monotonic=100.0) == 1
    assert runner.tick(monotonic=105.0) == 0  # not due before `every`
    assert runner.seconds_to_next(monotonic=105.0) == 1.0  # capped: a stop or a file change is seen within 1 s
    assert runner.state.rules["errors"].status == FIRING
    assert [e["event"] for e in events] == ["alert", "state"]
    clock.advance(120)
    assert runner.tick(monotonic=110.0) == 1
    assert runner.state.rules["errors"].status == "ok"
    assert [e["status"] for e in events if e["event"] == "alert"] == ["firing", "resolved"]
    text = runner.metrics_text()
    assert "otel_logging_alerts_evaluations_total 2\n" in text
    assert 'otel_logging_alerts_rule_firing{rule="errors"} 0\n' in text
    (row,) = describe_state(runner.state, runner.rules)
    assert row["status"] == "ok" and [h["status"] for h in row["history"]] == ["firing", "ok"]


def test_a_broken_file_on_reload_keeps_the_old_rules(setup: tuple[Path, Path, FileSource]) -> None:
    events: list[dict[str, Any]] = []
    runner = runner_of(setup, events, Clock())
    rules_path = setup[1]
    rules_path.write_text(RULES.replace("count_above = 3", "count_above = -3"))
    assert runner.reload() is False
    assert runner.rules.rules[0].threshold == 3
    assert events[-1]["event"] == "reload_failed"
    assert events[-1]["problems"] == ["rule 'errors': count_above: must be a number >= 0 (-3 given)"]
    assert "otel_logging_alerts_rules_reload_failures_total 1" in runner.metrics_text()
    rules_path.write_text(RULES.replace("count_above = 3", "count_above = 30"))
    assert runner.reload() is True
    assert runner.rules.rules[0].threshold == 30


def test_a_changed_file_or_sighup_reloads_within_the_loop(setup: tuple[Path, Path, FileSource]) -> None:
    events: list[dict[str, Any]] = []
    runner = runner_of(setup, events, Clock())
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        setup[1].write_text(RULES + RULES.replace('"errors"', '"errors 2"'))
        from tests.support.procs import wait_for

        wait_for(lambda: len(runner.rules.rules) == 2, timeout=10, what="the changed file reloaded")
        runner.reload_requested.set()
        wait_for(lambda: runner.reloads == 2, timeout=10, what="the SIGHUP-style reload")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert [e["event"] for e in events if e["event"] == "reloaded"] == ["reloaded", "reloaded"]


def test_a_bad_file_at_start_is_refused(setup: tuple[Path, Path, FileSource]) -> None:
    setup[1].write_text("[[rule]]\nname = 'x'\n")
    with pytest.raises(RuleFileError, match="rule 'x': condition"):
        runner_of(setup, [], Clock())


def test_a_damaged_state_file_is_moved_aside_only_by_the_evaluator(tmp_path: Path) -> None:
    """A reader (the dashboard's panel, `alerts list`) reports it and touches nothing: it used to move the
    running evaluator's file aside (with its undelivered notifications) on every page draw."""
    path = tmp_path / "state.json"
    path.write_text('{"rules": {"r": {"unknown_field": 1}}}', encoding="utf-8")
    read = StateFile(path).load()
    assert read.problems and "cannot be read" in read.problems[0]
    assert path.exists() and not list(tmp_path.glob("state.json.broken-*"))
    repaired = StateFile(path).load(repair=True)
    assert repaired.problems and "moved to" in repaired.problems[0]
    assert not path.exists() and len(list(tmp_path.glob("state.json.broken-*"))) == 1


def test_a_slow_query_does_not_hold_the_state_lock(setup: tuple[Path, Path, FileSource]) -> None:
    """Delivery and /metrics take the state's lock; a tick's queries run without it."""
    events: list[dict[str, Any]] = []
    runner = runner_of(setup, events, Clock())
    source = setup[2]
    asked, release = threading.Event(), threading.Event()
    count = source.count

    def slow_count(flt: Any) -> int:
        asked.set()
        assert release.wait(30)
        return count(flt)

    source.count = slow_count  # type: ignore[method-assign]
    tick = threading.Thread(target=runner.tick, kwargs={"monotonic": 100.0})
    tick.start()
    try:
        assert asked.wait(30)
        assert runner.lock.acquire(timeout=5), "the lock was held across the query"
        runner.lock.release()
        assert "otel_logging_alerts_evaluations_total 0" in runner.metrics_text()
    finally:
        release.set()
        tick.join(30)
    assert "otel_logging_alerts_evaluations_total 1" in runner.metrics_text()


def test_a_reload_forgets_the_patterns_of_rules_gone(setup: tuple[Path, Path, FileSource]) -> None:
    log_dir, rules, _ = setup
    rules.write_text(RULES + '\n[[rule]]\nname = "new"\nquery = "*"\nwindow = "1m"\nnew_pattern = true\n')
    events: list[dict[str, Any]] = []
    runner = runner_of(setup, events, Clock())
    write_records(log_dir, "shop", burst(NOW - timedelta(seconds=5), 2))
    runner.tick(monotonic=100.0)
    assert len(runner.evaluator.known_patterns) == 1
    rules.write_text(RULES)
    assert runner.reload()
    assert runner.evaluator.known_patterns == {}
