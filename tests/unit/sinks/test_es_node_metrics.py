"""Per-node counters of the Elasticsearch sink on /metrics: a dead node shows (errors, records retried, up=0)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from otel_logging.config import ElasticsearchSettings
from otel_logging.sinks.elasticsearch import (
    DataStreamNames,
    ElasticsearchDelivery,
    elasticsearch_queued_sink,
    es_client,
    node_metric_samples,
)
from otel_logging.sinks.es_pacing import BulkPacer
from tests.support.procs import free_port


class _Bulk(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_POST(self) -> None:
        _Bulk.paths.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        items = body.count(b"\n") // 2
        answer = b'{"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * items) + b"]}"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_PUT(self) -> None:
        self.do_POST()

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def live_node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bulk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def samples(client: object) -> dict[tuple[str, str], int]:
    return {(name, labels["node"]): value for name, labels, value in node_metric_samples(client, "es")}  # type: ignore[arg-type]


def test_a_dead_node_shows_its_errors_and_retried_records_and_the_live_one_takes_the_load(live_node: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = es_client(ElasticsearchSettings(urls=(live_node, dead)))
    pacer = BulkPacer(min_docs=10, max_docs=10, max_in_flight=1)  # one request of 10 documents at a time
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)
    delivery._templates_ready = True  # only the bulk requests here
    lines = [b'{"service":"a","body":"x %d"}' % i for i in range(10)]
    retried = 0
    for _ in range(4):  # round robin: one of the first two requests goes to the dead node
        retried += len(delivery(lines, ["a"] * 10).retry)
    got = samples(client)
    assert got[("otel_logging_sink_node_errors_total", dead)] == 1
    assert got[("otel_logging_sink_node_records_retried_total", dead)] == 10 == retried
    assert got[("otel_logging_sink_node_up", dead)] == 0  # the pool leaves it out for now
    assert got[("otel_logging_sink_node_requests_total", live_node)] == 3  # the other three went to the live one
    assert got[("otel_logging_sink_node_errors_total", live_node)] == 0
    assert got[("otel_logging_sink_node_up", live_node)] == 1
    # Elasticsearch answers (503 per document) before the client would time out and take the node for dead.
    assert all("timeout=10s" in path for path in _Bulk.paths if path.startswith("/_bulk")), _Bulk.paths
    client.close()


def test_an_overloaded_answer_counts_as_an_error_of_that_node(live_node: str) -> None:
    client = es_client(ElasticsearchSettings(urls=(live_node,)))
    _Bulk.status = 429
    try:
        result = ElasticsearchDelivery(client, DataStreamNames(), pacer=BulkPacer(max_in_flight=1))
        result._templates_ready = True
        assert len(result([b'{"service":"a","body":"x"}'], ["a"]).retry) == 1
    finally:
        _Bulk.status = 200
    got = samples(client)
    assert got[("otel_logging_sink_node_errors_total", live_node)] == 1
    assert got[("otel_logging_sink_node_records_retried_total", live_node)] == 1
    client.close()


def test_the_queued_sink_puts_the_node_counters_beside_its_queue_counters(live_node: str, tmp_path: Path) -> None:
    sink = elasticsearch_queued_sink(ElasticsearchSettings(urls=(live_node,)), tmp_path, start=False)
    names = {name for name, _labels, _value in sink.metric_samples()}
    assert {"otel_logging_sink_records_sent_total", "otel_logging_sink_node_errors_total"} <= names
    assert {"otel_logging_sink_node_up", "otel_logging_sink_node_requests_total"} <= names
    sink.close()


def test_a_node_marked_dead_while_the_metrics_are_read_does_not_break_them(live_node: str) -> None:
    # Request threads mark nodes dead or live in the pool's record of failing nodes without a lock, while
    # /metrics reads it. Made deterministic here: a key of that record whose hashing marks another node dead
    # (a copy of the record hashes every key; a lookup of each node's own key does not touch it).
    other = f"http://127.0.0.1:{free_port()}"
    client = es_client(ElasticsearchSettings(urls=(live_node, other)))
    pool = client.transport.node_pool
    first, second = pool.all()  # in the pool's (shuffled) order

    class MarksDeadWhenHashed:
        armed = False

        def __hash__(self) -> int:
            if self.armed:
                pool.mark_dead(second)
            return 1

    key = MarksDeadWhenHashed()
    pool._dead_consecutive_failures[key] = 1  # type: ignore[index]
    pool.mark_dead(first)
    key.armed = True
    got = samples(client)  # copying the record here raised "dictionary changed size during iteration"
    assert got[("otel_logging_sink_node_up", first.base_url)] == 0
    assert got[("otel_logging_sink_node_up", second.base_url)] == 1  # the copy's hashing did not run
    client.close()
