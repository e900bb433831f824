"""Where accepted records go: per-app files always, remote sinks through the durable queue.

Every sink has one method, ``write(batch)``: a ``RecordBatch`` (``otel_logging.record``), the records of one
request or one read of a file as JSON lines per service. A sink takes what it needs from it: the per-app files
and the queues the JSON lines as they are, a sink that needs record dicts ``batch[service]`` (decoded then).
"""

from __future__ import annotations

from typing import Protocol

from otel_logging.record import RecordBatch


class Sink(Protocol):
    """Something that takes the records of one request (or one read of a file), grouped by service."""

    name: str

    def write(self, batch: RecordBatch) -> None:
        """Persist (or durably enqueue) the records; raise SinkError if that is not possible."""

    def close(self) -> None: ...


class SinkError(RuntimeError):
    """A sink could not take records right now; the client should retry later."""
