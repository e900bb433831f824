"""``otel-logging serve``: the central service."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import orjson

from otel_logging.commands.options import SettingsFlags, refuse
from otel_logging.commands.ports import taken
from otel_logging.commands.units import parse_duration, parse_size
from otel_logging.config import (
    GRPC_SERVERS,
    ServeSettings,
)

ES_PASSWORD_ENV = "OTEL_LOGGING_ES_PASSWORD"
NO_HTTP = -1  # --http-port -1: no OTLP/HTTP (receiver.http_port None)

# Every flag of `serve` sets one field of ServeSettings and takes its default from there.
FLAGS = SettingsFlags(ServeSettings)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the central service (OTLP receiver writing per-app files)")
    FLAGS.add(p, "--host", "receiver.host", help="address to bind (default %(default)s)")
    FLAGS.add(p, "--port", "receiver.grpc_port", type=int, help="OTLP/gRPC port (0 = any free)")
    FLAGS.add(p, "--http-port", "receiver.http_port", type=int, help="OTLP/HTTP port (0 = any free, -1 = off)")
    FLAGS.add(p, "--log-dir", "files.log_dir", type=Path, help="directory of the per-app files")
    FLAGS.add(p, "--fsync", "files.fsync", action="store_true", help="fsync every write before answering")
    FLAGS.add(
        p, "--rotate-bytes", "files.rotate_bytes", type=parse_size, help="rotate an app's file at this size, e.g. 100MB"
    )
    FLAGS.add(
        p,
        "--rotate-interval",
        "files.rotate_interval_s",
        type=parse_duration,
        help="rotate an app's file this often, e.g. 1d",
    )
    FLAGS.add(p, "--retain-count", "files.retain_count", type=int, help="keep at most this many rotated files per app")
    FLAGS.add(
        p,
        "--retain-age",
        "files.retain_age_s",
        type=parse_duration,
        help="delete rotated files older than this, e.g. 30d",
    )
    FLAGS.add(p, "--compress", "files.compress_rotated", action="store_true", help="gzip rotated files")
    FLAGS.add(
        p,
        "--drop-replayed-writes",
        "files.drop_replayed_writes",
        action="store_true",
        help="skip an app's write identical to one of its last 1,024 (behind a collector gateway that replays)",
    )
    FLAGS.add(
        p,
        "--max-request-bytes",
        "receiver.max_request_bytes",
        type=parse_size,
        help="largest request accepted (default %(default)s bytes)",
    )
    FLAGS.add(p, "--workers", "receiver.grpc_workers", type=int, help="gRPC server threads")
    FLAGS.add(
        p,
        "--grpc-server",
        "receiver.grpc_server",
        choices=GRPC_SERVERS,
        help="OTLP/gRPC transport: native (built in), grpcio, or auto (native when built; default)",
    )
    FLAGS.add(p, "--grace", "receiver.shutdown_grace_s", type=float, help="seconds to drain in-flight requests on stop")
    _add_elasticsearch_options(p)
    _add_security_options(p)
    _add_logstash_options(p)
    p.set_defaults(func=_serve)


def _add_security_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("security and limits (see docs/SECURITY.md)")
    add = FLAGS.add
    add(
        g,
        "--auth-token-file",
        "security.auth_token_file",
        type=Path,
        help="bearer tokens, one per line; re-read on SIGHUP",
    )
    add(g, "--tls-cert", "security.tls_cert", type=Path, help="server certificate (PEM) for gRPC and HTTP")
    add(g, "--tls-key", "security.tls_key", type=Path, help="server private key (PEM)")
    add(
        g,
        "--tls-client-ca",
        "security.tls_client_ca",
        type=Path,
        help="require client certificates signed by this CA (mutual TLS)",
    )
    add(g, "--redact", "security.redact", action="store_true", help="mask secrets in every record before it is stored")
    add(
        g,
        "--redact-rules",
        "security.redact_rules",
        type=Path,
        help='extra redaction rules (JSON: {"keys": [], "patterns": []})',
    )
    add(
        g,
        "--max-records-per-request",
        "receiver.max_records_per_request",
        type=int,
        help="larger requests are refused (default %(default)s)",
    )
    add(
        g,
        "--max-attribute-length",
        "receiver.max_attribute_length",
        type=int,
        help="truncate longer string values (flagged)",
    )
    add(
        g,
        "--max-new-apps-per-minute",
        "receiver.max_new_apps_per_minute",
        type=int,
        help="limit how fast new app files may appear",
    )


def _add_logstash_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Logstash export (tcp input, json_lines codec)")
    add = FLAGS.add
    add(
        g,
        "--logstash",
        "logstash.targets",
        action="append",
        metavar="HOST:PORT",
        help="send every record here (repeatable)",
    )
    add(g, "--logstash-tls", "logstash.tls", action="store_true", help="use TLS, trusting the system's CAs")
    add(g, "--logstash-tls-ca", "logstash.tls_ca", type=Path, help="use TLS, trusting this CA (PEM)")
    add(
        g,
        "--logstash-tls-cert",
        "logstash.tls_cert",
        type=Path,
        help="client certificate (PEM) if Logstash requires one",
    )
    add(g, "--logstash-tls-key", "logstash.tls_key", type=Path, help="private key (PEM) of the client certificate")
    add(
        g,
        "--logstash-tls-server-name",
        "logstash.tls_server_name",
        help="name to verify in Logstash's certificate (default: HOST)",
    )


def _add_elasticsearch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Elasticsearch export (data streams logs-<dataset>-<namespace>)")
    add = FLAGS.add
    add(g, "--es-url", "elasticsearch.urls", action="append", metavar="URL", help="an Elasticsearch node (repeatable)")
    add(g, "--es-api-key", "elasticsearch.api_key", help="API key (base64 'id:key' as Kibana shows it)")
    add(g, "--es-user", "elasticsearch.user", help=f"user for basic auth; the password is read from ${ES_PASSWORD_ENV}")
    add(
        g,
        "--es-ca-cert",
        "elasticsearch.ca_cert",
        type=Path,
        help="CA certificate (PEM) to verify an https:// Elasticsearch",
    )
    add(g, "--es-namespace", "elasticsearch.namespace", help="data stream namespace (default: %(default)s)")
    add(
        g,
        "--queue-max-bytes",
        "queue.max_bytes",
        type=parse_size,
        help="undelivered bytes each remote sink's queue may hold (default %(default)s); "
        "when full, clients get a retryable 503",
    )


def serve_settings(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServeSettings:
    """The settings the flags name, one part per concern (the Elasticsearch password from ``env``)."""
    env = os.environ if env is None else env
    settings: ServeSettings = FLAGS.settings(
        args,
        {
            "receiver.http_port": None if args.http_port == NO_HTTP else args.http_port,
            "elasticsearch.password": env.get(ES_PASSWORD_ENV) if args.es_user else None,
        },
    )
    return settings


def _serve(args: argparse.Namespace) -> int:
    from otel_logging.receiver.service import CentralService

    settings = serve_settings(args)
    receiver = settings.receiver
    wanted = [(receiver.grpc_port, f"--port, OTLP/gRPC on {receiver.host}")]
    if receiver.http_port is not None:
        wanted.append((receiver.http_port, f"--http-port, OTLP/HTTP on {receiver.host}"))
    in_use = taken(receiver.host, wanted)
    if in_use:  # before anything starts: one line, not gRPC's traceback
        print(f"otel-logging serve: {in_use}; stop what listens there or choose another port", file=sys.stderr)
        return 2
    try:
        # CentralService checks the settings first (a ConfigError names the setting), then builds their sinks.
        service = CentralService(settings)
        ports = service.start()
    except (OSError, ValueError) as exc:
        return refuse("serve", exc, FLAGS)
    except RuntimeError as exc:  # gRPC could not bind (taken between the check and the bind)
        print(f"otel-logging serve: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: service.reload())
    announcement = {
        "event": "listening",
        "grpc": f"{ports.host}:{ports.grpc}",
        "grpc_server": ports.grpc_server,
        "http": f"{ports.host}:{ports.http}" if ports.http is not None else None,
        "log_dir": str(settings.files.log_dir.resolve()),
    }
    sys.stdout.write(orjson.dumps(announcement).decode() + "\n")
    sys.stdout.flush()
    print(
        f"otel-logging: OTLP/gRPC on {ports.host}:{ports.grpc}"
        + (f", OTLP/HTTP on http://{ports.host}:{ports.http}/v1/logs" if ports.http else "")
        + f", writing {settings.files.log_dir}/<app>.jsonl (gRPC server: {ports.grpc_server})",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(3600):
        pass
    service.stop()
    print("otel-logging: stopped cleanly", file=sys.stderr, flush=True)
    return 0
