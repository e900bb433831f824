"""The loop of ``otel-logging alerts run``: evaluate each rule every ``every`` over one ``LogSource``, keep the
state, hand notifications to the ``Notifier``, reload the rule file on SIGHUP or when it changes.

The loop waits on an Event with a timeout (the next rule due, at most ``POLL_S`` so a changed rule file or a
stop is noticed quickly); it never sleeps to synchronise. A reload that fails keeps the rules in use and says
why; a reload that works drops the state of rules no longer in the file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otel_logging.alerts import DEFAULT_DASHBOARD_URL
from otel_logging.alerts.evaluate import Evaluator, iso
from otel_logging.alerts.notify import Emit, Notifier
from otel_logging.alerts.rules import RuleFileError, RuleSet, ViewLookup, load_rules
from otel_logging.alerts.state import FIRING, PENDING, AlertState, StateFile
from otel_logging.dashboard.query import LogSource, QueryError

POLL_S = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


class AlertsRunner:
    def __init__(
        self,
        rules_path: Path,
        source: LogSource,
        state_file: StateFile,
        emit: Emit,
        *,
        dashboard_url: str = DEFAULT_DASHBOARD_URL,
        views: ViewLookup | None = None,
        clock: Callable[[], datetime] = _now,
        notifier_options: dict[str, Any] | None = None,
    ) -> None:
        self.rules_path = rules_path
        self.source = source
        self.state_file = state_file
        self.emit = emit
        self.views = views
        self.clock = clock
        self.rules = load_rules(rules_path, views)  # a bad file at start is the caller's error to show
        self._rules_stamp = self._stamp()
        self.state = state_file.load(repair=True)
        self.state.rules_file = str(rules_path.resolve())
        for problem in self.state.problems:
            emit({"event": "state_problem", "problem": problem})
        self.lock = threading.Lock()
        self.evaluator = Evaluator(self.state, dashboard_url)
        self.notifier = Notifier(self.state, self.lock, self._save, emit, **(notifier_options or {}))
        self.reload_requested = threading.Event()
        self._next_due: dict[str, float] = {}
        self.reloads = 0
        self.reload_failures = 0

    # -- rules -----------------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.rules_path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self) -> bool:
        """Read the rule file again; keep the current rules when it is broken (and say why)."""
        self._rules_stamp = self._stamp()
        try:
            rules = load_rules(self.rules_path, self.views)
        except RuleFileError as exc:
            self.reload_failures += 1
            self.emit({"event": "reload_failed", "file": str(self.rules_path), "problems": exc.problems})
            return False
        with self.lock:
            self.rules = rules
            names = {r.name for r in rules.rules}
            for gone in set(self.state.rules) - names:
                del self.state.rules[gone]
            self._next_due = {k: v for k, v in self._next_due.items() if k in names}
            self.evaluator.forget_patterns_except(rules)
            self._save()
        self.reloads += 1
        self.emit({"event": "reloaded", "file": str(self.rules_path), "rules": len(rules.rules)})
        return True

    # -- evaluation ------------------------------------------------------------------------------

    def _save(self) -> None:
        """Write the state (lock held)."""
        self.state_file.save(self.state)

    def tick(self, monotonic: float | None = None) -> int:
        """Evaluate the rules that are due; the number evaluated."""
        mono = time.monotonic() if monotonic is None else monotonic
        due = [r for r in self.rules.rules if self._next_due.get(r.name, 0.0) <= mono]
        if not due:
            return 0
        try:
            self.source.refresh(force=True)
        except QueryError as exc:
            self.emit({"event": "source_problem", "problem": str(exc)})
        now = self.clock()
        # The queries run without the state's lock: delivery and /metrics never wait for a slow tick.
        answers = [(rule, self.evaluator.answer(rule, self.source, now)) for rule in due]
        with self.lock:
            for rule, answer in answers:
                before = self.state.rules.get(rule.name)
                status, error = (before.status, before.error) if before else (None, "")
                for note in self.evaluator.apply(self.rules, rule, answer, now):
                    self.notifier.queue(note, self.rules)
                after = self.state.rules[rule.name]
                if after.status != status or after.error != error:
                    self.emit(
                        {"event": "state", "rule": rule.name, "status": after.status, "value": after.value}
                        | ({"error": after.error} if after.error else {})
                    )
                self._next_due[rule.name] = mono + rule.every_s
            self._save()
        return len(due)

    def seconds_to_next(self, monotonic: float | None = None) -> float:
        mono = time.monotonic() if monotonic is None else monotonic
        nxt = min((self._next_due.get(r.name, 0.0) for r in self.rules.rules), default=mono + POLL_S)
        return max(0.0, min(nxt - mono, POLL_S))

    def run(self, stop: threading.Event) -> None:
        """Evaluate until ``stop`` is set; the delivery thread runs alongside and is joined on the way out."""
        self.notifier.start()
        self.emit(
            {"event": "running", "rules": len(self.rules.rules), "file": str(self.rules_path), "at": iso(self.clock())}
        )
        try:
            while not stop.is_set():
                if self.reload_requested.is_set() or self._stamp() != self._rules_stamp:
                    self.reload_requested.clear()
                    self.reload()
                self.tick()
                stop.wait(self.seconds_to_next())
        finally:
            self.notifier.stop()
            with self.lock:
                self._save()

    # -- what is shown -------------------------------------------------------------------------

    def metrics_text(self) -> str:
        """Prometheus text: the counters, the outbox and each rule's state."""
        with self.lock:
            c = self.state.counters
            lines = [
                "# TYPE otel_logging_alerts_evaluations_total counter",
                f"otel_logging_alerts_evaluations_total {c.evaluations}",
                "# TYPE otel_logging_alerts_evaluation_errors_total counter",
                f"otel_logging_alerts_evaluation_errors_total {c.evaluation_errors}",
                "# TYPE otel_logging_alerts_notifications_total counter",
                f"otel_logging_alerts_notifications_total {c.notifications}",
                "# TYPE otel_logging_alerts_delivered_total counter",
                f"otel_logging_alerts_delivered_total {c.delivered}",
                "# TYPE otel_logging_alerts_delivery_attempts_failed_total counter",
                f"otel_logging_alerts_delivery_attempts_failed_total {c.attempts_failed}",
                "# TYPE otel_logging_alerts_undelivered_total counter",
                f"otel_logging_alerts_undelivered_total {c.undelivered}",
                "# TYPE otel_logging_alerts_outbox gauge",
                f"otel_logging_alerts_outbox {len(self.state.outbox)}",
                "# TYPE otel_logging_alerts_rule_firing gauge",
            ]
            for name, st in sorted(self.state.rules.items()):
                label = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                lines.append(f'otel_logging_alerts_rule_firing{{rule="{label}"}} {int(st.status == FIRING)}')
            lines += [
                "# TYPE otel_logging_alerts_rules_reload_failures_total counter",
                f"otel_logging_alerts_rules_reload_failures_total {self.reload_failures}",
            ]
        return "\n".join(lines) + "\n"


def describe_state(state: AlertState, rules: RuleSet) -> list[dict[str, Any]]:
    """One row per rule: what ``alerts list`` prints and the dashboard shows."""
    rows = []
    for rule in rules.rules:
        st = state.rules.get(rule.name)
        rows.append(
            {
                "rule": rule.name,
                "condition": rule.describe(),
                "query": rule.query,
                "every": rule.every_s,
                "status": st.status if st else "unknown",
                "since": st.since if st and st.status in (FIRING, PENDING) else "",
                "value": st.value if st else None,
                "evaluated_at": st.evaluated_at if st else "",
                "notified_at": st.notified_at if st else "",
                "error": st.error if st else "",
                "history": st.history[-10:] if st else [],
            }
        )
    return rows
