"""Alerts on the logs: rules in a TOML file, evaluated every interval over the dashboard's ``LogSource`` (the
store of the per-app files, or Elasticsearch), notifications to webhooks, Slack and the log (docs/alerts.md).

- ``rules``: the rule file, parsed and checked whole (``RuleFileError`` names the rule, the field and why);
- ``evaluate``: the conditions over a source and each rule's state machine;
- ``notify``: the log line, the outbox, retries with backoff, counted failures;
- ``state``: the persisted state (status, last notified, history, outbox);
- ``runner``: the loop of ``otel-logging alerts run``.
"""

from __future__ import annotations

from pathlib import Path

from otel_logging.store import STORE_DIR

ALERTS_DIR = "alerts"
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8050"  # the links in notifications, unless told the dashboard's address


def default_state_path(log_dir: Path) -> Path:
    """``<log-dir>/.otel-logging/alerts/state.json``: beside the store, read by the dashboard."""
    return Path(log_dir) / STORE_DIR / ALERTS_DIR / "state.json"


def default_store_path(log_dir: Path) -> Path:
    """The alerts' own store (the dashboard holds the main one: one process per store)."""
    return Path(log_dir) / STORE_DIR / ALERTS_DIR / "store.duckdb"
