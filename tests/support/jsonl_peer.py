"""A json_lines TCP server in its own process, standing in for Logstash's tcp input in tests.

    python -m tests.support.jsonl_peer --port P --out FILE [--drop-after N --drops K]
        [--tls-cert C --tls-key K [--tls-ca CA]]

Prints ``{"event": "listening", "port": P}`` on stdout when ready. Every complete line it
receives is appended to FILE as it arrives (unbuffered ``os.write``, so a killed peer keeps what
it had read); a partial line left when a connection ends is discarded, as Logstash's codec
would fail to parse it. With ``--drop-after N`` it resets each of its first ``--drops`` connections
(SO_LINGER 0, unread data lost) after N lines, which is how a crashing Logstash looks to the sender.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import struct
import sys
import threading


def _serve_connection(conn: socket.socket, out_fd: int, drop_after: int, lock: threading.Lock) -> None:
    pending = b""
    received = 0
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not chunk:
                return
            pending += chunk
            end = pending.rfind(b"\n")
            if end < 0:
                continue
            complete, pending = pending[: end + 1], pending[end + 1 :]
            if drop_after:
                lines = complete.splitlines(keepends=True)
                if received + len(lines) >= drop_after:
                    keep = lines[: drop_after - received]
                    with lock:
                        os.write(out_fd, b"".join(keep))
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closing with SO_LINGER 0: a reset, whatever is unread is lost
                received += len(lines)
            with lock:
                os.write(out_fd, complete)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--drop-after", type=int, default=0, help="reset a connection after this many lines")
    parser.add_argument("--drops", type=int, default=1, help="how many connections to reset")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-ca", help="require client certificates signed by this CA")
    args = parser.parse_args(argv)

    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_ca:
            tls.load_verify_locations(args.tls_ca)
            tls.verify_mode = ssl.CERT_REQUIRED

    out_fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lock = threading.Lock()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(16)
    print(json.dumps({"event": "listening", "port": server.getsockname()[1]}), flush=True)
    drops_left = args.drops if args.drop_after else 0
    while True:
        conn, _ = server.accept()
        drop_after = args.drop_after if drops_left > 0 else 0
        drops_left -= 1
        if tls is not None:
            try:
                conn.settimeout(10)
                conn = tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except (OSError, ssl.SSLError) as exc:
                print(json.dumps({"event": "tls_failed", "error": str(exc)}), file=sys.stderr, flush=True)
                conn.close()
                continue
        threading.Thread(target=_serve_connection, args=(conn, out_fd, drop_after, lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
