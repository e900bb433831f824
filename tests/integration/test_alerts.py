"""Alerts end to end: an app logs an error burst through ``setup()`` to a real ``otel-logging serve``; a real
``otel-logging alerts run`` over the same log directory posts to a real HTTP server in the test."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from otel_logging.alerts.evaluate import check
from otel_logging.alerts.rules import parse_rules
from tests.integration.dashboard_browser import SCREENSHOTS, browser_page, wait_settled
from tests.support.both_sources import both_sources
from tests.support.es_fixtures import EsNode
from tests.support.generated_logs import make_record
from tests.support.procs import PYTHON, REPO, ServeProcess, child_env, run_app, start_serve, wait_for

pytestmark = pytest.mark.integration

BURST = textwrap.dedent(
    """
    import logging, sys, time
    import otel_logging
    handle = otel_logging.setup(sys.argv[2], sys.argv[1])
    log = logging.getLogger("shop.payments")
    sent = time.time()
    for i in range(int(sys.argv[3])):
        log.error("payment %d failed: card declined", i)
    assert handle.force_flush(30)
    print("SENT", sent, time.time())
    """
)


class Webhook:
    """A real HTTP server on a free port; ``down`` makes it answer 503. Owns its serving thread."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.refused = 0
        self.down = False
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.lock:
                    if hook.down:
                        hook.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    hook.received.append((time.time(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook")
        self.thread.start()

    def bodies(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [b for _, b in self.received if status is None or b["status"] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Alerts:
    """A running evaluator, its stdout lines read by a thread it owns: ``otel-logging alerts run`` (``host=
    "alerts"``), the dashboard's server (``"dashboard"``: ``otel-logging dashboard --alerts``) or ``otel-logging
    store follow --alerts`` (``"follow"``); the last two evaluate on the store they hold."""

    def __init__(self, rules: Path, log_dir: Path, *extra: str, host: str = "alerts") -> None:
        self.stderr_path = rules.parent / f"alerts-{time.monotonic_ns()}.stderr"
        self.host = host
        base = [PYTHON, "-m", "otel_logging"]
        if host == "alerts":
            command = [*base, "alerts", "run", "--rules", str(rules), "--metrics-port", "0"]
        elif host == "dashboard":
            command = [*base, "dashboard", "--port", "0", "--alerts", str(rules), "--alerts-metrics-port", "0"]
        else:
            command = [*base, "store", "follow", "--alerts", str(rules), "--alerts-metrics-port", "0"]
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [*command, "--log-dir", str(log_dir), *extra],
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=REPO,
                env=child_env(),
            )
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, name="alerts-stdout")
        self.reader.start()
        metrics = wait_for(lambda: self.find("metrics"), timeout=60, what=f"alerts to start: {self.stderr()}")
        self.metrics_url = metrics[0]["url"]
        wait_for(lambda: self.find("running"), timeout=60, what="the running line")
        if host == "dashboard":
            (listening,) = wait_for(lambda: self.find("listening"), timeout=60, what="the dashboard to listen")
            self.dashboard_url = listening["url"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def find(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e.get("event") == event]

    def metrics(self) -> dict[str, float]:
        with urlopen(self.metrics_url, timeout=10) as response:
            text = response.read().decode()
        samples = [line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")]
        return {name: float(value) for name, value in samples}

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.reader.join(10)
        return code


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Alerts]]:
    procs: list[Alerts] = []
    yield procs
    for proc in procs:
        proc.stop()


def rules_file(tmp_path: Path, url: str, service: str, window: str, every: str | None = "1s") -> Path:
    path = tmp_path / "alerts.toml"
    every_line = f'every = "{every}"\n' if every else ""
    path.write_text(
        f'[[target]]\nname = "hook"\nurl = "{url}"\n\n'
        f'[[rule]]\nname = "payment errors"\nquery = "service:{service} AND level:error"\n'
        f'window = "{window}"\n{every_line}count_above = 5\nnotify = ["hook"]\nlabels = {{ team = "shop" }}\n'
    )
    return path


def burst(serve: ServeProcess, service: str, n: int = 20) -> float:
    """Send ``n`` errors through setup(); the wall time just before the first was logged."""
    result = run_app(BURST, serve.grpc_endpoint, service, str(n))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("SENT"))
    return float(line.split()[1])


def test_a_burst_fires_once_and_resolves_once(
    serve: ServeProcess, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    """Evaluated by the dashboard's server process (``dashboard --alerts``), on the one store it holds."""
    alerts = Alerts(rules_file(tmp_path, webhook.url, "checkout", "4s"), serve.log_dir, host="dashboard")
    started.append(alerts)
    burst(serve, "checkout")
    (firing,) = wait_for(lambda: webhook.bodies("firing"), timeout=30, what="the firing notification")
    assert firing["rule"] == "payment errors" and firing["value"] >= 20 and firing["labels"] == {"team": "shop"}
    assert firing["dashboard_url"].startswith(alerts.dashboard_url + "/?")  # its own address, unasked
    assert "q=service%3Acheckout+AND+level%3Aerror" in firing["dashboard_url"]
    store = serve.log_dir / ".otel-logging"
    assert (store / "store.duckdb").exists() and not (store / "alerts" / "store.duckdb").exists()  # one store
    wait_for(lambda: webhook.bodies("resolved"), timeout=30, what="the resolved notification")
    evaluated = alerts.metrics()["otel_logging_alerts_evaluations_total"]
    wait_for(
        lambda: alerts.metrics()["otel_logging_alerts_evaluations_total"] >= evaluated + 3,
        timeout=30,
        what="three more evaluations",
    )
    assert [b["status"] for b in webhook.bodies()] == ["firing", "resolved"]  # once each, nothing more
    assert [e["status"] for e in alerts.find("alert")] == ["firing", "resolved"]  # the log lines
    metrics = alerts.metrics()
    assert metrics["otel_logging_alerts_delivered_total"] == 2
    assert metrics["otel_logging_alerts_undelivered_total"] == 0
    assert alerts.stop() == 0


def test_webhook_down_then_up_is_delivered_after_retries_and_counted(
    serve: ServeProcess, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    webhook.down = True
    alerts = Alerts(rules_file(tmp_path, webhook.url, "payments", "10m"), serve.log_dir)
    started.append(alerts)
    burst(serve, "payments")
    wait_for(lambda: webhook.refused >= 3, timeout=60, what="three refused attempts")
    metrics = alerts.metrics()
    assert metrics["otel_logging_alerts_delivery_attempts_failed_total"] >= 3
    assert metrics["otel_logging_alerts_outbox"] == 1
    assert webhook.bodies() == []
    with webhook.lock:
        webhook.down = False
    (firing,) = wait_for(lambda: webhook.bodies("firing"), timeout=60, what="delivery once the hook is up")
    assert firing["rule"] == "payment errors"
    metrics = alerts.metrics()
    assert metrics["otel_logging_alerts_delivered_total"] == 1
    assert metrics["otel_logging_alerts_outbox"] == 0
    failed = alerts.find("delivery_failed")
    assert len(failed) == webhook.refused and [e["retry_in_s"] for e in failed[:3]] == [1.0, 2.0, 4.0]

    # A restart in the middle of the firing alert: no second notification (the state says it was sent).
    assert alerts.stop() == 0
    again = Alerts(tmp_path / "alerts.toml", serve.log_dir)
    started.append(again)
    wait_for(
        lambda: again.metrics()["otel_logging_alerts_evaluations_total"] >= 3, timeout=30, what="three evaluations"
    )
    assert again.metrics()['otel_logging_alerts_rule_firing{rule="payment errors"}'] == 1
    assert len(webhook.bodies()) == 1
    assert again.find("alert") == []


def test_burst_to_webhook_latency_at_the_default_interval(
    serve: ServeProcess, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    runs = int(os.environ.get("OTEL_LOGGING_ALERT_LATENCY_RUNS", "5"))  # the docs' figure: 20
    rules = rules_file(tmp_path, webhook.url, "latency", "5s", every=None)
    alerts = Alerts(rules, serve.log_dir, host="dashboard")
    started.append(alerts)
    latencies = []
    for run in range(runs):
        sent = burst(serve, "latency")
        wait_for(lambda run=run: len(webhook.bodies("firing")) > run, timeout=30, what=f"firing of run {run}")
        latencies.append(webhook.received[-1][0] - sent)
        wait_for(lambda run=run: len(webhook.bodies("resolved")) > run, timeout=30, what=f"resolved of run {run}")
    p50, worst = statistics.median(latencies), max(latencies)
    print(f"burst -> webhook over {runs} runs at every=5s: p50 {p50:.2f} s, max {worst:.2f} s")
    assert worst <= 10.0, latencies


def test_a_bad_rule_file_is_refused_at_start(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nname = "slow"\nquery = "service:"\ncount_above = 1\nnotify = ["pager"]\n')
    command = [PYTHON, "-m", "otel_logging", "alerts", "run", "--rules", str(rules), "--log-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO, env=child_env())
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"otel-logging alerts: {rules}: rule 'slow': query: ")
    assert lines[1] == (
        f"otel-logging alerts: {rules}: rule 'slow': notify: no target named 'pager' "
        "(targets: none defined: add [[target]] tables)"
    )
    assert result.stdout == ""
    # The processes that evaluate on the store they hold refuse it the same way, before serving anything.
    for command, name in (
        (["dashboard", "--port", "0", "--alerts", str(rules)], "otel-logging dashboard"),
        (["store", "follow", "--alerts", str(rules)], "otel-logging store follow"),
    ):
        result = subprocess.run(
            [PYTHON, "-m", "otel_logging", *command, "--log-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env=child_env(),
        )
        assert result.returncode == 1, result.stderr
        prefix = f"{name}: --alerts {rules}: "
        problems = [line.removeprefix(prefix) for line in result.stderr.splitlines() if line.startswith(prefix)]
        assert problems == [
            lines[0].removeprefix(f"otel-logging alerts: {rules}: "),
            "rule 'slow': notify: no target named 'pager' (targets: none defined: add [[target]] tables)",
        ], result.stderr
        assert "listening" not in result.stdout and "following" not in result.stdout


T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _parity_records() -> list[dict[str, Any]]:
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    records = [make_record("shop", at(i), body=f"order {i} placed") for i in range(0, 600, 20)]  # steady
    records += [make_record("mail", at(i), body=f"receipt {i} sent") for i in range(0, 300, 30)]  # then silent
    records += [make_record("shop", at(3000 + i), level=("ERROR", 17), body=f"payment {i} failed") for i in range(30)]
    records += [make_record("shop", at(3000 + i), body=f"order {i} placed") for i in range(30)]
    records += [
        make_record("shop", at(3100 + i), level=("ERROR", 17), body="disk full on volume data") for i in range(3)
    ]
    return records


PARITY_RULES = """
[[rule]]
name = "errors"
query = "level:error"
window = "5m"
count_above = 10
[[rule]]
name = "few orders"
query = "service:shop AND \\"placed\\""
window = "5m"
count_below = 5
[[rule]]
name = "error ratio"
query = "level:error"
base = "service:shop"
window = "5m"
ratio_above = 0.3
[[rule]]
name = "surge"
query = "service:shop"
window = "10m"
change_above = 3
[[rule]]
name = "new errors"
query = "level:error"
window = "2m"
new_pattern = true
lookback = "1d"
[[rule]]
name = "mail silent"
query = "service:mail"
silence = "10m"
"""


def test_every_condition_answers_the_same_over_files_and_elasticsearch(
    es_node: EsNode, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rules = parse_rules(PARITY_RULES).rules
    instants = [T0 + timedelta(seconds=s) for s in (200, 700, 1000, 3060, 3150, 3400)]
    with both_sources(es_node, tmp_path_factory.mktemp("alerts-es") / "logs", _parity_records(), "alerts") as pair:
        es, files = pair
        answers = {}
        for rule in rules:
            for now in instants:
                on_files, on_es = check(rule, files, now), check(rule, es, now)
                assert (on_files.holds, on_files.value) == (on_es.holds, on_es.value), (rule.name, now)
                answers[rule.name, (now - T0).total_seconds()] = on_files.holds
    fired = {name for (name, _), holds in answers.items() if holds}
    assert fired == {r.name for r in rules}  # every condition fires somewhere ...
    assert {name for (name, _), holds in answers.items() if not holds} == {r.name for r in rules}  # ... and not


SEND = textwrap.dedent(
    """
    import json, logging, sys
    import otel_logging
    handle = otel_logging.setup(sys.argv[2], sys.argv[1])
    log = logging.getLogger("app")
    for level, message, count in json.loads(sys.argv[3]):
        for i in range(count):
            log.log(getattr(logging, level), message, i)
    assert handle.force_flush(30)
    """
)

EVERY_CONDITION = """
[[target]]
name = "hook"
url = "{url}"

[defaults]
every = "1s"
window = "3s"
notify = ["hook"]

[[rule]]
name = "ratio"
query = "level:error"
base = "service:ratio-app"
ratio_above = 0.5

[[rule]]
name = "change"
query = "service:change-app"
change_above = 3
min_count = 5

[[rule]]
name = "new pattern"
query = "service:pattern-app"
new_pattern = true
lookback = "1h"

[[rule]]
name = "silence"
query = "service:heartbeat"
silence = "3s"

[[rule]]
name = "too few"
query = "service:heartbeat"
count_below = 1
"""


def send(serve: ServeProcess, service: str, *batches: tuple[str, str, int]) -> None:
    result = run_app(SEND, serve.grpc_endpoint, service, json.dumps(batches))
    assert result.returncode == 0, result.stderr


def test_each_condition_fires_and_resolves_on_records_sent_through_setup(
    serve: ServeProcess, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(EVERY_CONDITION.format(url=webhook.url))
    alerts = Alerts(rules, serve.log_dir, host="follow")  # no dashboard: the store's follower evaluates
    started.append(alerts)
    # pattern-app's usual messages, sent once the evaluator runs (its window is 3 s: sent before a slow start,
    # they could be out of the window at the first evaluation).
    send(serve, "pattern-app", ("ERROR", "payment %d failed", 3))

    def statuses(rule: str) -> list[str]:
        return [b["status"] for b in webhook.bodies() if b["rule"] == rule]

    # No record from the heartbeat yet: both the silence and the count below fire; one record resolves them.
    wait_for(lambda: statuses("silence") == ["firing"] and statuses("too few") == ["firing"], what="silence fires")
    send(serve, "heartbeat", ("INFO", "beat %d", 1))
    wait_for(lambda: statuses("silence") == ["firing", "resolved"], what="silence resolves on a record")
    wait_for(lambda: statuses("too few")[:2] == ["firing", "resolved"], what="count below resolves")

    # pattern-app's first records were new too (nothing before them): that alert fires and resolves first.
    wait_for(lambda: statuses("new pattern") == ["firing", "resolved"], what="the first patterns known")
    send(serve, "pattern-app", ("ERROR", "payment %d failed", 2), ("ERROR", "disk full on volume %d", 2))
    send(serve, "ratio-app", ("ERROR", "payment %d failed", 8), ("INFO", "order %d placed", 2))
    send(serve, "change-app", ("WARNING", "slow request %d", 12))
    for rule, expected in (("ratio", 2), ("change", 2), ("new pattern", 4)):
        wait_for(
            lambda rule=rule, n=expected: statuses(rule) == ["firing", "resolved"] * (n // 2),
            what=f"{rule} fires and resolves",
        )
    new = [b for b in webhook.bodies("firing") if b["rule"] == "new pattern"][1]
    assert [p["template"] for p in new["detail"]["new_patterns"]] == ["disk full on volume <num>"]
    (ratio,) = [b for b in webhook.bodies("firing") if b["rule"] == "ratio"]
    assert ratio["value"] == 0.8 and ratio["detail"] == {"count": 8, "base_count": 10}
    (change,) = [b for b in webhook.bodies("firing") if b["rule"] == "change"]
    assert change["detail"]["count"] == 12 and change["detail"]["previous_count"] == 0


def test_the_dashboard_shows_the_alert_opens_its_link_and_adds_a_rule(
    chromium: str, serve: ServeProcess, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    """In Chromium: the Alerts panel shows the firing rule; the notification's link opens its records; "Alert
    on this query" appends a rule that the running evaluator reloads."""
    from playwright.sync_api import expect

    rules = rules_file(tmp_path, webhook.url, "browser-shop", "10m")
    send(serve, "browser-shop", ("INFO", "order %d placed", 4))  # a record the alert's link must not show
    alerts = Alerts(rules, serve.log_dir, host="dashboard")  # the page and the evaluator: one process, one store
    started.append(alerts)
    dashboard_url = alerts.dashboard_url
    burst(serve, "browser-shop", 7)
    (firing,) = wait_for(lambda: webhook.bodies("firing"), timeout=60, what="the firing notification")
    assert firing["dashboard_url"].startswith(dashboard_url + "/?")
    with browser_page(1500, 1100) as page:
        page.goto(firing["dashboard_url"])
        expect(page.get_by_test_id("records-summary")).to_contain_text("7 records match", timeout=60_000)
        page.get_by_text("Alerts", exact=True).click()
        panel = page.get_by_test_id("stSidebar")
        expect(panel).to_contain_text("payment errors", timeout=30_000)
        expect(panel).to_contain_text("firing payment errors since")  # the red badge, then the rule
        wait_settled(page)
        panel.get_by_text("payment errors").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "dashboard-alerts.png"))
        name = page.locator('input[aria-label="Rule name"]')
        name.fill("browser shop errors")
        name.press("Enter")
        page.get_by_role("button", name="Add the rule", exact=True).click()
        expect(page.get_by_text("added the rule 'browser shop errors'")).to_be_visible(timeout=30_000)
    wait_for(lambda: alerts.find("reloaded"), timeout=30, what="the evaluator reloading the file")
    assert alerts.find("reloaded")[-1]["rules"] == 2
    assert 'name = "browser shop errors"' in rules.read_text()
    assert "service:browser-shop AND level:error" in rules.read_text()


def test_alerts_run_over_elasticsearch_fires_and_resolves(
    es_node: EsNode, webhook: Webhook, started: list[Alerts], tmp_path: Path
) -> None:
    """``alerts run --es-url``: the service exports to a real Elasticsearch node, the evaluator reads only the
    cluster (its --log-dir holds no records), the burst fires once and resolves once."""
    service_name = f"es-shop-{time.monotonic_ns()}"
    serve = start_serve(tmp_path / "logs", "--es-url", es_node.url, "--es-namespace", "alerts")
    try:
        rules = rules_file(tmp_path, webhook.url, service_name, "30s")  # export + indexing may take seconds
        empty = tmp_path / "no-files"
        empty.mkdir()
        alerts = Alerts(rules, empty, "--es-url", es_node.url)
        started.append(alerts)
        burst(serve, service_name)
        (firing,) = wait_for(
            lambda: webhook.bodies("firing"), timeout=60, what=f"the firing notification: {alerts.events[-3:]}"
        )
        assert 5 < firing["value"] <= 20 and firing["rule"] == "payment errors"  # fires as the burst is indexed
        wait_for(lambda: webhook.bodies("resolved"), timeout=90, what="the resolved notification")
        assert [b["status"] for b in webhook.bodies()] == ["firing", "resolved"]
        assert list(empty.iterdir()) == [empty / ".otel-logging"]  # only its state: no store, no records
        assert alerts.stop() == 0
    finally:
        serve.stop()
