"""Where accepted records go: per-app files always, remote sinks through the durable queue."""

from __future__ import annotations

from typing import Protocol

from otel_logging.record import Record


class Sink(Protocol):
    """Something that takes the records of one request, grouped by service."""

    name: str

    def write(self, by_service: dict[str, list[Record]]) -> None:
        """Persist (or durably enqueue) the records; raise SinkError if that is not possible."""

    def close(self) -> None: ...


class SinkError(RuntimeError):
    """A sink could not take records right now; the client should retry later."""
