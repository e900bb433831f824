"""``otel-logging dashboard``: the Streamlit log dashboard over the per-app files (or Elasticsearch)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from otel_logging.commands.alerts import add_alert_flags
from otel_logging.commands.ports import port_in_use
from otel_logging.store import default_store_path

DEFAULT_PORT = 8050
PASSWORD_ENV = "OTEL_LOGGING_DASHBOARD_PASSWORD"
STORE_ENV = "OTEL_LOGGING_DASHBOARD_STORE"  # the store's file; empty: the files are read into memory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the Streamlit log dashboard")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT}, 0 = any free)")
    p.add_argument("--log-dir", type=Path, default=Path("logs"), help="directory of the per-app files")
    p.add_argument(
        "--store",
        type=Path,
        help="the log store's file, kept up to date from the files (default <log-dir>/.otel-logging/store.duckdb)",
    )
    p.add_argument(
        "--no-store",
        action="store_true",
        help="read the files into memory at every start instead of keeping a store (small directories only)",
    )
    p.add_argument(
        "--es-url", help="also offer Elasticsearch (index pattern logs-*) as a source, e.g. http://127.0.0.1:9200"
    )
    add_alert_flags(p, link_default=None)
    p.add_argument(
        "--no-password",
        action="store_true",
        help=f"allow binding a non-loopback address without ${PASSWORD_ENV} (anyone who can reach it reads the logs)",
    )
    p.set_defaults(func=_dashboard)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _dashboard(args: argparse.Namespace) -> int:
    password = os.environ.get(PASSWORD_ENV) or None
    if not _is_loopback(args.host) and password is None and not args.no_password:
        print(
            f"otel-logging dashboard: binding {args.host} exposes the logs; set ${PASSWORD_ENV} to require a "
            "password (or pass --no-password to accept that)",
            file=sys.stderr,
        )
        return 2
    log_dir = args.log_dir.resolve()
    if log_dir.exists() and not log_dir.is_dir():
        print(f"otel-logging dashboard: --log-dir {log_dir} is not a directory", file=sys.stderr)
        return 2
    if port_in_use(args.host, args.port):  # else the readiness check would be answered by the other program
        print(
            f"otel-logging dashboard: port {args.port} is in use (--port, the dashboard on {args.host}); "
            "stop what listens there or choose another port",
            file=sys.stderr,
        )
        return 2
    port = args.port or _free_port(args.host)
    from otel_logging.dashboard import server

    env = dict(os.environ)
    env["OTEL_LOGGING_DASHBOARD_LOG_DIR"] = str(log_dir)
    env[STORE_ENV] = "" if args.no_store else str((args.store or default_store_path(log_dir)).resolve())
    if args.es_url:
        env["OTEL_LOGGING_DASHBOARD_ES_URL"] = args.es_url
    url_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{url_host}:{port}"
    if args.alerts:  # evaluated by the dashboard's server process, on the store it holds
        env[server.ENV_ALERTS] = str(args.alerts.resolve())
        env[server.ENV_URL] = args.dashboard_url or url
        if args.alerts_state:
            env[server.ENV_ALERTS_STATE] = str(args.alerts_state.resolve())
        if args.alerts_metrics_port is not None:
            env[server.ENV_ALERTS_METRICS_PORT] = str(args.alerts_metrics_port)
    command = [
        sys.executable,
        "-m",
        "otel_logging.dashboard.server",
        "--server.address",
        args.host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--server.enableXsrfProtection",
        "true",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--logger.hideWelcomeMessage",
        "true",
        "--logger.level",  # errors only in the terminal of `make run` (not "Uvicorn server started on ...")
        "error",
    ]
    # With alerts, the server's stdout is the evaluator's log (one JSON line per event), as `alerts run` prints.
    proc = subprocess.Popen(command, env=env, stdout=None if args.alerts else subprocess.DEVNULL)
    stop = {"signal": 0}

    def forward(signum: int, _frame: object) -> None:
        stop["signal"] = signum
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if args.alerts:  # SIGHUP reloads the rule file (in the server process), as for `alerts run`

        def reload(signum: int, _frame: object) -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGHUP)

        signal.signal(signal.SIGHUP, reload)
    if _wait_healthy(f"{url}/_stcore/health", proc):
        print(orjson.dumps({"event": "listening", "url": url, "log_dir": str(log_dir)}).decode(), flush=True)
    code = proc.wait()
    return 0 if stop["signal"] else code


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False
