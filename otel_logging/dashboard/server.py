"""The dashboard's server process, which ``otel-logging dashboard`` starts: Streamlit serving the page, and,
with ``--alerts``, the alerts evaluator on the very source the page reads.

The store is a DuckDB file one process holds at a time; this process holds it, so the evaluator and every
browser session share one store and one catch-up (docs/alerts.md#where-the-rules-are-evaluated). The
source is opened before Streamlit starts, so the rules are evaluated from the start, whether or not anyone
has the page open. Run as ``python -m otel_logging.dashboard.server <streamlit run flags>``.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

from otel_logging.dashboard.query import LogSource, QueryError

ENV_ALERTS = "OTEL_LOGGING_DASHBOARD_ALERTS"  # the rule file; empty or unset: no alerts here
ENV_ALERTS_STATE = "OTEL_LOGGING_DASHBOARD_ALERTS_STATE"
ENV_ALERTS_METRICS_PORT = "OTEL_LOGGING_DASHBOARD_ALERTS_METRICS_PORT"
ENV_URL = "OTEL_LOGGING_DASHBOARD_URL"  # the address in the notifications' links
SCRIPT = Path(__file__).resolve().parent / "streamlit_main.py"


def _open_for_alerts(log_dir: Path, store: Path | None) -> LogSource:
    from otel_logging.dashboard.sources import hold, open_source
    from otel_logging.store import MEMORY_LIMIT

    options = {"store": store, "memory_limit": MEMORY_LIMIT} if store else {}
    source = open_source(log_dir=log_dir, **options)
    hold(log_dir, store, source)
    return source


def main(streamlit_flags: list[str]) -> int:
    from otel_logging.dashboard.app import DashboardConfig

    rules = os.environ.get(ENV_ALERTS) or ""
    config = DashboardConfig.from_env()
    host = None
    source: LogSource | None = None
    log = sys.stdout  # the evaluator's JSON lines; what Streamlit prints on stdout is dropped (set below)
    if rules:
        from otel_logging.alerts import DEFAULT_DASHBOARD_URL
        from otel_logging.alerts.host import AlertsHost, emit_json_line
        from otel_logging.alerts.rules import RuleFileError

        port = os.environ.get(ENV_ALERTS_METRICS_PORT) or ""
        try:
            source = _open_for_alerts(config.log_dir, config.store)
            host = AlertsHost(
                Path(rules),
                source,
                config.log_dir,
                dashboard_url=os.environ.get(ENV_URL) or DEFAULT_DASHBOARD_URL,
                state_path=Path(os.environ[ENV_ALERTS_STATE]) if os.environ.get(ENV_ALERTS_STATE) else None,
                metrics_port=int(port) if port else None,
                emit=functools.partial(emit_json_line, stream=log),
            )
        except RuleFileError as exc:
            for problem in exc.problems:
                print(f"otel-logging dashboard: --alerts {rules}: {problem}", file=sys.stderr)
            return 1
        except QueryError as exc:
            print(f"otel-logging dashboard: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"otel-logging dashboard: --alerts-metrics-port {port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        finally:
            if host is None and source is not None:
                source.close()
        host.start()
        reload = host.reload
        signal.signal(signal.SIGHUP, lambda _signum, _frame: reload())
    sys.argv = ["streamlit", "run", str(SCRIPT), *streamlit_flags]
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process ("  Stopping...", banners)
    try:
        from streamlit.web import cli

        cli.main()
    except SystemExit as exc:  # Streamlit ends with sys.exit: a number, None (0) or a message (said on stderr)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(f"otel-logging dashboard: {exc.code}", file=sys.stderr)
        return 1
    finally:
        if host is not None:
            host.stop()
        if source is not None:
            source.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
