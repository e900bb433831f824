"""The alerts' persisted state: each rule's status, when it was last notified, its recent history, and the
notifications not yet delivered.

One JSON file, by default ``<log-dir>/.otel-logging/alerts/state.json``, written whole to a temporary file and
renamed over the old one after every evaluation that changed something, so a restart (or a kill) resumes with
the same firing alerts, already notified, and the same undelivered notifications: no storm of repeats, nothing
lost. A state file that cannot be read is moved aside (``state.json.broken-<time>``) and reported, never
silently overwritten.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from otel_logging.record.atomic import write_atomic

VERSION = 1
HISTORY = 50  # transitions kept per rule

OK = "ok"
PENDING = "pending"  # the condition holds, not yet for the rule's ``for``
FIRING = "firing"


@dataclass
class RuleState:
    status: str = OK
    fingerprint: str = ""  # the rule's fingerprint this state is about
    since: str = ""  # when the current status began (RFC 3339 UTC)
    value: float | None = None  # the last evaluated value
    evaluated_at: str = ""
    error: str = ""  # the last evaluation's error, if it failed
    notified_at: str = ""  # last firing notification of the current episode ("" = not notified)
    history: list[dict[str, Any]] = field(default_factory=list)  # {"at", "status", "value", "note"}

    def record(self, at: str, status: str, value: float | None, note: str = "") -> None:
        self.history.append({"at": at, "status": status, "value": value, "note": note})
        del self.history[:-HISTORY]


@dataclass
class Counters:
    evaluations: int = 0
    evaluation_errors: int = 0
    notifications: int = 0  # notifications queued (one per target)
    delivered: int = 0
    attempts_failed: int = 0  # delivery attempts that failed (each retry counts)
    undelivered: int = 0  # notifications given up on after the retry budget


@dataclass
class AlertState:
    rules: dict[str, RuleState] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)  # notifications not delivered yet
    undelivered: list[dict[str, Any]] = field(default_factory=list)  # the last ones given up on
    counters: Counters = field(default_factory=Counters)
    rules_file: str = ""  # the rule file of the last `alerts run` (the dashboard finds the rules through it)
    problems: list[str] = field(default_factory=list)  # not persisted: what went wrong reading the file

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "rules": {name: asdict(st) for name, st in sorted(self.rules.items())},
            "outbox": self.outbox,
            "undelivered": self.undelivered,
            "counters": asdict(self.counters),
            "rules_file": self.rules_file,
        }


class StateFile:
    """Reads and writes one state file; ``save`` is safe to call from the evaluator and the delivery thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self, repair: bool = False) -> AlertState:
        """The saved state. A damaged file is reported in ``problems``; only the evaluator (``repair``) moves it
        aside to start afresh: a reader (the dashboard's panel, ``alerts list``) touches nothing."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AlertState()
        try:
            data = json.loads(raw)
            rules = {name: RuleState(**item) for name, item in data.get("rules", {}).items()}
            outbox = list(data.get("outbox", []))
            undelivered = list(data.get("undelivered", []))
            counters = Counters(**data.get("counters", {}))
            rules_file = str(data.get("rules_file", ""))
            return AlertState(
                rules=rules, outbox=outbox, undelivered=undelivered, counters=counters, rules_file=rules_file
            )
        except (ValueError, TypeError, AttributeError) as exc:
            if not repair:
                return AlertState(problems=[f"the state file {self.path} cannot be read ({exc})"])
            aside = self.path.with_name(f"{self.path.name}.broken-{datetime.now().strftime('%Y%m%dT%H%M%S')}")
            try:
                os.replace(self.path, aside)
            except FileNotFoundError:
                return AlertState()
            return AlertState(problems=[f"the state file {self.path} was damaged ({exc}); moved to {aside}"])

    def save(self, state: AlertState) -> None:
        data = json.dumps(state.to_json(), indent=1, sort_keys=True)
        with self._lock:
            write_atomic(self.path, data)
