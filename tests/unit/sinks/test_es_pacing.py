"""The Elasticsearch sink's pacing (AIMD bulk size and requests in flight) and its id scheme across an upgrade."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError

from otel_logging.record import to_json_line
from otel_logging.sinks.elasticsearch import (
    DataStreamNames,
    ElasticsearchDelivery,
    document_id,
    legacy_document_id,
)
from otel_logging.sinks.es_ids import IDS_FILE, IdScheme
from otel_logging.sinks.es_pacing import BulkPacer
from otel_logging.sinks.queue import DeliveryResult, DurableQueue
from tests.unit.sinks.test_elasticsearch_sink import FakeBulkClient


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pacer(clock: FakeClock, **options: Any) -> BulkPacer:
    defaults: dict[str, Any] = {"min_docs": 250, "start_docs": 2000, "max_docs": 8000, "docs_step": 500}
    defaults |= {"start_in_flight": 2, "max_in_flight": 6, "fast_s": 1.0, "slow_s": 4.0}
    return BulkPacer(clock=clock, **(defaults | options))


def _answer(pacer: BulkPacer, clock: FakeClock, latency: float, *, overloaded: bool = False) -> None:
    ticket = pacer.acquire()
    assert ticket is not None
    clock.now += latency
    pacer.answered(ticket, overloaded=overloaded)


def test_fast_answers_raise_both_limits_by_one_step_per_window_up_to_their_maximum() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    seen = []
    for _ in range(80):  # 2+3+4+5 answers to reach 6 in flight, then 8 windows of 6 to reach 8,000 documents
        _answer(pacer, clock, 0.2)
        seen.append((pacer.limit, pacer.docs))
    # window of `limit` fast answers -> +1 request in flight, +500 documents
    assert seen[:6] == [(2, 2000), (3, 2500), (3, 2500), (3, 2500), (4, 3000), (4, 3000)]
    assert seen[-1] == (6, 8000) and max(limit for limit, _ in seen) == 6 and max(d for _, d in seen) == 8000


def test_an_overload_halves_requests_in_flight_once_per_round_trip() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, start_in_flight=6)
    tickets = [pacer.acquire() for _ in range(6)]
    assert pacer.in_flight == 6 and pacer.limit == 6
    clock.now += 0.5
    for ticket in tickets:  # six 429s to requests sent under the old limit: one decrease, not six
        assert ticket is not None
        pacer.answered(ticket, overloaded=True)
    assert pacer.limit == 3 and pacer.overloads == 6 and pacer.in_flight == 0 and pacer.docs == 2000
    _answer(pacer, clock, 0.5, overloaded=True)  # sent after the decrease: halves again
    _answer(pacer, clock, 0.5, overloaded=True)
    assert pacer.limit == 1
    _answer(pacer, clock, 0.5, overloaded=True)
    assert pacer.limit == 1  # never below one


def test_slow_answers_halve_the_bulk_size_down_to_its_minimum_and_middling_ones_hold() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    _answer(pacer, clock, 2.5)  # between fast_s and slow_s: hold
    assert (pacer.limit, pacer.docs) == (2, 2000)
    docs = []
    for _ in range(5):
        _answer(pacer, clock, 6.0)
        docs.append(pacer.docs)
    assert docs == [1000, 500, 250, 250, 250] and pacer.limit == 2
    pacer = _pacer(clock)
    tickets = [pacer.acquire(), pacer.acquire()]
    clock.now += 6.0
    for ticket in tickets:  # two slow answers to requests sent together: one decrease
        assert ticket is not None
        pacer.answered(ticket, overloaded=False)
    assert pacer.docs == 1000


def test_acquire_waits_for_a_free_slot_and_gives_up_when_cancelled() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, start_in_flight=1)
    first = pacer.acquire()
    assert first is not None
    got: list[object] = []
    cancel = threading.Event()
    waiter = threading.Thread(target=lambda: got.append(pacer.acquire(cancel.is_set)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not got  # the one slot is taken
    pacer.answered(first, overloaded=False)  # frees it (and, fast, raises the limit)
    waiter.join(10)
    assert got and got[0] is not None and pacer.in_flight == 1
    for _ in range(pacer.limit - 1):
        assert pacer.acquire() is not None
    cancel.set()
    assert pacer.acquire(cancel.is_set) is None  # full and cancelled: returns without a slot


def test_against_a_model_node_the_limits_settle_where_it_answers_without_429s_in_time() -> None:
    # A node that refuses (429) more than 3 bulk requests at once and indexes 20,000 documents/s, answering
    # each request after all those in front of it: rounds of `limit` requests sent together.
    clock = FakeClock()
    pacer = _pacer(clock)
    capacity, rate = 3, 20_000.0
    limits, latencies, refused = [], [], []
    for _ in range(200):
        tickets = [pacer.acquire() for _ in range(pacer.limit)]
        sent_docs = pacer.docs
        over = len(tickets) > capacity
        for k, ticket in enumerate(tickets, 1):
            assert ticket is not None
            latency = 0.01 if over else k * sent_docs / rate
            clock.now = ticket.sent_at + latency
            pacer.answered(ticket, overloaded=over)
            latencies.append(latency)
        refused.append(over)
        limits.append(pacer.limit)
        clock.now += 0.01
    tail = limits[-100:]
    assert max(tail) <= capacity + 1 and min(tail) >= 1 and 2 <= sum(tail) / len(tail) <= capacity + 1
    # the sawtooth: a probe above the capacity is refused, halved, then at least two clean rounds climb back
    assert not any(a and b for a, b in itertools.pairwise(refused))
    assert 0 < sum(refused) <= len(refused) // 3 + 1
    assert max(latencies[-100:]) <= 4.0 * 2  # bulks shrank or grew so the node answers about in time
    assert pacer.in_flight == 0


def test_a_slow_model_node_gets_smaller_bulks() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, start_docs=8000)
    for _ in range(50):
        _answer(pacer, clock, pacer.docs / 1000.0)  # 1,000 documents/s: 8,000 take 8 s
    assert 1000 <= pacer.docs <= 4000  # within [fast, slow] at 1,000 docs/s: 1,000..4,000 documents


@pytest.mark.parametrize(
    "bad", [{"min_docs": 0}, {"min_docs": 9000}, {"max_in_flight": 0}, {"fast_s": 5.0}, {"docs_step": -1}]
)
def test_pacer_refuses_impossible_bounds(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="BulkPacer"):
        _pacer(FakeClock(), **bad)


# -- the delivery with its pacer --------------------------------------------------------------


def _refused(status: int = 429) -> ApiError:
    """What the client raises for a bulk request answered with an error status as a whole."""
    meta = SimpleNamespace(status=status, headers={})
    return ApiError("es_rejected_execution_exception", meta, {"error": "rejected"})  # type: ignore[arg-type]


def _deliver_100(client: FakeBulkClient, pacer: BulkPacer) -> DeliveryResult:
    """100 records through an ElasticsearchDelivery on ``client``, paced by ``pacer``."""
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)  # type: ignore[arg-type]
    delivery._templates_ready = True
    lines = [to_json_line({"@timestamp": f"2026-01-01T00:00:00.{i:03d}Z", "body": f"r{i}"}) for i in range(100)]
    try:
        return delivery(lines)
    finally:
        delivery.close()


def test_delivery_backs_off_on_429s_and_retries_exactly_the_refused_documents() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, min_docs=10, start_docs=10, max_docs=10, start_in_flight=4, max_in_flight=4)
    client = FakeBulkClient({}, {1: _refused(), 2: _refused()})
    result = _deliver_100(client, pacer)
    refused = {doc["body"] for request in client.requests[:2] for doc in request[1::2]}
    assert len(client.requests) == 10 and len(refused) == 20
    assert {f"r{i}" for i in result.retry} == refused and not result.dead_letters
    assert result.error.startswith("429")
    assert pacer.overloads == 2 and pacer.in_flight == 0 and pacer.limit <= 4


@pytest.mark.parametrize(
    "failure",
    [_refused(429), _refused(503), ConnectionTimeout("timed out")],
    ids=["429 for the request", "503", "no answer in time"],
)
def test_an_overloaded_answer_backs_off_and_the_rest_of_the_batch_is_still_sent(failure: Exception) -> None:
    clock = FakeClock()
    pacer = _pacer(clock, min_docs=10, start_docs=10, max_docs=10, start_in_flight=4, max_in_flight=4)
    client = FakeBulkClient({}, {1: failure})
    result = _deliver_100(client, pacer)
    refused = {doc["body"] for doc in client.requests[0][1::2]}
    assert len(client.requests) == 10  # overloaded, not gone: the other requests are sent
    assert {f"r{i}" for i in result.retry} == refused and len(refused) == 10 and not result.dead_letters
    assert pacer.overloads == 1 and pacer.in_flight == 0


def test_a_429_for_one_document_backs_off_too() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, min_docs=10, start_docs=10, max_docs=10, start_in_flight=1, max_in_flight=4)
    client = FakeBulkClient({"r5": 429, "r6": 409})
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)  # type: ignore[arg-type]
    delivery._templates_ready = True
    lines = [to_json_line({"@timestamp": f"2026-01-01T00:00:00.{i:03d}Z", "body": f"r{i}"}) for i in range(10)]
    result = delivery(lines)
    assert result.retry == [5] and result.error.startswith("429") and not result.dead_letters  # 409: stored
    assert pacer.overloads == 1 and pacer.in_flight == 0


def test_a_helper_allowed_a_request_when_nothing_is_left_gives_its_slot_back() -> None:
    # A helper whose request the pacer allowed finds the batch taken by the calling thread meanwhile: it must
    # give the slot back, or the pacer counts a request in flight forever (and once `limit` of them leak,
    # every later batch waits for ever). Made deterministic: the calling thread's first request waits until
    # the helper was allowed one, and the helper then stalls until the calling thread has sent both chunks.
    caller = threading.current_thread()
    client = FakeBulkClient({})
    helper_allowed = threading.Event()

    def wait_until(condition: Any) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.001)

    class HelperStalls(BulkPacer):
        def acquire(self, cancelled: Any = lambda: False) -> Any:
            ticket = super().acquire(cancelled)
            if ticket is not None and threading.current_thread() is not caller:
                helper_allowed.set()
                wait_until(lambda: len(client.requests) == 2)
            elif ticket is not None and not client.requests:
                wait_until(helper_allowed.is_set)
            return ticket

    pacer = HelperStalls(min_docs=1, max_docs=1, start_in_flight=2, max_in_flight=2)
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)  # type: ignore[arg-type]
    delivery._templates_ready = True
    try:
        assert delivery([to_json_line({"body": "a"}), to_json_line({"body": "b"})]).retry == []
        wait_until(lambda: pacer.in_flight == 0)  # the helper may still be on its way out
    finally:
        delivery.close()
    assert helper_allowed.is_set() and len(client.requests) == 2 and pacer.in_flight == 0


def test_delivery_sends_legacy_ids_for_a_batch_the_scheme_calls_legacy() -> None:
    legacy = [True]
    client = FakeBulkClient({})
    delivery = ElasticsearchDelivery(client, DataStreamNames(), legacy_ids=lambda: legacy[0])  # type: ignore[arg-type]
    delivery._templates_ready = True
    line = to_json_line({"@timestamp": "2026-01-01T00:00:00.000Z", "body": "r"})
    try:
        delivery([line])
        legacy[0] = False
        delivery([line])
    finally:
        delivery.close()
    ids = [request[0]["create"]["_id"] for request in client.requests]
    assert ids == [legacy_document_id(line), document_id(line)]


# -- the id scheme across the upgrade -----------------------------------------------------------


def _append(queue: DurableQueue, *bodies: str) -> None:
    queue.append(b"".join(to_json_line({"body": body}) for body in bodies))


def test_lines_queued_before_the_upgrade_keep_legacy_ids_and_later_ones_do_not(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    old = DurableQueue(directory)  # what a version before time-ordered ids left: queued, not acknowledged
    _append(old, "a", "b")
    old.close()

    queue = DurableQueue(directory)
    scheme = IdScheme(queue)
    assert scheme.from_segment == queue.first_write_segment == 2
    assert orjson.loads((directory / IDS_FILE).read_bytes()) == {"time_ordered_from_segment": 2}
    _append(queue, "c")
    batch = queue.read(timeout=1)
    assert batch is not None and len(batch.lines) == 2 and scheme.legacy()  # a, b: segment 1
    queue.ack(batch)
    batch = queue.read(timeout=1)
    assert batch is not None and len(batch.lines) == 1 and not scheme.legacy()  # c: segment 2
    _append(queue, "d")  # in flight when the service stops: read, never acknowledged
    queue.close()

    again = DurableQueue(directory)  # a later start reads the marker, it does not move it
    scheme = IdScheme(again)
    assert scheme.from_segment == 2 and again.first_write_segment == 3
    batch = again.read(timeout=1)
    assert batch is not None and [orjson.loads(line)["body"] for line in batch.lines] == ["c", "d"]
    assert not scheme.legacy()  # sent before with time-ordered ids: sent again with the same ones
    again.close()


def test_a_fresh_queue_uses_time_ordered_ids_only(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q")
    scheme = IdScheme(queue)
    _append(queue, "a")
    assert queue.read(timeout=1) is not None and not scheme.legacy()
    queue.close()


def test_a_damaged_marker_is_replaced_and_lines_queued_before_now_get_legacy_ids(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    first = DurableQueue(directory)
    _append(first, "a")
    first.close()
    (directory / IDS_FILE).write_text("{not json")
    queue = DurableQueue(directory)
    scheme = IdScheme(queue)
    assert scheme.from_segment == queue.first_write_segment and scheme.legacy()
    assert orjson.loads((directory / IDS_FILE).read_bytes()) == {"time_ordered_from_segment": 2}
    queue.close()


def test_fitting_to_the_cluster_lowers_the_bound_to_two_per_write_thread_and_never_raises_it() -> None:
    pacer = _pacer(FakeClock(), start_in_flight=6, max_in_flight=6)
    pacer.fit_to_cluster(2)
    assert (pacer.max_in_flight, pacer.limit) == (4, 4)
    for _ in range(20):  # fast answers: the limit grows back only to the fitted bound
        _answer(pacer, FakeClock(), 0.1)
    assert pacer.limit == 4
    pacer.fit_to_cluster(16)
    assert pacer.max_in_flight == 4  # never raised above what it was


class FakeNodesClient:
    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.nodes = self

    def info(self, **_: Any) -> SimpleNamespace:
        if isinstance(self.answer, Exception):
            raise self.answer
        return SimpleNamespace(body=self.answer)


def test_the_write_threads_of_the_data_nodes_are_summed_and_unknown_ones_are_none() -> None:
    from otel_logging.sinks.elasticsearch import cluster_write_threads

    def node(roles: list[str], size: int) -> dict[str, Any]:
        return {"roles": roles, "thread_pool": {"write": {"size": size}}}

    cluster = {"nodes": {"a": node(["master", "data"], 4), "b": node(["data_hot"], 2), "c": node(["master"], 8)}}
    assert cluster_write_threads(FakeNodesClient(cluster)) == 6  # type: ignore[arg-type]
    assert cluster_write_threads(FakeNodesClient(_refused(403))) is None  # type: ignore[arg-type]
    assert cluster_write_threads(FakeNodesClient({"nodes": {"a": {"roles": ["data"]}}})) is None  # type: ignore[arg-type]
    assert cluster_write_threads(FakeNodesClient({})) is None  # type: ignore[arg-type]
