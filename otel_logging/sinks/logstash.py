"""Shipping canonical records to Logstash: newline-delimited JSON over TCP (optionally TLS).

Logstash's ``tcp`` input with the ``json_lines`` codec reads one JSON object per line. The
protocol has no acknowledgement, so "delivered" here means something checkable:

1. every byte of a batch was written, and
2. the peer's TCP stack acknowledged every byte (the socket's unacknowledged send queue,
   ``SIOCOUTQ``, is empty), and
3. the connection is still up after that (not reset, not closed).

Only then is a batch reported delivered (and the durable queue may drop it). A write to a peer
that went away fails one of these checks and the batch is retried on a new connection.

TCP acknowledgement means the peer's kernel holds the bytes, not that Logstash has read them,
let alone stored them. If the peer dies with unread data, those bytes are lost on its side; and
an orderly close cannot be told apart from a crash that happened just after a read (the bytes
then die in the peer's memory). So the transport keeps the last ``replay_bytes`` of confirmed
data sent on a connection and sends it again first on the next connection whenever a connection
ends without the transport closing it. The guarantee is therefore at-least-once, with duplicates
after every disconnect (Logstash's pipeline turns them into no-ops with content-hash document
ids), and it holds as long as the peer's unread plus unstored data is below ``replay_bytes``
(Linux receive buffers are at most ``net.ipv4.tcp_rmem``'s maximum, 6 MiB by default; raise
``replay_bytes`` where that is larger). What Logstash loses after that point (its in-memory
buffers on a crash) is narrowed by ``queue.type: persisted`` (see ``logstash/logstash.yml``).

On platforms without ``SIOCOUTQ``/``TCP_INFO`` (not Linux) only step 1 is checked.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import ssl
import struct
import sys
import termios
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from otel_logging.config import DEFAULT_LOGSTASH_PORT, parse_host_port
from otel_logging.record.names import logstash_queue_name
from otel_logging.sinks import SinkError
from otel_logging.sinks.queue import DEFAULT_MAX_BYTES, Deliver, DeliveryResult, QueuedSink

_log = logging.getLogger("otel_logging.sinks.logstash")

_LINUX = sys.platform.startswith("linux")
_TCP_ESTABLISHED = 1
_TCP_CLOSE_WAIT = 8  # the peer closed its side (FIN): what it acknowledged reached it, and maybe no further


class LogstashUnavailable(SinkError):
    """Logstash could not be reached or did not confirm a batch; the batch is to be retried."""


@dataclass(frozen=True, slots=True)
class LogstashTls:
    """TLS towards Logstash (its ``tcp`` input with ``ssl_enabled => true``)."""

    ca_file: Path | None = None  # None: the system's trust store
    cert_file: Path | None = None  # client certificate, when Logstash requires one
    key_file: Path | None = None
    server_name: str | None = None  # name to verify in the server certificate (default: the host)

    def context(self) -> ssl.SSLContext:
        for what, path in (("CA", self.ca_file), ("client certificate", self.cert_file), ("key", self.key_file)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"Logstash TLS {what} file {str(path)!r} does not exist")
        if self.key_file and not self.cert_file:
            raise ValueError("Logstash TLS: a client key needs its client certificate (--logstash-tls-cert)")
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; the port defaults to 5000) -> (host, port); the rule is the settings'."""
    return parse_host_port(text, DEFAULT_LOGSTASH_PORT)


def _unacked_bytes(sock: socket.socket) -> int:
    """Bytes written but not yet acknowledged by the peer's TCP stack (Linux SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return struct.unpack("i", raw)[0]


def _tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


@dataclass(slots=True)
class TransportStats:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    batches: int = 0
    lines: int = 0
    replayed_lines: int = 0


class LogstashTransport:
    """One TCP (or TLS) connection to a Logstash ``tcp``/``json_lines`` input, re-opened as needed.

    ``send(lines)`` returns once the batch is confirmed as described in the module docstring,
    or raises ``LogstashUnavailable``. Not thread-safe: one sender thread per transport.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_LOGSTASH_PORT,
        *,
        tls: LogstashTls | None = None,
        connect_timeout_s: float = 10.0,
        write_timeout_s: float = 60.0,
        ack_timeout_s: float = 30.0,
        replay_bytes: int = 8 << 20,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.name = f"{host}:{port}"
        self._tls = tls.context() if tls is not None else None
        self._server_name = (tls.server_name if tls else None) or host
        self.connect_timeout_s = connect_timeout_s
        self.write_timeout_s = write_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.replay_bytes = replay_bytes
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = TransportStats()
        self._sock: socket.socket | None = None
        self._window: deque[tuple[bytes, int]] = deque()  # confirmed (payload, lines) on this connection
        self._window_bytes = 0
        self._replay: list[tuple[bytes, int]] = []  # to send first on the next connection
        self._backoff_s = 0.0
        self._next_attempt = 0.0
        self._closed = threading.Event()

    # -- public ---------------------------------------------------------------------------

    def send(self, lines: list[bytes]) -> None:
        """Send JSON lines (each with or without its trailing newline) and wait for confirmation."""
        if not lines:
            return
        payload = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
        sock = self._connection()
        try:
            while self._replay:
                replay_payload, replay_lines = self._replay[0]
                self._send_confirmed(sock, replay_payload)
                self._replay.pop(0)
                self._remember(replay_payload, replay_lines)
                self.stats.replayed_lines += replay_lines
            self._send_confirmed(sock, payload)
        except (OSError, LogstashUnavailable) as exc:
            self._drop_connection()
            self._back_off()
            raise LogstashUnavailable(f"Logstash {self.name}: batch not confirmed ({exc}); will retry") from exc
        self._backoff_s = 0.0
        self._remember(payload, len(lines))
        self.stats.batches += 1
        self.stats.lines += len(lines)

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- connection -----------------------------------------------------------------------

    def _connection(self) -> socket.socket:
        sock = self._sock
        if sock is not None:
            state = self._peer_state(sock)
            if state == "up":
                return sock
            _log.warning("Logstash %s closed the connection (%s); reconnecting", self.name, state)
            self._drop_connection()
        if self._closed.is_set():
            raise LogstashUnavailable(f"Logstash {self.name}: transport is closed")
        delay = self._next_attempt - time.monotonic()
        if delay > 0 and self._closed.wait(delay):
            raise LogstashUnavailable(f"Logstash {self.name}: transport is closed")
        try:
            sock = self._open()
        except (OSError, ssl.SSLError) as exc:
            self.stats.connect_failures += 1
            self._back_off()
            raise LogstashUnavailable(
                f"Logstash {self.name}: cannot connect ({exc}); next attempt in {self._backoff_s:.1f}s. "
                "Check that Logstash runs a tcp input with codec json_lines on this address."
            ) from exc
        self.stats.connects += 1
        self._sock = sock
        return sock

    def _back_off(self) -> None:
        """The next connection attempt waits: initial, doubling per failure in a row, at most max."""
        self._backoff_s = min(self.backoff_max_s, max(self.backoff_initial_s, self._backoff_s * 2))
        self._next_attempt = time.monotonic() + self._backoff_s

    def _open(self) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self._tls is not None:
                sock: socket.socket = self._tls.wrap_socket(raw, server_hostname=self._server_name)
            else:
                sock = raw
            sock.settimeout(self.write_timeout_s)
            return sock
        except BaseException:
            raw.close()
            raise

    def _peer_state(self, sock: socket.socket) -> str:
        if not _LINUX:
            return "up"
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            return f"error {error}"
        state = _tcp_state(sock)
        if state == _TCP_ESTABLISHED:
            return "up"
        if state == _TCP_CLOSE_WAIT:
            return "closed in order"
        return f"tcp state {state}"

    def _drop_connection(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self.stats.disconnects += 1
        if self._window:
            # The peer may not have read (or kept) what its kernel acknowledged: send it again.
            self._replay = [*self._window, *self._replay]
        self._window.clear()
        self._window_bytes = 0

    def _remember(self, payload: bytes, lines: int) -> None:
        self._window.append((payload, lines))
        self._window_bytes += len(payload)
        while len(self._window) > 1 and self._window_bytes - len(self._window[0][0]) >= self.replay_bytes:
            self._window_bytes -= len(self._window.popleft()[0])

    # -- confirmation ---------------------------------------------------------------------

    def _send_confirmed(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(payload)
        if not _LINUX:
            return
        deadline = time.monotonic() + self.ack_timeout_s
        pause = 0.0002
        while True:
            state = self._peer_state(sock)
            if state not in ("up", "closed in order"):
                raise LogstashUnavailable(f"connection lost before the peer acknowledged ({state})")
            if _unacked_bytes(sock) == 0:
                # Acknowledged; a reset that raced the acknowledgement shows in the state.
                state = self._peer_state(sock)
                if state not in ("up", "closed in order"):
                    raise LogstashUnavailable(f"connection lost ({state})")
                return
            if time.monotonic() > deadline:
                raise LogstashUnavailable(f"peer did not acknowledge within {self.ack_timeout_s:.0f}s")
            if self._closed.wait(pause):
                raise LogstashUnavailable("transport is closed")
            pause = min(pause * 2, 0.05)


# -- the sink: the transport as the ``deliver`` of a durable queue --------------------------


def logstash_deliver(transport: LogstashTransport) -> Deliver:
    """``deliver`` for ``QueuedSink``: the whole batch is confirmed, or the whole batch is retried (the lines
    go as they are: Logstash needs no service apart from the one in each record)."""

    def deliver(lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        try:
            transport.send(lines)
        except LogstashUnavailable as exc:
            return DeliveryResult.retry_all(len(lines), str(exc))
        return DeliveryResult.delivered()

    return deliver


def logstash_sink(
    address: str,
    log_dir: Path,
    *,
    tls: LogstashTls | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    fsync: bool = False,
) -> QueuedSink:
    """A ``QueuedSink`` under ``<log-dir>/_queue/logstash-<host>-<port>/`` delivering to ``HOST:PORT``.

    Records are appended to the queue before the receiver answers; the sink's thread sends them
    in order and retries (with the queue's backoff) until Logstash confirms each batch.
    """
    host, port = parse_address(address)
    # The queue owns the retry backoff; the transport reconnects at once when asked.
    transport = LogstashTransport(host, port, tls=tls, backoff_initial_s=0.0, backoff_max_s=0.0)
    return QueuedSink(
        logstash_queue_name(host, port),
        log_dir,
        logstash_deliver(transport),
        max_bytes=max_bytes,
        fsync=fsync,
        on_close=transport.close,
    )
