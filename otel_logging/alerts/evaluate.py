"""Conditions over a ``LogSource`` (the dashboard's one query interface: files/store or Elasticsearch) and the
state machine of each rule: ok -> (pending ->) firing -> ok, with the notifications each change calls for.

``check`` answers one rule at one instant and holds no state; ``Evaluator.evaluate`` applies an answer to the
rule's persisted state and returns the notifications to send: one per state change, a repeat while firing
every ``repeat``, none while silenced (the history says so). Time is always passed in (``now``), so tests use
a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from otel_logging.alerts.rules import Rule, RuleSet
from otel_logging.alerts.state import FIRING, OK, PENDING, AlertState, RuleState
from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.query import LogSource, QueryError
from otel_logging.dashboard.querylang import QuerySyntaxError
from otel_logging.dashboard.state import ViewState

PATTERN_LIMIT = 1000  # patterns of the window compared
KNOWN_PATTERN_LIMIT = 100_000  # patterns of the lookback that count as known
EXAMPLES = 5


@dataclass(frozen=True)
class Result:
    holds: bool
    value: float
    detail: dict[str, Any] = field(default_factory=dict)


def _filter(query: str, start: datetime, end: datetime) -> LogFilter:
    return LogFilter(start=start, end=end, query=query, query_zone="UTC")


def _and(a: str, b: str) -> str:
    if not a.strip():
        return b
    if not b.strip():
        return a
    return f"({a}) AND ({b})"


# rule fingerprint -> (templates known, the time up to which they were read)
KnownPatterns = dict[str, tuple[frozenset[str], datetime]]


def check(rule: Rule, source: LogSource, now: datetime, known_patterns: KnownPatterns | None = None) -> Result:
    """Whether ``rule``'s condition holds at ``now`` over ``source`` (a QueryError when the source cannot say).

    ``known_patterns`` (kept by the evaluator between intervals) lets ``new_pattern`` read only the records
    since its last evaluation instead of grouping its whole lookback again; a pattern then stays known while
    the evaluator runs, even once its records are older than the lookback.
    """
    end = now.astimezone(UTC)
    start = end - timedelta(seconds=rule.window_s)
    if rule.condition in ("count_above", "count_below", "silence"):
        n = source.count(_filter(rule.query, start, end))
        if rule.condition == "count_above":
            return Result(n > rule.threshold, n, {"count": n})
        if rule.condition == "count_below":
            return Result(n < rule.threshold, n, {"count": n})
        return Result(n == 0, n, {"count": n})
    if rule.condition == "ratio_above":
        base = source.count(_filter(rule.base, start, end))
        part = source.count(_filter(_and(rule.query, rule.base), start, end))
        ratio = part / base if base else 0.0
        return Result(base > 0 and ratio > rule.threshold, round(ratio, 6), {"count": part, "base_count": base})
    if rule.condition == "change_above":
        current = source.count(_filter(rule.query, start, end))
        previous = source.count(_filter(rule.query, start - (end - start), start))
        factor = current / max(previous, 1)
        holds = current >= rule.min_count and factor >= rule.threshold
        return Result(holds, round(factor, 6), {"count": current, "previous_count": previous})
    if rule.condition == "new_pattern":
        recent = source.patterns(_filter(rule.query, start, end), limit=PATTERN_LIMIT)
        known_start = end - timedelta(seconds=rule.lookback_s)
        key = rule.fingerprint()
        cached = known_patterns.get(key) if known_patterns is not None else None
        if cached is not None and known_start <= cached[1] <= start:
            since = cached[1]
            more = (
                source.patterns(_filter(rule.query, since, start), limit=KNOWN_PATTERN_LIMIT) if since < start else []
            )
            known = cached[0] | {p.template for p in more}
        else:
            lookback = source.patterns(_filter(rule.query, known_start, start), limit=KNOWN_PATTERN_LIMIT)
            known = frozenset(p.template for p in lookback)
        if known_patterns is not None:
            known_patterns[key] = (frozenset(known), start)
        new = [p for p in recent if p.template not in known]
        examples = [{"template": p.template, "count": p.count, "example": p.example} for p in new[:EXAMPLES]]
        return Result(bool(new), len(new), {"new_patterns": examples})
    raise ValueError(f"unknown condition {rule.condition!r}")


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def dashboard_link(base_url: str, rule: Rule, now: datetime) -> str:
    """The dashboard view of the rule's records in the window just evaluated (``?q=...&range=abs&from=...``)."""
    end = now.astimezone(UTC)
    start = end - timedelta(seconds=rule.window_s)
    query = _and(rule.query, rule.base) if rule.condition == "ratio_above" else rule.query
    state = ViewState(
        query=query,
        range="abs",
        start=start.strftime("%Y-%m-%dT%H:%M:%S"),
        end=(end + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        tz="UTC",
        view="patterns" if rule.condition == "new_pattern" else "records",
    )
    return f"{base_url.rstrip('/')}/?{urlencode(state.to_params(), doseq=True)}"


@dataclass(frozen=True)
class Notification:
    """One state change (or repeat) of one rule, to be sent to each of its targets and written to the log."""

    status: str  # "firing" or "resolved"
    rule: Rule
    value: float
    detail: dict[str, Any]
    started_at: str  # when the alert started firing
    at: str  # when this was decided
    link: str
    repeat: bool = False

    def summary(self) -> str:
        what = "FIRING" if self.status == FIRING else "RESOLVED"
        again = " (still firing)" if self.repeat else ""
        return f"[{what}] {self.rule.name}{again}: {self.rule.describe()} (value {self.value:g})"

    def body(self) -> dict[str, Any]:
        """The generic webhook's JSON body (documented in docs/alerts.md)."""
        rule = self.rule
        return {
            "version": 1,
            "status": "firing" if self.status == FIRING else "resolved",
            "rule": rule.name,
            "summary": self.summary(),
            "condition": rule.condition,
            "description": rule.describe(),
            "threshold": rule.threshold,
            "value": self.value,
            "detail": self.detail,
            "query": rule.query,
            "view": rule.view or None,
            "window_seconds": rule.window_s,
            "labels": dict(rule.labels),
            "started_at": self.started_at,
            "at": self.at,
            "repeat": self.repeat,
            "dashboard_url": self.link,
        }


class Evaluator:
    """Applies each rule's answer to its state; returns the notifications to send. Not thread-safe: the caller
    holds the lock that guards ``state``."""

    def __init__(self, state: AlertState, dashboard_url: str) -> None:
        self.state = state
        self.dashboard_url = dashboard_url
        self.known_patterns: KnownPatterns = {}

    def evaluate(
        self, rules: RuleSet, rule: Rule, source: LogSource, now: datetime, checker: Callable[..., Result] = check
    ) -> list[Notification]:
        return self.apply(rules, rule, self.answer(rule, source, now, checker), now)

    def answer(
        self, rule: Rule, source: LogSource, now: datetime, checker: Callable[..., Result] = check
    ) -> Result | str:
        """The rule's condition at ``now``, or why it could not be answered. Touches no shared state (only the
        evaluator's own pattern memo), so the caller asks it without holding the state's lock."""
        try:
            return checker(rule, source, now, self.known_patterns)
        except Exception as exc:  # one rule's failure (a source error, a bug) never stops the others
            return str(exc) if isinstance(exc, QueryError | QuerySyntaxError) else f"{type(exc).__name__}: {exc}"

    def forget_patterns_except(self, rules: RuleSet) -> None:
        """Drop the pattern memo of rules no longer in the file (or whose condition changed)."""
        keep = {r.fingerprint() for r in rules.rules}
        for key in set(self.known_patterns) - keep:
            del self.known_patterns[key]

    def apply(self, rules: RuleSet, rule: Rule, result: Result | str, now: datetime) -> list[Notification]:
        """Apply an answer to the rule's state (the caller holds the state's lock); the notifications to send."""
        st = self._state_of(rule, now)
        at = iso(now)
        if isinstance(result, str):
            message = result
            self.state.counters.evaluation_errors += 1
            if st.error != message:
                st.record(at, st.status, st.value, f"error: {message}")
            st.error = message
            st.evaluated_at = at
            return []
        self.state.counters.evaluations += 1
        st.error = ""
        st.value = result.value
        st.evaluated_at = at
        silence = rules.silenced(rule.name, now)
        out: list[Notification] = []
        if result.holds:
            if st.status == OK:
                st.status, st.since = (FIRING if rule.for_s <= 0 else PENDING), at
                st.notified_at = ""
                st.record(at, st.status, result.value)
            elif st.status == PENDING and (now - _parse_iso(st.since)).total_seconds() >= rule.for_s:
                st.status, st.since = FIRING, at
                st.record(at, st.status, result.value)
            if st.status == FIRING:
                due = not st.notified_at or (now - _parse_iso(st.notified_at)).total_seconds() >= rule.repeat_s
                if due and silence is not None:
                    if not st.history or st.history[-1].get("note", "") != "silenced":
                        st.record(at, st.status, result.value, "silenced")
                elif due:
                    out.append(self._note(FIRING, rule, result, st, now, repeat=bool(st.notified_at)))
                    st.notified_at = at
        elif st.status != OK:
            was_notified = st.status == FIRING and bool(st.notified_at)
            started = st.since
            st.status, st.since = OK, at
            st.record(at, OK, result.value, "" if silence is None or not was_notified else "silenced")
            if was_notified and silence is None:
                out.append(self._note("resolved", rule, result, st, now, started=started))
            st.notified_at = ""
        return out

    def _state_of(self, rule: Rule, now: datetime) -> RuleState:
        st = self.state.rules.get(rule.name)
        if st is None:
            st = self.state.rules[rule.name] = RuleState(fingerprint=rule.fingerprint(), since=iso(now))
        elif st.fingerprint != rule.fingerprint():  # what the rule checks changed: start over, say so
            history = st.history
            st = self.state.rules[rule.name] = RuleState(
                fingerprint=rule.fingerprint(), since=iso(now), history=history
            )
            st.record(iso(now), OK, None, "rule changed")
        return st

    def _note(
        self,
        status: str,
        rule: Rule,
        result: Result,
        st: RuleState,
        now: datetime,
        repeat: bool = False,
        started: str = "",
    ) -> Notification:
        return Notification(
            status=status,
            rule=rule,
            value=result.value,
            detail=result.detail,
            started_at=started or st.since,
            at=iso(now),
            link=dashboard_link(self.dashboard_url, rule, now),
            repeat=repeat,
        )
