"""Where accepted records go: per-app files always, remote sinks through the durable queue."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from otel_logging.record import Record

# The records of one request as canonical JSON lines, one buffer per service: the receiver
# encodes a request once and every sink that can take the bytes takes these same buffers.
# (Aggregation's native reader hands read-only memoryviews of its pooled buffers.)
EncodedBatch = dict[str, bytes | memoryview]


class Sink(Protocol):
    """Something that takes the records of one request, grouped by service."""

    name: str

    def write(self, by_service: dict[str, list[Record]]) -> None:
        """Persist (or durably enqueue) the records; raise SinkError if that is not possible."""

    def close(self) -> None: ...


@runtime_checkable
class EncodedSink(Protocol):
    """A sink that also takes a request already encoded as JSON lines (no second encoding)."""

    def write_encoded(self, lines_by_service: EncodedBatch, count: int) -> None:
        """Like ``write`` for ``count`` records given as JSON lines per service."""


class SinkError(RuntimeError):
    """A sink could not take records right now; the client should retry later."""
