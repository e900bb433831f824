"""The sidebar's Alerts panel: the rules of the running ``otel-logging alerts run`` with their state and recent
history, its delivery counters, and "Alert on this query" (a rule appended to its rule file).

Everything is found from the log directory: the alerts' state file (``<log-dir>/.otel-logging/alerts/
state.json``) names the rule file in use. A rule is appended only when the whole file, with it, still passes
the alerts' checks; the running evaluator then reloads it by itself (it watches the file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from otel_logging.alerts import default_state_path
from otel_logging.alerts.host import running_host
from otel_logging.alerts.rules import RuleFileError, append_to_rule_file, load_rules, rule_toml
from otel_logging.alerts.runner import describe_state
from otel_logging.alerts.state import StateFile
from otel_logging.dashboard import saved_views

# A coloured badge (drawn by Streamlit, no emoji font needed) per state.
STATUS_BADGES = {"firing": ":red-badge[firing]", "pending": ":orange-badge[pending]", "ok": ":green-badge[ok]"}
NEW_RULE_CONDITIONS = {
    "count_above": "more than N records",
    "count_below": "fewer than N records",
    "new_pattern": "a new message pattern",
    "silence": "no record at all",
}
WINDOWS = ("1m", "5m", "15m", "1h", "6h", "24h")


def sidebar(log_dir: Path, current_query: Callable[[], str]) -> None:
    host = running_host()  # this process's own evaluator (`dashboard --alerts`), whatever its --alerts-state
    state_file = StateFile(host.state_path if host is not None else default_state_path(log_dir))
    with st.sidebar.expander("Alerts", expanded=host is not None and bool(host.failed)):
        if host is not None and host.failed:
            st.error(f"The alerts evaluator of this dashboard stopped: {host.failed}. Restart the dashboard.")
        if not state_file.path.exists():
            st.caption("No alerts evaluated here yet: start the dashboard with `--alerts alerts.toml` (see Alerts)")
            return
        state = state_file.load()
        rules_path = Path(state.rules_file) if state.rules_file else None
        if rules_path is None:
            st.caption("The alerts' state does not name its rule file (an older alerts run)")
            return
        try:
            rules = load_rules(rules_path, saved_views.query_lookup(log_dir))
        except RuleFileError as exc:
            st.warning(str(exc))
            return
        c = state.counters
        if c.undelivered or state.outbox:
            st.warning(
                f"Notifications: {len(state.outbox)} waiting for a retry, {c.undelivered} undelivered "
                f"({c.attempts_failed} failed attempts)"
            )
        st.caption(f"{rules_path} · {c.delivered} delivered, {c.attempts_failed} failed attempts")
        rows = describe_state(state, rules)
        for row in rows:
            badge = STATUS_BADGES.get(row["status"], f":gray-badge[{row['status']}]")
            since = f" since {row['since'][:19].replace('T', ' ')} UTC" if row["since"] else ""
            value = "" if row["value"] is None else f" · value {row['value']:g}"
            st.markdown(f"{badge} **{row['rule']}**{since}{value}  \n{row['condition']}")
            if row["error"]:
                st.error(row["error"])
            if row["history"]:
                st.caption(" · ".join(f"{h['at'][11:19]} {h['status']}" for h in row["history"][-5:]))
        _alert_on_query(rules_path, log_dir, current_query)


def _alert_on_query(rules_path: Path, log_dir: Path, current_query: Callable[[], str]) -> None:
    ss = st.session_state
    st.markdown("**Alert on this query**")
    st.text_input("Rule name", key="alert_name", placeholder="e.g. checkout errors")
    st.selectbox("When", list(NEW_RULE_CONDITIONS), key="alert_condition", format_func=NEW_RULE_CONDITIONS.get)
    if ss.get("alert_condition") in ("count_above", "count_below"):
        st.number_input("N", min_value=0, value=10, step=1, key="alert_threshold")
    st.selectbox("Window", WINDOWS, index=1, key="alert_window")
    st.button("Add the rule", key="alert_add", on_click=add_rule, args=(rules_path, log_dir, current_query))
    note = ss.pop("alert_note", None)
    if note:
        (st.error if note[0] == "error" else st.success)(note[1])


def add_rule(rules_path: Path, log_dir: Path, current_query: Callable[[], str]) -> None:
    """Append the rule the panel describes, if the whole file still passes; the outcome in ``alert_note``."""
    ss = st.session_state
    name = (ss.get("alert_name") or "").strip()
    condition = ss.get("alert_condition") or "count_above"
    window = ss.get("alert_window") or "5m"
    if condition == "new_pattern":
        value = "true"
    elif condition == "silence":
        value, window = json.dumps(window), ""
    else:
        value = str(int(ss.get("alert_threshold") or 0))
    block = rule_toml(name, current_query(), condition, value, window)
    try:
        append_to_rule_file(rules_path, block, saved_views.query_lookup(log_dir))
    except RuleFileError as exc:
        ss.alert_note = ("error", "; ".join(exc.problems))
        return
    ss.alert_name = ""
    ss.alert_note = ("success", f"added the rule {name!r} to {rules_path}")
