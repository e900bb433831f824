"""Sending notifications: a log line always, then each of the rule's targets (generic webhook, Slack-compatible
incoming webhook) through a persisted outbox with retries and exponential backoff.

Every notification to an HTTP target is first put in the outbox (``AlertState.outbox``, saved with the state),
then posted by the one delivery thread. A failed post (connection refused, timeout, a non-2xx answer) is
retried after 1 s, 2 s, 4 s, ... up to ``max_backoff_s``; after ``give_up_s`` it is moved out of the outbox,
counted as ``undelivered`` and logged with its body, never dropped silently. A restart resumes the outbox.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from otel_logging.alerts.evaluate import Notification
from otel_logging.alerts.rules import RuleSet, Target
from otel_logging.alerts.state import AlertState

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
GIVE_UP_S = 24 * 3600.0
KEEP_UNDELIVERED = 100  # the last undelivered notifications kept in the state file

Emit = Callable[[dict[str, Any]], None]  # writes one log line (a JSON object)


def slack_body(note: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body (``text`` with a ``<url|label>`` link) of a generic body."""
    icon = ":red_circle:" if note["status"] == "firing" else ":large_green_circle:"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(note["labels"].items()))
    text = f"{icon} {note['summary']}\n<{note['dashboard_url']}|Open in the dashboard>"
    if labels:
        text += f"  ({labels})"
    return {"text": text}


def post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON; an exception (OSError, HTTPError) when it was not accepted with a 2xx."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "otel-logging-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


class Notifier:
    """Queues notifications and delivers them from one thread (``start`` / ``stop``, which joins it).

    ``lock`` guards ``state`` (shared with the evaluator); ``save`` is called with the lock held after the
    outbox or the counters change.
    """

    def __init__(
        self,
        state: AlertState,
        lock: threading.Lock,
        save: Callable[[], None],
        emit: Emit,
        *,
        clock: Callable[[], float] = time.time,
        post: Callable[[str, dict[str, Any], float], None] = post_json,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        give_up_s: float = GIVE_UP_S,
    ) -> None:
        self.state = state
        self.lock = lock
        self.save = save
        self.emit = emit
        self.clock = clock
        self.post = post
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.give_up_s = give_up_s
        self._wake = threading.Condition(lock)
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- queueing (called with the lock held, by the evaluator) ----------------------------------

    def queue(self, note: Notification, rules: RuleSet) -> None:
        body = note.body()
        self.emit({"event": "alert", **body})
        now = self.clock()
        for name in note.rule.notify:
            target: Target | None = rules.targets.get(name)
            if target is None or target.kind == "log":
                continue
            self.state.counters.notifications += 1
            self.state.outbox.append(
                {
                    "id": uuid.uuid4().hex,
                    "target": target.name,
                    "kind": target.kind,
                    "url": target.url,
                    "timeout": target.timeout_s,
                    "body": slack_body(body) if target.kind == "slack" else body,
                    "rule": note.rule.name,
                    "status": body["status"],
                    "attempts": 0,
                    "first_at": now,
                    "next_at": now,
                    "last_error": "",
                }
            )
        self._wake.notify_all()

    # -- the delivery thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otel-logging-alerts-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the post in flight (if any); what is left stays in the outbox for the next start."""
        with self.lock:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            # A post in flight ends within its target's timeout.
            longest = max((float(item.get("timeout", 5.0)) for item in self.state.outbox), default=0.0)
            self._thread.join(max(timeout, longest + 1.0))
            if self._thread.is_alive():
                self.emit({"event": "state_problem", "error": "the delivery thread did not stop: a post hangs"})
                return
            self._thread = None

    def pending(self) -> int:
        with self.lock:
            return len(self.state.outbox)

    def _run(self) -> None:
        with self.lock:
            while not self._stopping:
                now = self.clock()
                due = next((item for item in self.state.outbox if item["next_at"] <= now), None)
                if due is None:
                    wait = min((item["next_at"] for item in self.state.outbox), default=now + 3600) - now
                    self._wake.wait(max(0.01, min(wait, 3600)))
                    continue
                self.lock.release()
                try:
                    error = self._send(due)
                finally:
                    self.lock.acquire()
                self._settle(due, error)
                try:
                    self.save()
                except OSError as exc:  # a full disk: the outbox is still in memory, and saved at the next change
                    self.emit({"event": "state_problem", "error": str(exc)})

    def _send(self, item: dict[str, Any]) -> str:
        try:
            self.post(item["url"], item["body"], float(item.get("timeout", 5.0)))
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except Exception as exc:
            return str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        return ""

    def _settle(self, item: dict[str, Any], error: str) -> None:
        """Record the outcome of one post (lock held)."""
        item["attempts"] += 1
        counters = self.state.counters
        if item not in self.state.outbox:  # defensive: never count an item twice
            return
        if not error:
            self.state.outbox.remove(item)
            counters.delivered += 1
            self.emit(
                {"event": "delivered", "target": item["target"], "rule": item["rule"], "attempts": item["attempts"]}
            )
            return
        counters.attempts_failed += 1
        item["last_error"] = error
        now = self.clock()
        if now - item["first_at"] >= self.give_up_s:
            self.state.outbox.remove(item)
            counters.undelivered += 1
            self.state.undelivered.append(item)
            del self.state.undelivered[:-KEEP_UNDELIVERED]
            self.emit({"event": "undelivered", **{k: item[k] for k in ("target", "rule", "attempts", "last_error")}})
            return
        backoff = min(self.initial_backoff_s * 2 ** (item["attempts"] - 1), self.max_backoff_s)
        item["next_at"] = now + backoff
        self.emit(
            {
                "event": "delivery_failed",
                "target": item["target"],
                "rule": item["rule"],
                "attempts": item["attempts"],
                "error": error,
                "retry_in_s": backoff,
            }
        )
