"""Bearer-token authentication for both front ends, with tokens reloadable on SIGHUP."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from pathlib import Path

from otel_logging.receiver.errors import ExportError, Failure

_log = logging.getLogger("otel_logging.receiver.auth")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def read_tokens(path: Path) -> list[str]:
    """One token per line; blank lines and lines starting with ``#`` are ignored."""
    tokens = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    tokens = [t for t in tokens if t and not t.startswith("#")]
    if not tokens:
        raise ValueError(f"{path}: no tokens (one per line)")
    return tokens


class TokenAuthenticator:
    """Accepts ``Authorization: Bearer <token>`` when the token is in the token file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._digests: list[bytes] = [_digest(t) for t in read_tokens(path)]

    def reload(self) -> bool:
        """Re-read the token file; on error keep the current tokens and say why."""
        try:
            digests = [_digest(t) for t in read_tokens(self.path)]
        except (OSError, ValueError) as exc:
            _log.error("auth tokens not reloaded, keeping the previous ones: %s", exc)
            return False
        with self._lock:
            self._digests = digests
        return True

    def check(self, authorization: str | None) -> None:
        if not authorization:
            raise ExportError(Failure.UNAUTHENTICATED, "missing bearer token (send 'authorization: Bearer <token>')")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ExportError(Failure.UNAUTHENTICATED, "the authorization header must be 'Bearer <token>'")
        candidate = _digest(token.strip())
        with self._lock:
            digests = self._digests
        matched = False
        for digest in digests:  # compare against every token: the time does not tell which one matched
            matched |= hmac.compare_digest(candidate, digest)
        if not matched:
            raise ExportError(Failure.UNAUTHENTICATED, "invalid bearer token")
