"""``otel-logging alerts``: evaluate alert rules over the logs (``run``), check a rule file (``check``), show the
rules with their state (``list``). See docs/alerts.md."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from otel_logging.alerts import DEFAULT_DASHBOARD_URL
from otel_logging.store import MEMORY_LIMIT

if TYPE_CHECKING:
    from otel_logging.alerts.rules import ViewLookup
    from otel_logging.dashboard.query import LogSource

DEFAULT_RULES = Path("alerts.toml")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="alert rules over the logs: run them, check a rule file, list their state")
    actions = p.add_subparsers(dest="action", required=True)
    for name, text, run in (
        ("run", "evaluate the rules every interval and send notifications (Ctrl-C stops; SIGHUP reloads)", _run),
        ("check", "check a rule file and print its rules (exit 1 naming each problem)", _check),
        ("list", "print each rule with its state and recent history (one JSON line per rule)", _list),
        ("silence", "silence a rule (or every rule) until a time: a [[silence]] added to the rule file", _silence),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="the rule file (TOML)")
        a.add_argument("--log-dir", type=Path, default=Path("logs"), help="directory of the per-app files")
        if name == "silence":
            a.add_argument("--rule", required=True, help='the rule to silence ("*": every rule)')
            a.add_argument("--for", dest="duration", help="how long, e.g. 2h (or --until)")
            a.add_argument("--until", help="the end, e.g. 2026-12-03T18:00:00Z (or --for)")
            a.add_argument("--comment", help="why (kept in the rule file)")
        if name in ("run", "list"):
            a.add_argument(
                "--state", type=Path, help="the state file (default <log-dir>/.otel-logging/alerts/state.json)"
            )
        if name == "run":
            a.add_argument("--es-url", help="evaluate over Elasticsearch (logs-*) instead of the files")
            a.add_argument(
                "--store",
                type=Path,
                help="the alerts' store file (default <log-dir>/.otel-logging/alerts/store.duckdb)",
            )
            a.add_argument("--no-store", action="store_true", help="read the files into memory instead of a store")
            a.add_argument("--memory-limit", default=MEMORY_LIMIT, help=f"DuckDB memory limit (default {MEMORY_LIMIT})")
            a.add_argument(
                "--dashboard-url",
                default=DEFAULT_DASHBOARD_URL,
                help=f"the dashboard's address, for the links in notifications (default {DEFAULT_DASHBOARD_URL})",
            )
            a.add_argument("--metrics-port", type=int, help="serve GET /metrics on 127.0.0.1:PORT (0 = any free port)")
        a.set_defaults(func=run)


def add_alert_flags(p: argparse.ArgumentParser, link_default: str | None) -> None:
    """``--alerts RULES`` and its options, for a command whose process holds the store (dashboard, store follow)."""
    p.add_argument(
        "--alerts",
        type=Path,
        metavar="RULES",
        help="also evaluate the alert rules of this file (TOML), in this process, on the store it holds",
    )
    p.add_argument(
        "--alerts-state",
        type=Path,
        help="the alerts' state file (default <log-dir>/.otel-logging/alerts/state.json)",
    )
    p.add_argument(
        "--alerts-metrics-port",
        type=int,
        help="serve the alerts' GET /metrics on 127.0.0.1:PORT (0 = any free port)",
    )
    p.add_argument(
        "--dashboard-url",
        default=link_default,
        help="the dashboard's address in the notifications' links (default "
        + (link_default or "this dashboard's own address")
        + ")",
    )


def _emit(event: dict[str, Any]) -> None:
    from otel_logging.alerts.host import emit_json_line

    emit_json_line(event)


def _views(log_dir: Path) -> ViewLookup:
    from otel_logging.dashboard.saved_views import query_lookup

    return query_lookup(log_dir)


def _state_path(args: argparse.Namespace) -> Path:
    from otel_logging.alerts import default_state_path

    return (args.state or default_state_path(args.log_dir.resolve())).resolve()


def _check(args: argparse.Namespace) -> int:
    from otel_logging.alerts.rules import RuleFileError, load_rules

    try:
        rules = load_rules(args.rules, _views(args.log_dir.resolve()))
    except RuleFileError as exc:
        for problem in exc.problems:
            print(f"otel-logging alerts: {args.rules}: {problem}", file=sys.stderr)
        return 1
    for rule in rules.rules:
        _emit({"rule": rule.name, "condition": rule.describe(), "query": rule.query, "every_s": rule.every_s})
    _emit({"event": "ok", "file": str(args.rules), "rules": len(rules.rules), "targets": len(rules.targets)})
    return 0


def _list(args: argparse.Namespace) -> int:
    from otel_logging.alerts.rules import RuleFileError, load_rules
    from otel_logging.alerts.runner import describe_state
    from otel_logging.alerts.state import StateFile

    try:
        rules = load_rules(args.rules, _views(args.log_dir.resolve()))
    except RuleFileError as exc:
        print(f"otel-logging alerts: {exc}", file=sys.stderr)
        return 1
    state = StateFile(_state_path(args)).load()
    for row in describe_state(state, rules):
        _emit(row)
    return 0


def _silence(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from otel_logging.alerts.rules import RuleFileError, append_to_rule_file, parse_duration, silence_toml

    if (args.duration is None) == (args.until is None):
        print("otel-logging alerts silence: give --for or --until (one of them)", file=sys.stderr)
        return 2
    try:
        if args.duration is not None:
            until = datetime.now(UTC) + timedelta(seconds=parse_duration(args.duration))
        else:
            until = datetime.fromisoformat(args.until.replace("Z", "+00:00"))
            until = until if until.tzinfo else until.replace(tzinfo=UTC)
    except ValueError as exc:
        print(f"otel-logging alerts silence: {exc}", file=sys.stderr)
        return 2
    if until <= datetime.now(UTC):
        print(f"otel-logging alerts silence: {until.isoformat()} is already past", file=sys.stderr)
        return 2
    try:
        append_to_rule_file(
            args.rules, silence_toml(args.rule, until, args.comment or ""), _views(args.log_dir.resolve())
        )
    except RuleFileError as exc:
        for problem in exc.problems:
            print(f"otel-logging alerts: {args.rules}: {problem}", file=sys.stderr)
        return 1
    _emit({"event": "silenced", "rule": args.rule, "until": until.astimezone(UTC).isoformat(), "file": str(args.rules)})
    return 0


def _open_source(args: argparse.Namespace) -> LogSource | None:
    from otel_logging.alerts import default_store_path
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.sources import open_source

    try:
        if args.es_url:
            return open_source(es_url=args.es_url)
        log_dir = args.log_dir.resolve()
        if args.no_store:
            return open_source(log_dir=log_dir, min_refresh_interval_s=0)
        store = (args.store or default_store_path(log_dir)).resolve()
        return open_source(log_dir=log_dir, store=store, memory_limit=args.memory_limit, min_refresh_interval_s=0)
    except QueryError as exc:
        print(f"otel-logging alerts: {exc}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    from otel_logging.alerts.host import AlertsHost
    from otel_logging.alerts.rules import RuleFileError

    source = _open_source(args)
    if source is None:
        return 1
    try:
        host = AlertsHost(
            args.rules,
            source,
            args.log_dir,
            dashboard_url=args.dashboard_url,
            state_path=_state_path(args),
            emit=_emit,
            metrics_port=args.metrics_port,
        )
    except RuleFileError as exc:
        for problem in exc.problems:
            print(f"otel-logging alerts: {args.rules}: {problem}", file=sys.stderr)
        source.close()
        return 1
    except OSError as exc:
        print(f"otel-logging alerts: --metrics-port {args.metrics_port}: {exc.strerror or exc}", file=sys.stderr)
        source.close()
        return 1

    def on_stop(signum: int, frame: FrameType | None) -> None:
        host.request_stop()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        host.reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        host.start()
        host.wait()
    finally:
        host.stop()
        source.close()
    _emit({"event": "stopped"})
    return 1 if host.failed else 0
