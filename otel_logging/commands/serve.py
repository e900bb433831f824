"""``otel-logging serve``: the central service."""

from __future__ import annotations

import argparse
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
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from otel_logging.receiver.service import CentralService

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
    )
    try:
        service = CentralService(settings)
        ports = service.start()
    except OSError as exc:
        print(f"otel-logging serve: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
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
