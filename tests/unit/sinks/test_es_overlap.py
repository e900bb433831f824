"""The Elasticsearch sink with overlapped queue batches: requests of two batches share the pacer's limit, each
batch's outcome maps back to its own lines, and a batch read ahead gets the ids of the segment it came from."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from otel_logging.record import to_json_line
from otel_logging.sinks.elasticsearch import (
    DEFAULT_OVERLAP,
    DataStreamNames,
    ElasticsearchDelivery,
    _ElasticsearchQueuedSink,
    document_id,
    legacy_document_id,
)
from otel_logging.sinks.es_ids import IdScheme
from otel_logging.sinks.es_pacing import BulkPacer
from otel_logging.sinks.queue import DeliveryResult, DurableQueue
from otel_logging.worker import Worker
from tests.support.procs import wait_for
from tests.unit.sinks.test_elasticsearch_sink import FakeBulkClient


class GatedBulkClient(FakeBulkClient):
    """A ``FakeBulkClient`` whose requests wait for ``gate``; counts the requests waiting at once."""

    def __init__(self, statuses: dict[str, int]) -> None:
        super().__init__(statuses)
        self.gate = threading.Event()
        self.waiting = 0
        self.peak = 0
        self._count = threading.Lock()

    def bulk(self, *, operations: bytes, filter_path: str, timeout: str | None = None) -> Any:
        with self._count:
            self.waiting += 1
            self.peak = max(self.peak, self.waiting)
        try:
            self.gate.wait(30)
            return super().bulk(operations=operations, filter_path=filter_path, timeout=timeout)
        finally:
            with self._count:
                self.waiting -= 1


def _lines(prefix: str, count: int) -> list[bytes]:
    return [
        to_json_line({"@timestamp": f"2026-01-01T00:00:00.{i:03d}Z", "body": f"{prefix}{i}"}).rstrip(b"\n")
        for i in range(count)
    ]


def test_two_batches_delivered_at_once_share_the_limit_and_each_gets_its_own_outcome() -> None:
    client = GatedBulkClient({"b7": 429, "a3": 400})
    pacer = BulkPacer(min_docs=10, start_docs=10, max_docs=10, start_in_flight=3, max_in_flight=3)
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)  # type: ignore[arg-type]
    delivery._templates_ready = True
    results: dict[str, DeliveryResult] = {}
    batches = {"a": _lines("a", 50), "b": _lines("b", 50)}
    workers = [Worker(f"test-batch-{name}", lambda n=name: results.update({n: delivery(batches[n])})) for name in "ab"]
    try:
        for worker in workers:
            worker.start()
        wait_for(lambda: client.waiting == 3, 10, what="three requests in flight")
        assert pacer.in_flight == 3  # the pacer's limit holds across both batches
        client.gate.set()
        assert all(worker.join(30) for worker in workers)
    finally:
        client.gate.set()
        delivery.close()
    assert client.peak == 3 and pacer.in_flight == 0
    assert results["a"].retry == [] and [i for i, _ in results["a"].dead_letters] == [3]
    assert results["b"].retry == [7] and results["b"].dead_letters == []
    sent = sorted(doc["body"] for request in client.requests for doc in request[1::2])
    assert sent == sorted(f"{p}{i}" for p in "ab" for i in range(50))  # each line once


def test_a_batch_read_ahead_gets_the_ids_of_its_own_segment(tmp_path: Path) -> None:
    # Segment 1 was queued by a version with legacy ids; segment 2 by this one. The batch of segment 2 is read
    # and delivered while segment 1's is still unacknowledged (held): it must get time-ordered ids all the same.
    queue_dir = tmp_path / "_queue" / "es"
    old = DurableQueue(queue_dir)
    old_lines = _lines("old", 3)
    old.append(b"".join(line + b"\n" for line in old_lines))
    old.close()
    held, calls = threading.Event(), []
    client = FakeBulkClient({})

    class HeldDelivery(ElasticsearchDelivery):
        def __call__(self, lines: list[bytes], services: Any = None, *, legacy: bool | None = None) -> DeliveryResult:
            calls.append(legacy)
            if legacy:
                held.wait(30)
            return super().__call__(lines, services, legacy=legacy)

    delivery = HeldDelivery(client, DataStreamNames())  # type: ignore[arg-type]
    delivery._templates_ready = True
    sink = _ElasticsearchQueuedSink("es", tmp_path, delivery, client=client, overlap=DEFAULT_OVERLAP, start=False)
    sink.ids = IdScheme(sink.queue)
    new_lines = _lines("new", 2)
    sink.queue.append(b"".join(line + b"\n" for line in new_lines))
    sink.start()
    try:
        wait_for(lambda: len(client.requests) == 1, 10, what="the later segment's batch sent")
        assert calls == [True, False] and sink.queue.position.segment == 1  # nothing acknowledged yet
        held.set()
        assert sink.wait_idle(10)
    finally:
        held.set()
        sink.close()
    ids = {
        doc["body"]: head["create"]["_id"] for q in client.requests for head, doc in zip(q[::2], q[1::2], strict=True)
    }
    assert ids == {
        **{f"old{i}": legacy_document_id(line) for i, line in enumerate(old_lines)},
        **{f"new{i}": document_id(line) for i, line in enumerate(new_lines)},
    }
