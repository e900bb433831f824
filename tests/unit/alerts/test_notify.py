"""Delivery: retried with backoff until accepted, counted when given up, kept across a restart; the bodies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_logging.alerts.evaluate import Notification
from otel_logging.alerts.notify import Notifier, slack_body
from otel_logging.alerts.rules import RuleSet, parse_rules
from otel_logging.alerts.state import FIRING, AlertState, StateFile
from tests.support.procs import wait_for

RULES = parse_rules(
    """
[[target]]
name = "hook"
url = "http://127.0.0.1:1/hook"
[[target]]
name = "chat"
kind = "slack"
url = "http://127.0.0.1:1/slack"
[[target]]
name = "log"
kind = "log"
[[rule]]
name = "errors"
query = "level:error"
count_above = 3
labels = { team = "shop" }
notify = ["hook", "chat", "log"]
"""
)


def note(status: str = FIRING) -> Notification:
    return Notification(
        status, RULES.rules[0], 7, {"count": 7}, "2026-12-03T10:00:00Z", "2026-12-03T10:00:00Z", "http://d/?q=x"
    )


class Endpoint:
    """A fake HTTP POST: fails ``failures`` times, then accepts; records every body it accepted."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0

    def __call__(self, url: str, body: dict[str, Any], timeout: float) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError(111, "Connection refused")
        self.accepted.append((url, body))


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


def make(state: AlertState, events: list[dict[str, Any]], endpoint: Endpoint, **options: Any) -> Notifier:
    saves = {"n": 0}

    def save() -> None:
        saves["n"] += 1

    return Notifier(state, threading.Lock(), save, events.append, post=endpoint, initial_backoff_s=0.01, **options)


@pytest.fixture
def running(events: list[dict[str, Any]]) -> Iterator[list[Notifier]]:
    started: list[Notifier] = []
    yield started
    for notifier in started:
        notifier.stop()


def test_a_refused_post_is_retried_with_backoff_then_delivered_once(
    events: list[dict[str, Any]], running: list[Notifier]
) -> None:
    endpoint = Endpoint(failures=3)
    state = AlertState()
    notifier = make(state, events, endpoint)
    running.append(notifier)
    notifier.start()
    with notifier.lock:
        notifier.queue(note(), RULES)
    wait_for(lambda: state.counters.delivered == 2, timeout=10, what="both HTTP targets delivered")
    assert sorted(url for url, _ in endpoint.accepted) == ["http://127.0.0.1:1/hook", "http://127.0.0.1:1/slack"]
    assert state.counters.notifications == 2  # the log target is the log line, not a delivery
    assert state.counters.attempts_failed == 3
    assert state.outbox == []
    failed = [e for e in events if e["event"] == "delivery_failed"]
    assert [e["retry_in_s"] for e in failed if e["target"] == failed[0]["target"]][:2] == [0.01, 0.02]
    assert events[0]["event"] == "alert" and events[0]["rule"] == "errors"  # the log line comes first


def test_given_up_is_counted_and_kept_never_dropped_silently(
    events: list[dict[str, Any]], running: list[Notifier]
) -> None:
    state = AlertState()
    notifier = make(state, events, Endpoint(failures=10**6), give_up_s=0.05)
    running.append(notifier)
    notifier.start()
    with notifier.lock:
        notifier.queue(note(), RULES)
    wait_for(lambda: state.counters.undelivered == 2, timeout=10, what="both given up")
    assert state.outbox == []
    assert {item["target"] for item in state.undelivered} == {"hook", "chat"}
    assert [e["event"] for e in events].count("undelivered") == 2


def test_the_outbox_survives_a_restart(tmp_path: Path, events: list[dict[str, Any]], running: list[Notifier]) -> None:
    file = StateFile(tmp_path / "state.json")
    state = file.load()
    down = make(state, events, Endpoint(failures=10**6))
    with down.lock:
        down.queue(note(), RULES)  # never started: as if the process died before delivering
        file.save(state)
    again = file.load()
    assert len(again.outbox) == 2
    endpoint = Endpoint()
    up = make(again, events, endpoint)
    running.append(up)
    up.start()
    wait_for(lambda: again.counters.delivered == 2, timeout=10, what="the saved outbox delivered")
    assert len(endpoint.accepted) == 2


def test_the_bodies() -> None:
    body = note().body()
    assert body["status"] == "firing" and body["rule"] == "errors" and body["value"] == 7
    assert body["labels"] == {"team": "shop"} and body["dashboard_url"] == "http://d/?q=x"
    assert body["summary"] == "[FIRING] errors: count > 3 in 5m (value 7)"
    slack = slack_body(note("resolved").body())
    assert list(slack) == ["text"]
    assert slack["text"].startswith(":large_green_circle: [RESOLVED] errors")
    assert "<http://d/?q=x|Open in the dashboard>" in slack["text"] and "team=shop" in slack["text"]


def test_rule_set_type() -> None:
    assert isinstance(RULES, RuleSet)
