"""The dashboard's Alerts panel through Streamlit's AppTest: the rules with their state, and "Alert on this
query" appending a rule that the whole file accepts (and refusing one it does not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from otel_logging.alerts import default_state_path
from otel_logging.alerts.rules import load_rules
from otel_logging.alerts.runner import AlertsRunner
from otel_logging.alerts.state import StateFile
from otel_logging.dashboard.app import ENV_LOG_DIR, ENV_PASSWORD
from otel_logging.dashboard.sources.files import FileSource
from tests.support.procs import REPO
from tests.unit.alerts.support import burst, write_records

ENTRY = str(REPO / "dashboards" / "streamlit_app.py")
RULES = """
[[target]]
name = "hook"
url = "http://127.0.0.1:1/hook"

[[rule]]
name = "shop errors"
query = "service:shop AND level:error"
window = "5m"
count_above = 3
notify = ["hook"]
"""


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "logs"
    now = datetime.now(UTC)
    write_records(directory, "shop", burst(now - timedelta(seconds=30), 8))
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)
    source = FileSource(directory, min_refresh_interval_s=0)
    runner = AlertsRunner(rules, source, StateFile(default_state_path(directory)), lambda e: None)
    runner.tick()  # fires; the notification waits in the outbox (nothing delivers it here)
    source.close()
    monkeypatch.setenv(ENV_LOG_DIR, str(directory))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    return directory


def run_app(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(ENTRY, default_timeout=60)
    app.query_params = dict(query)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_panel_lists_rules_with_state_and_adds_a_rule_for_the_query(log_dir: Path, tmp_path: Path) -> None:
    app = run_app({"q": "service:shop AND payment"})
    text = "\n".join(m.value for m in app.sidebar.markdown)
    assert ":red-badge[firing] **shop errors** since" in text and "value 8" in text
    assert any("1 waiting for a retry, 0 undelivered" in w.value for w in app.sidebar.warning)
    app.text_input(key="alert_name").input("shop payments")
    app.selectbox(key="alert_condition").select("count_above").run()
    app.number_input(key="alert_threshold").set_value(25)
    app.selectbox(key="alert_window").select("15m")
    app.button(key="alert_add").click().run()
    assert not app.exception
    assert any("added the rule 'shop payments'" in s.value for s in app.sidebar.success)
    rules = {r.name: r for r in load_rules(tmp_path / "alerts.toml").rules}
    added = rules["shop payments"]
    assert (added.query, added.condition, added.threshold, added.window_s) == (
        "service:shop AND payment",
        "count_above",
        25.0,
        900.0,
    )
    # The same name again: refused with the alerts' own words, the file unchanged.
    before = (tmp_path / "alerts.toml").read_text()
    app.text_input(key="alert_name").input("shop payments")
    app.button(key="alert_add").click().run()
    assert any("rule 'shop payments': name: another rule has the same name" in e.value for e in app.sidebar.error)
    assert (tmp_path / "alerts.toml").read_text() == before


def test_a_silence_rule_from_the_panel(log_dir: Path, tmp_path: Path) -> None:
    app = run_app({"q": "service:mail"})
    app.text_input(key="alert_name").input("mail quiet")
    app.selectbox(key="alert_condition").select("silence").run()
    app.selectbox(key="alert_window").select("1h")
    app.button(key="alert_add").click().run()
    rules = {r.name: r for r in load_rules(tmp_path / "alerts.toml").rules}
    assert (rules["mail quiet"].condition, rules["mail quiet"].window_s) == ("silence", 3600.0)


def test_no_alerts_running_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "logs"
    write_records(directory, "shop", burst(datetime.now(UTC), 2))
    monkeypatch.setenv(ENV_LOG_DIR, str(directory))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = run_app({})
    assert any("--alerts alerts.toml" in c.value for c in app.sidebar.caption)


def test_the_panel_follows_this_processs_evaluator_its_state_file_and_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `dashboard --alerts --alerts-state elsewhere`, the panel reads that state file (not the default one)
    and says so when the evaluator of this process died."""
    from otel_logging.alerts.host import AlertsHost, running_host

    directory = tmp_path / "logs"
    write_records(directory, "shop", burst(datetime.now(UTC) - timedelta(seconds=30), 8))
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)

    class Broken(FileSource):
        def refresh(self, force: bool = False, progress: object = None) -> object:
            raise RuntimeError("disk on fire")

    source = Broken(directory, min_refresh_interval_s=0)
    elsewhere = tmp_path / "state" / "alerts.json"
    host = AlertsHost(rules, source, directory, dashboard_url="http://x", state_path=elsewhere, emit=lambda e: None)
    StateFile(elsewhere).save(host.runner.state)  # what its first save writes
    host.start()
    try:
        assert host.wait(30) and running_host() is host
        monkeypatch.setenv(ENV_LOG_DIR, str(directory))
        monkeypatch.delenv(ENV_PASSWORD, raising=False)
        app = run_app({})
        assert any(
            "evaluator of this dashboard stopped: RuntimeError: disk on fire" in e.value for e in app.sidebar.error
        )
        assert any(str(rules) in c.value for c in app.sidebar.caption)  # read from --alerts-state's file
        assert not default_state_path(directory).exists()
    finally:
        host.stop()
        source.close()
    assert running_host() is None
