"""Which document ids a queued line gets in Elasticsearch, across the upgrade to time-ordered ids.

Versions before time-ordered ids gave a document the id ``legacy_document_id(line)`` (a hash of the line);
later ones give ``document_id(line)`` (the record's time, then a hash). A record is stored once only if every
delivery of it uses the same id, and the only records delivered twice are those of the batch in flight when
the service stopped (sent, not yet acknowledged in the queue). So every line that a legacy version may have
sent keeps its legacy id, and only those:

- The first start of a version with time-ordered ids writes ``<queue dir>/ids``:
  ``{"time_ordered_from_segment": N}`` with N the first segment this process writes (a process never appends
  to a segment an earlier one wrote: ``DurableQueue.first_write_segment``). Every later start reads it.
- A batch read from a segment below N was queued by a legacy version: its lines get legacy ids (whether that
  version sent them or not, the id is the one it would have used). Every other line gets time-ordered ids.

A damaged or unreadable ``ids`` file is replaced as on a first start (logged): lines queued before this start
then get legacy ids, which duplicates only records of a batch that a time-ordered version had in flight.
"""

from __future__ import annotations

import logging

import orjson

from otel_logging.record.atomic import write_atomic
from otel_logging.sinks.queue import DurableQueue

_log = logging.getLogger("otel_logging.sinks.elasticsearch")

IDS_FILE = "ids"


class IdScheme:
    """``legacy_at(segment)``: True for a batch read from a segment that a version with legacy ids queued."""

    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        path = queue.directory / IDS_FILE
        try:
            self.from_segment = int(orjson.loads(path.read_bytes())["time_ordered_from_segment"])
            return
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _log.warning(
                "queue %s: %s is unreadable (%s); lines queued before now keep legacy ids",
                queue.directory,
                IDS_FILE,
                exc,
            )
        self.from_segment = queue.first_write_segment
        try:
            write_atomic(path, orjson.dumps({"time_ordered_from_segment": self.from_segment}).decode())
        except OSError as exc:  # the next start would give later lines legacy ids too: they are only slower
            _log.warning("queue %s: cannot write %s (%s)", queue.directory, IDS_FILE, exc)

    def legacy(self) -> bool:
        """Whether the batch at the acknowledged position (the next one read) has legacy ids."""
        return self.legacy_at(self.queue.position.segment)

    def legacy_at(self, segment: int) -> bool:
        """Whether a batch read from ``segment`` has legacy ids (batches read ahead are not at the position)."""
        return segment < self.from_segment
