"""Is a TCP port free to listen on? Checked before a command starts anything, so a taken port is one line.

``python -m otel_logging.commands.ports HOST PORT:WHAT ...`` (used by scripts/run.sh) prints
``port N is in use (WHAT)`` for the first taken one and exits 2; 0 when all are free (port 0: any free port).
"""

from __future__ import annotations

import errno
import socket
import sys


def port_in_use(host: str, port: int) -> bool:
    """True when binding ``host:port`` fails because something listens there (port 0 is never in use).

    SO_REUSEADDR as the servers set it: a port whose last connections linger in TIME_WAIT is free."""
    if port == 0:
        return False
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # the server reports a bad host itself
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def taken(host: str, ports: list[tuple[int, str]]) -> str | None:
    """``port N is in use (what)`` for the first of ``ports`` (port, what it is for) in use on ``host``."""
    for port, what in ports:
        if port_in_use(host, port):
            return f"port {port} is in use ({what})"
    return None


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m otel_logging.commands.ports HOST PORT:WHAT ...", file=sys.stderr)
        return 2
    host, specs = argv[0], argv[1:]
    ports = []
    for spec in specs:
        port, _, what = spec.partition(":")
        ports.append((int(port), what or "needed"))
    message = taken(host, ports)
    if message:
        print(message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
