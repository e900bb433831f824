"""OTLP/HTTP front end: ``POST /v1/logs`` (protobuf or JSON, gzip), ``/healthz``, ``/metrics``."""

from __future__ import annotations

import gzip
import ssl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
from google.protobuf import json_format

from otel_logging.receiver.auth import TokenAuthenticator
from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.export import ExportOutcome, LogsExporter
from otel_logging.receiver.metrics import ServiceMetrics

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a reply is headers then body: don't hold the body for a delayed ACK
    server_version = "otel-logging"
    sys_version = ""
    exporter: ClassVar[LogsExporter]
    metrics: ClassVar[ServiceMetrics]
    max_request_bytes: ClassVar[int]
    healthy: ClassVar[threading.Event]
    in_flight: ClassVar[InFlight]
    authenticator: ClassVar[TokenAuthenticator | None]
    uploads: ClassVar[threading.BoundedSemaphore]  # bodies held in memory at once
    timeout = 60  # idle keep-alive connections end after this many seconds

    def log_message(self, format: str, *args: object) -> None:
        return  # access logs would feed back into the pipeline when the service logs itself

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            ok = self.healthy.is_set()
            self._send(200 if ok else 503, b"ok\n" if ok else b"shutting down\n", "text/plain")
        elif path == "/metrics":
            if self.authenticator is not None:
                try:
                    self.authenticator.check(self.headers.get("Authorization"))
                except ExportError as exc:
                    self._send(401, f"{exc.message}\n".encode(), "text/plain", {"WWW-Authenticate": "Bearer"})
                    return
            self._send(200, self.metrics.render().encode(), "text/plain; version=0.0.4")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _read_body(self) -> bytes:
        limit = self.max_request_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ExportError(Failure.MALFORMED, "malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > limit:
                    self.close_connection = True
                    raise ExportError(Failure.TOO_LARGE, f"request body exceeds {limit} bytes")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise ExportError(Failure.MALFORMED, "bad Content-Length") from None
        if length < 0:
            self.close_connection = True
            raise ExportError(Failure.MALFORMED, f"bad Content-Length {length}")
        if length > limit:
            self.close_connection = True
            raise ExportError(Failure.TOO_LARGE, f"request body of {length} bytes exceeds {limit} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _decompress(self, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise ExportError(Failure.UNSUPPORTED_MEDIA, f"unsupported Content-Encoding {encoding!r}")
        try:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = decompressor.decompress(body, self.max_request_bytes + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise ExportError(Failure.MALFORMED, f"bad gzip body: {exc}") from exc
        if not decompressor.eof and len(data) <= self.max_request_bytes and not decompressor.unconsumed_tail:
            raise ExportError(Failure.MALFORMED, "bad gzip body: the stream ends before its end marker (truncated?)")
        if len(data) > self.max_request_bytes or decompressor.unconsumed_tail:
            raise ExportError(Failure.TOO_LARGE, f"decompressed body exceeds {self.max_request_bytes} bytes")
        return data

    @contextmanager
    def _upload(self) -> Iterator[None]:
        """A slot for one request body: memory stays bounded.

        At most ``uploads`` request bodies are read at a time; a request that cannot get a slot
        soon is told to retry (its body is never read).
        """
        if not self.uploads.acquire(timeout=10):
            self.close_connection = True
            raise ExportError(Failure.UNAVAILABLE, "too many uploads in progress; retry", retry_after_s=2)
        try:
            with self.in_flight:
                yield
        finally:
            self.uploads.release()

    def do_POST(self) -> None:
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        reply_type = JSON if content_type == JSON else PROTOBUF
        if self.path.split("?", 1)[0] != "/v1/logs":  # not an export request: not counted
            try:
                with self._upload():
                    try:
                        self._read_body()
                    except ExportError as exc:
                        self._send_error(exc, reply_type)
                        return
                    self._send(404, b"not found\n", "text/plain")
            except ExportError as exc:  # no upload slot
                self._send_error(exc, reply_type)
            return
        with self.metrics.start_request("http") as report:
            try:
                with self._upload():
                    try:
                        outcome = self._export(content_type)
                    except ExportError as exc:
                        report.refused(exc.failure)
                        self._send_error(exc, reply_type)
                        return
                    report.accepted(outcome.accepted, outcome.rejected)
                    response = outcome.response()
                    if reply_type == JSON:
                        self._send(200, orjson.dumps(json_format.MessageToDict(response)), reply_type)
                    else:
                        self._send(200, response.SerializeToString(), reply_type)
            except ExportError as exc:  # no upload slot
                report.refused(exc.failure)
                self._send_error(exc, reply_type)

    def _export(self, content_type: str) -> ExportOutcome:
        if self.authenticator is not None:
            try:
                self.authenticator.check(self.headers.get("Authorization"))
            except ExportError:
                self.close_connection = True  # don't read a body we won't use
                raise
        body = self._decompress(self._read_body())
        if content_type == PROTOBUF:
            return self.exporter.export_protobuf(body, transport="http")
        if content_type == JSON:
            return self.exporter.export_json(body, transport="http")
        raise ExportError(
            Failure.UNSUPPORTED_MEDIA, f"unsupported Content-Type {content_type!r}; use {PROTOBUF} or {JSON}"
        )

    def _send_error(self, exc: ExportError, reply_type: str) -> None:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else {}
        if exc.failure is Failure.UNAUTHENTICATED:
            headers["WWW-Authenticate"] = "Bearer"
        self._send_status(exc.failure.http_status, exc.message, reply_type, headers)

    def _send_status(self, status: int, message: str, reply_type: str, headers: dict[str, str] | None) -> None:
        # OTLP/HTTP errors carry a google.rpc.Status; JSON clients get its JSON form.
        from google.rpc import status_pb2

        rpc_status = status_pb2.Status(code=_GRPC_CODE_FOR_HTTP.get(status, 2), message=message)
        if reply_type == JSON:
            body = orjson.dumps(json_format.MessageToDict(rpc_status))
        else:
            body = rpc_status.SerializeToString()
        self._send(status, body, reply_type, headers)


_GRPC_CODE_FOR_HTTP: dict[int, int] = {
    HTTPStatus.BAD_REQUEST: 3,
    HTTPStatus.UNAUTHORIZED: 16,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: 8,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: 3,
    HTTPStatus.TOO_MANY_REQUESTS: 8,
    HTTPStatus.SERVICE_UNAVAILABLE: 14,
}


def server_tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    """TLS 1.2+ for OTLP/HTTP; with ``client_ca``, a client certificate it signed is required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


class InFlight:
    """Counts requests being handled, so that shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout_s)


class HttpFrontEnd:
    def __init__(
        self,
        exporter: LogsExporter,
        metrics: ServiceMetrics,
        host: str,
        port: int,
        *,
        max_request_bytes: int,
        authenticator: TokenAuthenticator | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.healthy = threading.Event()
        self.in_flight = InFlight()
        handler = type(
            "OtlpHttpHandler",
            (_Handler,),
            {
                "exporter": exporter,
                "metrics": metrics,
                "max_request_bytes": max_request_bytes,
                "healthy": self.healthy,
                "in_flight": self.in_flight,
                "authenticator": authenticator,
                # at most 256 MiB of bodies (and at least 2, at most 16 requests) at once
                "uploads": threading.BoundedSemaphore(max(2, min(16, (256 << 20) // max(1, max_request_bytes)))),
            },
        )
        self.server = _Server((host, port), handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.healthy.set()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-http", daemon=True
        )
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """Stop accepting connections, then wait (up to ``grace_s``) for requests in flight."""
        self.healthy.clear()
        self.server.shutdown()
        self.server.server_close()
        self.in_flight.wait_idle(grace_s)
