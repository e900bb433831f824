"""How big and how many bulk requests to send to Elasticsearch: AIMD limits driven by the node's answers.

``BulkPacer`` holds two limits, both moved by what each bulk request's answer says:

- ``limit``: bulk requests in flight at once (1..``max_in_flight``). Each window of ``limit`` answers that came
  back quickly (at most ``fast_s``) without a sign of overload raises it by one (additive increase); an overload
  (a 429 for the request or for any of its items, a 502/503/504, a timeout) halves it (multiplicative decrease).
- ``docs``: documents per bulk request (``min_docs``..``max_docs``). A fast window raises it by ``docs_step``; an
  answer slower than ``slow_s`` halves it (a node that needs that long for one request is queueing it).

``fit_to_cluster(write_threads)`` lowers ``max_in_flight`` to ``IN_FLIGHT_PER_WRITE_THREAD`` requests per write
thread of the cluster's data nodes: a node indexes a bulk request on one of its write threads (one per core), so
more requests than that only wait in its queue, holding memory on both sides, and on a node that shares its cores
they cost it CPU (bench/es_vs_collector.py's ceiling on a 2-core node: 4 senders 1.05-1.31x as fast as 8).

A decrease happens at most once per round trip: an answer to a request sent before the last decrease says
nothing about the new limits (the TCP rule), so it cannot halve them again. Answers between ``fast_s`` and
``slow_s`` hold both limits. The clock is injectable (tests drive it by hand).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MIN_DOCS = 250
# The largest bulk from the start: the node's fastest size on the bench (its ceiling with 5,000-document bodies
# 1.04-1.31x as fast as with 2,000); a slow answer halves it at once.
DEFAULT_START_DOCS = 5000
DEFAULT_MAX_DOCS = 5000
DEFAULT_DOCS_STEP = 500
DEFAULT_START_IN_FLIGHT = 4
DEFAULT_MAX_IN_FLIGHT = 6  # and at most IN_FLIGHT_PER_WRITE_THREAD per write thread of the cluster, when known
IN_FLIGHT_PER_WRITE_THREAD = 2  # one being indexed, one arriving (parsed while the other is indexed)
# A loaded 2-core node takes seconds for a 2,000-document bulk while still indexing at its best rate: smaller
# bulks would not be faster, only more requests (bench/es_vs_collector.py with 1 s / 4 s: half the rate).
# What latency guards against is the client's request timeout (30 s).
DEFAULT_FAST_S = 5.0
DEFAULT_SLOW_S = 10.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """One bulk request allowed out: when it was (the pacer's clock)."""

    sent_at: float


class BulkPacer:
    """AIMD limits on bulk size and bulk requests in flight (thread-safe). See the module's doc."""

    def __init__(
        self,
        *,
        min_docs: int = DEFAULT_MIN_DOCS,
        start_docs: int = DEFAULT_START_DOCS,
        max_docs: int = DEFAULT_MAX_DOCS,
        docs_step: int = DEFAULT_DOCS_STEP,
        start_in_flight: int = DEFAULT_START_IN_FLIGHT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        fast_s: float = DEFAULT_FAST_S,
        slow_s: float = DEFAULT_SLOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= min_docs <= max_docs or max_in_flight < 1 or docs_step < 0 or not 0 < fast_s <= slow_s:
            raise ValueError("BulkPacer: need 1 <= min_docs <= max_docs, 1 <= max_in_flight, 0 < fast_s <= slow_s")
        self.min_docs = min_docs
        self.max_docs = max_docs
        self.docs_step = docs_step
        self.max_in_flight = max_in_flight
        self.fast_s = fast_s
        self.slow_s = slow_s
        self.clock = clock
        self.docs = min(max(start_docs, min_docs), max_docs)
        self.limit = min(max(start_in_flight, 1), max_in_flight)
        self.in_flight = 0
        self.overloads = 0  # answers that said "overloaded" (read by the tests)
        self._fast = 0  # fast answers since the limits last moved
        self._decreased_at = float("-inf")
        self._changed = threading.Condition()

    def fit_to_cluster(self, write_threads: int) -> None:
        """Lower ``max_in_flight`` (and ``limit``) to ``IN_FLIGHT_PER_WRITE_THREAD`` per write thread of the
        cluster's data nodes (never raised: the given maximum stays the bound)."""
        with self._changed:
            self.max_in_flight = max(1, min(self.max_in_flight, IN_FLIGHT_PER_WRITE_THREAD * write_threads))
            self.limit = min(self.limit, self.max_in_flight)
            self._changed.notify_all()

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> Ticket | None:
        """Wait until fewer than ``limit`` requests are in flight and count one more; None if ``cancelled()``
        turned true while waiting (checked whenever an answer comes back)."""
        with self._changed:
            while self.in_flight >= self.limit:
                if cancelled():
                    return None
                self._changed.wait(0.5)
            if cancelled():
                return None
            self.in_flight += 1
            return Ticket(self.clock())

    def cancel(self, ticket: Ticket) -> None:
        """The request of ``ticket`` was not sent after all (nothing left to send)."""
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def answered(self, ticket: Ticket, *, overloaded: bool) -> None:
        """The request of ``ticket`` was answered now: adjust the limits (see the module's doc)."""
        now = self.clock()
        latency = now - ticket.sent_at
        with self._changed:
            self.in_flight -= 1
            if overloaded:
                self.overloads += 1
            fresh = ticket.sent_at >= self._decreased_at  # sent under the current limits
            if overloaded and fresh:
                self.limit = max(1, self.limit // 2)
                self._decreased(now)
            elif latency > self.slow_s and fresh:
                self.docs = max(self.min_docs, self.docs // 2)
                self._decreased(now)
            elif not overloaded and latency <= self.fast_s:
                self._fast += 1
                if self._fast >= self.limit:
                    self._fast = 0
                    self.limit = min(self.max_in_flight, self.limit + 1)
                    self.docs = min(self.max_docs, self.docs + self.docs_step)
            self._changed.notify_all()

    def _decreased(self, now: float) -> None:
        self._decreased_at = now
        self._fast = 0
