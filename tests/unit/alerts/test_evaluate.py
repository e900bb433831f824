"""Each condition over a real files source at a fake clock, and each rule's state machine: one notification per
state change, repeats only after ``repeat``, nothing while silenced, no repeat after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from otel_logging.alerts.evaluate import Evaluator, check, dashboard_link
from otel_logging.alerts.rules import Rule, RuleSet, Silence, parse_rules
from otel_logging.alerts.state import FIRING, OK, PENDING, AlertState, StateFile
from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.dashboard.state import ViewState
from tests.unit.alerts.support import NOW, Clock, burst, write_records


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def source(log_dir: Path) -> Iterator[FileSource]:
    log_dir.mkdir()
    src = FileSource(log_dir, min_refresh_interval_s=0)
    yield src
    src.close()


def one_rule(body: str) -> Rule:
    return parse_rules(f'[[rule]]\nname = "r"\n{body}\n').rules[0]


def test_count_above_and_below(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "shop", burst(NOW - timedelta(seconds=30), 12))
    write_records(log_dir, "shop", burst(NOW - timedelta(minutes=10), 50))  # outside the window
    source.refresh(force=True)
    above = one_rule('query = "level:error"\nwindow = "1m"\ncount_above = 10')
    below = one_rule('query = "level:error"\nwindow = "1m"\ncount_below = 20')
    assert (check(above, source, NOW).holds, check(above, source, NOW).value) == (True, 12)
    assert check(above, source, NOW + timedelta(minutes=1)).holds is False  # the burst left the window
    assert check(below, source, NOW).holds is True
    assert check(one_rule('query = "level:error"\nwindow = "1m"\ncount_below = 12'), source, NOW).holds is False


def test_ratio_against_a_base_query(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "api", burst(NOW - timedelta(seconds=30), 90, "INFO", "ok {i}"))
    write_records(log_dir, "api", burst(NOW - timedelta(seconds=20), 10))
    write_records(log_dir, "web", burst(NOW - timedelta(seconds=20), 100))  # not in the base
    source.refresh(force=True)
    rule = one_rule('query = "level:error"\nbase = "service:api"\nwindow = "1m"\nratio_above = 0.05')
    result = check(rule, source, NOW)
    assert (result.holds, result.value, result.detail) == (True, 0.1, {"count": 10, "base_count": 100})
    assert check(one_rule('query = "level:error"\nbase = "service:api"\nratio_above = 0.2'), source, NOW).holds is False
    assert check(rule, source, NOW + timedelta(hours=1)).holds is False  # no base records: 0, not a division error


def test_change_against_the_previous_window(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "shop", burst(NOW - timedelta(minutes=90), 10, "WARN"))  # the hour before
    write_records(log_dir, "shop", burst(NOW - timedelta(minutes=20), 35, "WARN"))
    source.refresh(force=True)
    rule = one_rule('query = "level:warn"\nwindow = "1h"\nchange_above = 3\nmin_count = 5')
    result = check(rule, source, NOW)
    assert (result.holds, result.value, result.detail) == (True, 3.5, {"count": 35, "previous_count": 10})
    assert check(one_rule('query = "level:warn"\nwindow = "1h"\nchange_above = 4'), source, NOW).holds is False
    quiet = one_rule('query = "level:warn"\nwindow = "1h"\nchange_above = 3\nmin_count = 50')
    assert check(quiet, source, NOW).holds is False  # too few records to call it a change


def test_a_new_pattern_appears(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "shop", burst(NOW - timedelta(days=2), 20, message="payment failed for order {i}"))
    write_records(log_dir, "shop", burst(NOW - timedelta(minutes=2), 5, message="payment failed for order {i}"))
    source.refresh(force=True)
    rule = one_rule('query = "level:error"\nwindow = "5m"\nnew_pattern = true\nlookback = "7d"')
    assert check(rule, source, NOW).holds is False  # a known pattern
    write_records(log_dir, "shop", burst(NOW - timedelta(minutes=1), 3, message="disk full on volume {i}"))
    source.refresh(force=True)
    result = check(rule, source, NOW)
    assert result.holds is True and result.value == 1
    assert result.detail["new_patterns"][0]["count"] == 3
    assert "disk full" in result.detail["new_patterns"][0]["example"]
    assert check(rule, source, NOW + timedelta(minutes=10)).holds is False  # known by then


def test_silence_of_a_service(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "checkout", burst(NOW - timedelta(minutes=3), 5, "INFO", "tick {i}"))
    write_records(log_dir, "other", burst(NOW - timedelta(seconds=5), 5, "INFO", "tick {i}"))
    source.refresh(force=True)
    rule = one_rule('query = "service:checkout"\nsilence = "2m"')
    assert check(rule, source, NOW).holds is True
    assert check(rule, source, NOW - timedelta(minutes=2)).holds is False


def test_the_link_opens_the_window_s_records_in_the_dashboard() -> None:
    rule = one_rule('query = "service:checkout AND level:error"\nwindow = "5m"\ncount_above = 1')
    link = dashboard_link("http://dash:8050/", rule, NOW)
    assert link.startswith("http://dash:8050/?")
    params = parse_qs(urlsplit(link).query)
    state = ViewState.from_params(params)
    assert state.query == "service:checkout AND level:error"
    start, end = state.time_range()
    assert (start, end) == (NOW - timedelta(minutes=5), NOW + timedelta(seconds=1))
    pattern = one_rule('query = "level:error"\nnew_pattern = true')
    assert ViewState.from_params(parse_qs(urlsplit(dashboard_link("http://d", pattern, NOW)).query)).view == "patterns"


class Answers:
    """A checker answering what the test says (the state machine alone)."""

    def __init__(self) -> None:
        self.holds = False

    def __call__(self, rule: Rule, source: object, now: object, known: object = None) -> object:
        from otel_logging.alerts.evaluate import Result

        return Result(self.holds, 1.0 if self.holds else 0.0)


def test_one_notification_per_state_change_and_a_repeat_interval() -> None:
    rule = one_rule('count_above = 1\nrepeat = "1h"')
    rules = RuleSet([rule], {}, [])
    clock, answers = Clock(), Answers()
    ev = Evaluator(AlertState(), "http://d")

    def step(seconds: float) -> list[tuple[str, bool]]:
        clock.advance(seconds)
        return [(n.status, n.repeat) for n in ev.evaluate(rules, rule, None, clock(), answers)]  # type: ignore[arg-type]

    assert step(0) == []
    answers.holds = True
    assert step(5) == [(FIRING, False)]
    assert [step(5) for _ in range(10)] == [[]] * 10  # still firing: nothing more
    assert step(3600) == [(FIRING, True)]  # the repeat interval
    assert step(5) == []
    answers.holds = False
    assert step(5) == [("resolved", False)]
    assert step(5) == []
    answers.holds = True
    assert step(5) == [(FIRING, False)]  # a new episode
    history = [h["status"] for h in ev.state.rules["r"].history]
    assert history == [FIRING, OK, FIRING]


def test_for_keeps_it_pending_until_the_condition_held_long_enough() -> None:
    rule = one_rule('count_above = 1\nfor = "1m"')
    rules = RuleSet([rule], {}, [])
    clock, answers = Clock(), Answers()
    ev = Evaluator(AlertState(), "http://d")
    answers.holds = True
    assert ev.evaluate(rules, rule, None, clock(), answers) == []  # type: ignore[arg-type]
    assert ev.state.rules["r"].status == PENDING
    clock.advance(30)
    assert ev.evaluate(rules, rule, None, clock(), answers) == []  # type: ignore[arg-type]
    clock.advance(30)
    assert [n.status for n in ev.evaluate(rules, rule, None, clock(), answers)] == [FIRING]  # type: ignore[arg-type]
    answers.holds = False
    clock.advance(5)
    assert [n.status for n in ev.evaluate(rules, rule, None, clock(), answers)] == ["resolved"]  # type: ignore[arg-type]
    answers.holds = True  # pending, then gone before `for`: never notified
    ev.evaluate(rules, rule, None, clock.advance(5), answers)  # type: ignore[arg-type]
    answers.holds = False
    assert ev.evaluate(rules, rule, None, clock.advance(5), answers) == []  # type: ignore[arg-type]


def test_a_silence_holds_notifications_until_its_end() -> None:
    rule = one_rule("count_above = 1")
    clock, answers = Clock(), Answers()
    rules = RuleSet([rule], {}, [Silence("r", NOW + timedelta(minutes=10))])
    ev = Evaluator(AlertState(), "http://d")
    answers.holds = True
    assert ev.evaluate(rules, rule, None, clock.advance(1), answers) == []  # type: ignore[arg-type]
    assert ev.state.rules["r"].status == FIRING
    assert ev.state.rules["r"].history[-1]["note"] == "silenced"
    assert ev.evaluate(rules, rule, None, clock.advance(60), answers) == []  # type: ignore[arg-type]
    fired = ev.evaluate(rules, rule, None, clock.advance(600), answers)  # type: ignore[arg-type]
    assert [(n.status, n.repeat) for n in fired] == [(FIRING, False)]  # the silence ended: said once


def test_a_restart_in_the_middle_of_a_firing_alert_does_not_notify_again(tmp_path: Path) -> None:
    rule = one_rule('count_above = 1\nrepeat = "1h"')
    rules = RuleSet([rule], {}, [])
    clock, answers = Clock(), Answers()
    file = StateFile(tmp_path / "state.json")
    ev = Evaluator(file.load(), "http://d")
    answers.holds = True
    assert len(ev.evaluate(rules, rule, None, clock.advance(1), answers)) == 1  # type: ignore[arg-type]
    file.save(ev.state)
    restarted = Evaluator(file.load(), "http://d")
    assert restarted.evaluate(rules, rule, None, clock.advance(10), answers) == []  # type: ignore[arg-type]
    answers.holds = False
    resolved = restarted.evaluate(rules, rule, None, clock.advance(10), answers)  # type: ignore[arg-type]
    assert [n.status for n in resolved] == ["resolved"]


def test_a_changed_rule_starts_over() -> None:
    rule = one_rule("count_above = 1")
    clock, answers = Clock(), Answers()
    ev = Evaluator(AlertState(), "http://d")
    answers.holds = True
    ev.evaluate(RuleSet([rule], {}, []), rule, None, clock.advance(1), answers)  # type: ignore[arg-type]
    changed = one_rule("count_above = 5")
    answers.holds = False
    assert ev.evaluate(RuleSet([changed], {}, []), changed, None, clock.advance(1), answers) == []  # type: ignore[arg-type]
    assert ev.state.rules["r"].history[-1]["note"] == "rule changed"
    assert ev.state.rules["r"].status == OK


def test_a_query_the_source_cannot_run_is_an_error_in_the_state_not_a_crash(source: FileSource) -> None:
    rule = Rule(name="r", query="logger:/[/", condition="count_above", threshold=1, window_s=60)  # not checked
    ev = Evaluator(AlertState(), "http://d")
    assert ev.evaluate(RuleSet([rule], {}, []), rule, source, NOW) == []
    assert ev.state.rules["r"].error
    assert ev.state.counters.evaluation_errors == 1


def test_the_filter_is_the_window() -> None:
    # The window is [now - window, now): a record exactly at now is the next window's.
    flt = LogFilter(start=NOW - timedelta(minutes=1), end=NOW)
    assert flt.end_utc == NOW


def test_known_patterns_are_read_once_then_only_what_is_new(source: FileSource, log_dir: Path) -> None:
    write_records(log_dir, "shop", burst(NOW - timedelta(days=2), 20, message="payment failed for order {i}"))
    source.refresh(force=True)
    rule = one_rule('query = "level:error"\nwindow = "5m"\nnew_pattern = true\nlookback = "7d"')
    known: dict = {}
    asked: list[tuple[object, object]] = []
    patterns = source.patterns

    def spy(flt: LogFilter, limit: int = 50) -> list:
        asked.append((flt.start, flt.end))
        return patterns(flt, limit)

    source.patterns = spy  # type: ignore[method-assign]
    assert check(rule, source, NOW, known).holds is False
    assert asked[-1] == (NOW - timedelta(days=7), NOW - timedelta(minutes=5))  # the whole lookback, once
    write_records(log_dir, "shop", burst(NOW + timedelta(seconds=2), 3, message="disk full on volume {i}"))
    write_records(log_dir, "shop", burst(NOW - timedelta(days=1), 1, message="late record {i} of a known kind"))
    source.refresh(force=True)
    later = NOW + timedelta(seconds=5)
    result = check(rule, source, later, known)
    assert asked[-1] == (NOW - timedelta(minutes=5), later - timedelta(minutes=5))  # only the 5 s since
    assert (result.holds, [p["template"] for p in result.detail["new_patterns"]]) == (
        True,
        ["disk full on volume <num>"],
    )
    # With and without the memo: the same answers over time (no late record in the window itself).
    for seconds in (10, 200, 400):
        at = NOW + timedelta(seconds=seconds)
        assert check(rule, source, at, known).holds == check(rule, source, at).holds


def test_an_unexpected_failure_of_one_rule_is_its_error_and_the_state_stays() -> None:
    rule = one_rule("count_above = 1")
    ev = Evaluator(AlertState(), "http://d")
    answers = Answers()
    answers.holds = True
    ev.evaluate(RuleSet([rule], {}, []), rule, None, NOW, answers)  # type: ignore[arg-type]

    def broken(*_: object) -> object:
        raise RuntimeError("disk went away")

    assert ev.evaluate(RuleSet([rule], {}, []), rule, None, NOW + timedelta(seconds=5), broken) == []  # type: ignore[arg-type]
    st = ev.state.rules["r"]
    assert (st.status, st.error) == (FIRING, "RuntimeError: disk went away")
    assert ev.state.counters.evaluation_errors == 1
