"""``otel-logging serve``: the central service."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import orjson

from otel_logging.commands.units import parse_duration, parse_size
from otel_logging.config import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, ServeSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the central service (OTLP receiver writing per-app files)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_GRPC_PORT, help="OTLP/gRPC port (0 = any free)")
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="OTLP/HTTP port (0 = any free, -1 = off)")
    p.add_argument("--log-dir", type=Path, default=Path("logs"), help="directory of the per-app files")
    p.add_argument("--fsync", action="store_true", help="fsync every write before answering")
    p.add_argument("--rotate-bytes", type=parse_size, help="rotate an app's file at this size, e.g. 100MB")
    p.add_argument("--rotate-interval", type=parse_duration, help="rotate an app's file this often, e.g. 1d")
    p.add_argument("--retain-count", type=int, help="keep at most this many rotated files per app")
    p.add_argument("--retain-age", type=parse_duration, help="delete rotated files older than this, e.g. 30d")
    p.add_argument("--compress", action="store_true", help="gzip rotated files")
    p.add_argument("--max-request-bytes", type=parse_size, default=64 << 20, help="largest request accepted (64MiB)")
    p.add_argument("--workers", type=int, default=16, help="gRPC worker threads")
    p.add_argument("--grace", type=float, default=30.0, help="seconds to drain in-flight requests on stop")
    _add_elasticsearch_options(p)
    _add_security_options(p)
    _add_logstash_options(p)
    p.set_defaults(func=_serve)


def _add_security_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("security and limits (see docs/SECURITY.md)")
    g.add_argument("--auth-token-file", type=Path, help="bearer tokens, one per line; re-read on SIGHUP")
    g.add_argument("--tls-cert", type=Path, help="server certificate (PEM) for gRPC and HTTP")
    g.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    g.add_argument("--tls-client-ca", type=Path, help="require client certificates signed by this CA (mutual TLS)")
    g.add_argument("--redact", action="store_true", help="mask secrets in every record before it is stored")
    g.add_argument("--redact-rules", type=Path, help='extra redaction rules (JSON: {"keys": [], "patterns": []})')
    g.add_argument("--max-records-per-request", type=int, default=100_000, help="larger requests are refused")
    g.add_argument("--max-attribute-length", type=int, help="truncate longer string values (flagged)")
    g.add_argument("--max-new-apps-per-minute", type=int, help="limit how fast new app files may appear")


def _security_settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "auth_token_file": args.auth_token_file,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "tls_client_ca": args.tls_client_ca,
        "redact": args.redact,
        "redact_rules": args.redact_rules,
        "max_records_per_request": args.max_records_per_request,
        "max_attribute_length": args.max_attribute_length,
        "max_new_apps_per_minute": args.max_new_apps_per_minute,
    }


def _add_logstash_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Logstash export (tcp input, json_lines codec)")
    g.add_argument(
        "--logstash", action="append", default=[], metavar="HOST:PORT", help="send every record here (repeatable)"
    )
    g.add_argument("--logstash-tls", action="store_true", help="use TLS, trusting the system's CAs")
    g.add_argument("--logstash-tls-ca", type=Path, help="use TLS, trusting this CA (PEM)")
    g.add_argument("--logstash-tls-cert", type=Path, help="client certificate (PEM) if Logstash requires one")
    g.add_argument("--logstash-tls-key", type=Path, help="private key (PEM) of the client certificate")
    g.add_argument("--logstash-tls-server-name", help="name to verify in Logstash's certificate (default: HOST)")


def _logstash_settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "logstash": list(args.logstash),
        "logstash_tls": args.logstash_tls,
        "logstash_tls_ca": args.logstash_tls_ca,
        "logstash_tls_cert": args.logstash_tls_cert,
        "logstash_tls_key": args.logstash_tls_key,
        "logstash_tls_server_name": args.logstash_tls_server_name,
    }


def _add_elasticsearch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Elasticsearch export (data streams logs-<dataset>-<namespace>)")
    g.add_argument("--es-url", action="append", default=[], metavar="URL", help="an Elasticsearch node (repeatable)")
    g.add_argument("--es-api-key", help="API key (base64 'id:key' as Kibana shows it)")
    g.add_argument("--es-user", help="user for basic auth; the password is read from $OTEL_LOGGING_ES_PASSWORD")
    g.add_argument("--es-ca-cert", type=Path, help="CA certificate (PEM) to verify an https:// Elasticsearch")
    g.add_argument("--es-namespace", default="default", help="data stream namespace (default: default)")
    g.add_argument(
        "--queue-max-bytes",
        type=parse_size,
        default=1 << 30,
        help="undelivered bytes each remote sink's queue may hold (1GiB); when full, clients get a retryable 503",
    )


def _elasticsearch_settings(args: argparse.Namespace) -> dict[str, object]:
    password = os.environ.get("OTEL_LOGGING_ES_PASSWORD")
    if args.es_user and password is None:
        raise ValueError("--es-user needs the password in the environment variable OTEL_LOGGING_ES_PASSWORD")
    return {
        "es_urls": list(args.es_url),
        "es_api_key": args.es_api_key,
        "es_user": args.es_user,
        "es_password": password if args.es_user else None,
        "es_ca_cert": args.es_ca_cert,
        "es_namespace": args.es_namespace,
        "queue_max_bytes": args.queue_max_bytes,
    }


def _serve(args: argparse.Namespace) -> int:
    from otel_logging.receiver.service import CentralService

    try:
        es_settings = _elasticsearch_settings(args)
    except ValueError as exc:
        print(f"otel-logging serve: {exc}", file=sys.stderr)
        return 2
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        http_port=None if args.http_port < 0 else args.http_port,
        log_dir=args.log_dir,
        fsync=args.fsync,
        rotate_bytes=args.rotate_bytes,
        rotate_interval_s=args.rotate_interval,
        retain_count=args.retain_count,
        retain_age_s=args.retain_age,
        compress_rotated=args.compress,
        max_request_bytes=args.max_request_bytes,
        grpc_workers=args.workers,
        shutdown_grace_s=args.grace,
        **_security_settings(args),  # type: ignore[arg-type]
        **es_settings,  # type: ignore[arg-type]
        **_logstash_settings(args),  # type: ignore[arg-type]
    )
    try:
        service = CentralService(settings)  # builds the sinks the settings name (otel_logging.sinks.build)
        ports = service.start()
    except (OSError, ValueError) as exc:
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
        "http": f"{ports.host}:{ports.http}" if ports.http is not None else None,
        "log_dir": str(settings.log_dir.resolve()),
    }
    sys.stdout.write(orjson.dumps(announcement).decode() + "\n")
    sys.stdout.flush()
    print(
        f"otel-logging: OTLP/gRPC on {ports.host}:{ports.grpc}"
        + (f", OTLP/HTTP on http://{ports.host}:{ports.http}/v1/logs" if ports.http else "")
        + f", writing {settings.log_dir}/<app>.jsonl",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(3600):
        pass
    service.stop()
    print("otel-logging: stopped cleanly", file=sys.stderr, flush=True)
    return 0
