"""Apps -> receiver -> durable queue -> a real Elasticsearch node (scripts/elasticsearch.sh).

The export, dead-letter, redelivery and settings tests run on both server majors (``es_node_each``: 8.x
and 9.x, with the one 8.x Python client); the long outage test and the older API run on 8.x only.

Each test writes to its own data streams (a unique namespace or service name): a data stream
cannot be deleted on the test distribution.
"""

from __future__ import annotations

import logging
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_logging.compat.handlers import ElasticsearchHandler
from otel_logging.record import from_json_line
from otel_logging.record.names import data_stream_dataset
from otel_logging.sinks.elasticsearch import document, document_id
from tests.support import otlp
from tests.support.compat import older_api
from tests.support.es_fixtures import EsNode
from tests.support.procs import ServeProcess, count_lines, free_port, run_app, start_serve, wait_for

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def es_count(client: Elasticsearch, index: str) -> int:
    # 404: not created yet; 503: created, its shard not started yet (a loaded machine) -> ask again
    client.options(ignore_status=(404, 503)).indices.refresh(index=index)
    response = client.options(ignore_status=(404, 503)).count(index=index)
    return int(response.body.get("count", 0)) if response.meta.status == 200 else 0


def all_docs(client: Elasticsearch, index: str) -> dict[str, dict]:
    client.cluster.health(index=index, wait_for_status="yellow", timeout="30s")
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def metrics(service: ServeProcess) -> dict[str, float]:
    with urllib.request.urlopen(f"{service.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = re.fullmatch(r'(otel_logging_sink_\w+)\{sink="elasticsearch"\} (\S+)', line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def post_otlp(service: ServeProcess, request: ExportLogsServiceRequest) -> int:
    return post_otlp_bytes(service, request.SerializeToString())


def post_otlp_bytes(service: ServeProcess, payload: bytes) -> int:
    http_request = urllib.request.Request(
        f"{service.http_url}/v1/logs",
        data=payload,
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    with urllib.request.urlopen(http_request, timeout=60) as response:
        return response.status


APP = """
import logging, sys
import otel_logging
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
handle = otel_logging.setup(sys.argv[1], endpoint=sys.argv[2], resource_attributes={"deployment.environment": "test"})
log = logging.getLogger("shop.orders")
log.info("order %s placed", 17, extra={"order_id": 17, "amount": 12.5, "paid": True, "tags": ["a", "b"]})
log.warning("stock low", extra={"item": {"sku": "X-1", "left": 2}})
with trace.get_tracer("t").start_as_current_span("checkout"):
    log.error("payment failed")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("crash while totalling")
logging.getLogger("shop.audit").debug("not sent: below the level")
handle.force_flush()
"""


def test_app_records_reach_elasticsearch_with_every_field(tmp_path: Path, es_node_each: EsNode) -> None:
    namespace = unique("t")
    service = start_serve(tmp_path / "logs", "--es-url", es_node_each.url, "--es-namespace", namespace)
    client = es_node_each.client()
    try:
        app = "Shop-API.v2"
        result = run_app(APP, app, service.grpc_endpoint)
        assert result.returncode == 0, result.stderr
        app_file = service.app_file(app)
        wait_for(lambda: count_lines(app_file) == 4, 30, what="4 records in the per-app file")
        stream = f"logs-{data_stream_dataset(app)}-{namespace}"
        assert stream == f"logs-shop_api.v2-{namespace}"
        wait_for(lambda: es_count(client, stream) == 4, 60, what=f"4 documents in {stream}")
        docs = all_docs(client, stream)
        lines = [line for line in app_file.read_bytes().splitlines() if line]
        for line in lines:
            record = from_json_line(line)
            assert docs[document_id(line)] == document(record), "the document differs from the per-app record"
        by_body = {d["body"]: d for d in docs.values()}
        placed = by_body["order 17 placed"]
        assert placed["attributes"]["order_id"] == 17 and placed["attributes"]["tags"] == ["a", "b"]
        assert placed["resource"]["deployment.environment"] == "test"
        assert placed["service"] == app and placed["logger"] == "shop.orders"
        assert re.fullmatch(r"[0-9a-f]{32}", by_body["payment failed"]["trace_id"])
        assert "ZeroDivisionError" in by_body["crash while totalling"]["attributes"]["exception.stacktrace"]
        # The mapping makes the fields searchable as documented.
        client.indices.refresh(index=stream)
        found = client.search(index=stream, query={"term": {"attributes.item.sku": "X-1"}})["hits"]["hits"]
        assert [h["_source"]["body"] for h in found] == ["stock low"]
        found = client.search(index=stream, query={"match": {"body": "payment"}})["hits"]["hits"]
        assert len(found) == 1
        assert client.count(index=stream, query={"term": {"severity_text": "ERROR"}})["count"] == 2
        mapping = client.indices.get_mapping(index=stream)
        properties = next(iter(mapping.body.values()))["mappings"]["properties"]
        assert properties["@timestamp"]["type"] == "date_nanos"
        assert properties["attributes"]["type"] == "flattened"
        # The @timestamp keeps its nanoseconds.
        hit = client.search(index=stream, size=1, sort=[{"@timestamp": "desc"}])["hits"]["hits"][0]
        assert hit["_source"]["@timestamp"] == max(from_json_line(line)["@timestamp"] for line in lines)
        counters = wait_for(lambda: (m := metrics(service)).get("otel_logging_sink_records_sent_total") == 4 and m, 10)
        assert counters["otel_logging_sink_records_queued_total"] == 4
        assert counters["otel_logging_sink_queue_bytes"] == 0
    finally:
        service.stop()
        client.close()


def test_documents_refused_for_their_content_go_to_the_dead_letter_file(tmp_path: Path, es_node_each: EsNode) -> None:
    namespace = unique("t")
    service = start_serve(tmp_path / "logs", "--es-url", es_node_each.url, "--es-namespace", namespace)
    client = es_node_each.client()
    try:
        deep: object = "bottom"
        for _ in range(25):  # attributes nested 25 levels deep: more than the flattened field's depth limit (20)
            deep = {"x": deep}
        records = [
            otlp.log_record(f"record {i}", time_unix_nano=time.time_ns(), attributes={"deep": deep} if i == 1 else None)
            for i in range(3)
        ]
        request = otlp.request("deadletters", records, scope="deep")
        assert post_otlp(service, request) == 200
        stream = f"logs-deadletters-{namespace}"
        dead_file = tmp_path / "logs" / "_deadletter" / "elasticsearch.jsonl"
        wait_for(lambda: count_lines(dead_file) == 1, 60, what="one dead letter")
        wait_for(lambda: es_count(client, stream) == 2, 30, what="the other two records indexed")
        (dead,) = [orjson.loads(line) for line in dead_file.read_bytes().splitlines()]
        assert dead["record"]["body"] == "record 1"
        assert "depth limit" in dead["reason"] and dead["reason"].startswith("400")
        counters = metrics(service)
        assert counters["otel_logging_sink_records_dead_lettered_total"] == 1
        assert counters["otel_logging_sink_records_sent_total"] == 2
    finally:
        service.stop()
        client.close()


def numbered_request(start: int, count: int) -> bytes:
    now = time.time_ns()
    records = [
        otlp.log_record(
            f"record {i}", time_unix_nano=now + i, severity_number=9, severity_text="INFO", attributes={"seq": i}
        )
        for i in range(start, start + count)
    ]
    return otlp.payload("outage", records, scope="load")


@pytest.mark.heavy
def test_elasticsearch_down_60s_while_200k_records_flow_then_all_indexed_once(tmp_path: Path, es_node: EsNode) -> None:
    total, per_request, outage_s = 200_000, 1000, 60.0
    namespace = unique("t")
    stream = f"logs-outage-{namespace}"
    service = start_serve(tmp_path / "logs", "--es-url", es_node.url, "--es-namespace", namespace)
    client = es_node.client()
    try:
        es_node.stop()
        stopped_at = time.monotonic()
        for n, start in enumerate(range(0, total, per_request)):
            # Spread the records over the outage (pacing, not synchronisation).
            time.sleep(max(0.0, stopped_at + n * (outage_s - 10) / (total / per_request) - time.monotonic()))
            http_request = urllib.request.Request(
                f"{service.http_url}/v1/logs",
                data=numbered_request(start, per_request),
                headers={"Content-Type": "application/x-protobuf"},
                method="POST",
            )
            with urllib.request.urlopen(http_request, timeout=60) as response:
                assert response.status == 200
        assert count_lines(service.app_file("outage")) == total
        during = metrics(service)
        assert during["otel_logging_sink_records_queued_total"] == total
        assert during["otel_logging_sink_records_sent_total"] == 0
        assert during["otel_logging_sink_records_retried_total"] > 0
        assert during["otel_logging_sink_queue_bytes"] > 0
        time.sleep(max(0.0, stopped_at + outage_s - time.monotonic()))  # the outage lasts its full 60 s
        es_node.start()
        restarted_at = time.monotonic()
        wait_for(lambda: metrics(service).get("otel_logging_sink_queue_bytes") == 0, 300, 0.5, what="the queue drained")
        drained_s = time.monotonic() - restarted_at
        indexed = es_count(client, stream)
        seqs = client.search(
            index=stream, size=0, aggs={"n": {"value_count": {"field": "attributes.seq"}}}, track_total_hits=True
        )
        after = metrics(service)
        print(
            f"outage: sent {total}, indexed {indexed} (duplicates {indexed - total}), "
            f"retried {after['otel_logging_sink_records_retried_total']:.0f} record deliveries, "
            f"queue drained {drained_s:.1f}s after Elasticsearch was back"
        )
        assert indexed == total, f"{indexed} documents for {total} records sent"
        assert seqs["hits"]["total"]["value"] == total
        assert after["otel_logging_sink_records_sent_total"] >= total
        assert after["otel_logging_sink_records_dead_lettered_total"] == 0
        queue_dir = tmp_path / "logs" / "_queue" / "elasticsearch"
        assert len(list(queue_dir.glob("*.seg"))) <= 2, "acknowledged segments must be deleted"
    finally:
        if es_node.health() is None:
            es_node.start()
        service.stop()
        client.close()


@older_api
def test_elasticsearch_handler_writes_to_the_logs_data_stream(es_node: EsNode) -> None:
    client = es_node.client()
    app = unique("seed-handler-")
    handler = ElasticsearchHandler(client, index_name="logs", service_name=app)
    logger = logging.getLogger(f"seed.{app}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for i in range(5):
            logger.info("seed record %d", i, extra={"i": i})
        assert handler.flush(30)
        stream = f"logs-{data_stream_dataset(app)}-default"
        assert handler.data_stream == stream
        assert es_count(client, "logs-*") >= 5
        docs = sorted(all_docs(client, stream).values(), key=lambda d: d["attributes"]["i"])
        assert [d["body"] for d in docs] == [f"seed record {i}" for i in range(5)]
        assert {d["service"] for d in docs} == {app}
        assert {d["logger"] for d in docs} == {f"seed.{app}"}
        assert docs[0]["severity_text"] == "INFO" and docs[0]["severity_number"] == 9
        assert handler.sent == 5 and handler.dropped == 0
    finally:
        logger.removeHandler(handler)
        handler.close()
        client.close()


def test_a_full_queue_answers_retryable_503_and_loses_nothing(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens: every delivery is retried
    service = start_serve(tmp_path / "logs", "--es-url", unreachable, "--queue-max-bytes", "256KB")
    try:
        accepted = 0
        refusal = None
        for start in range(0, 100_000, 500):
            request = urllib.request.Request(
                f"{service.http_url}/v1/logs",
                data=numbered_request(start, 500),
                headers={"Content-Type": "application/x-protobuf"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
                    accepted += 500
            except urllib.error.HTTPError as exc:
                refusal = exc
                break
        assert refusal is not None, "the queue never filled up"
        assert refusal.code == 503 and refusal.headers.get("Retry-After")
        assert "--queue-max-bytes" in refusal.read().decode(errors="replace")
        counters = metrics(service)
        assert counters["otel_logging_sink_records_queued_total"] == accepted > 0
        assert 0 < counters["otel_logging_sink_queue_bytes"] <= 256 << 10
        assert counters["otel_logging_sink_records_sent_total"] == 0
    finally:
        service.stop()


def test_records_queued_before_kill_9_reach_elasticsearch_after_restart(tmp_path: Path, es_node_each: EsNode) -> None:
    namespace = unique("t")
    log_dir = tmp_path / "logs"
    unreachable = f"http://127.0.0.1:{free_port()}"
    service = start_serve(log_dir, "--es-url", unreachable, "--es-namespace", namespace)
    total = 20_000
    for start in range(0, total, 1000):
        assert post_otlp_bytes(service, numbered_request(start, 1000)) == 200
    service.stop(signal.SIGKILL)
    assert list((log_dir / "_queue" / "elasticsearch").glob("*.seg")), "the queue must be on disk"
    restarted = start_serve(log_dir, "--es-url", es_node_each.url, "--es-namespace", namespace)
    client = es_node_each.client()
    try:
        stream = f"logs-outage-{namespace}"
        wait_for(lambda: es_count(client, stream) >= total, 120, 0.5, what=f"{total} documents after the restart")
        assert es_count(client, stream) == total
        assert metrics(restarted)["otel_logging_sink_records_sent_total"] == total
    finally:
        restarted.stop()
        client.close()


def test_central_service_built_from_settings_alone_exports_to_elasticsearch(
    tmp_path: Path, es_node_each: EsNode
) -> None:
    """No CLI: ``CentralService(ServeSettings(elasticsearch=...))`` builds its Elasticsearch sink itself."""
    import grpc
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

    from otel_logging.config import ElasticsearchSettings, FilesSettings, ReceiverSettings, ServeSettings
    from otel_logging.receiver.service import CentralService
    from tests.integration.test_receiver import make_request

    namespace = unique("direct")
    app = unique("svc")
    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None),
        files=FilesSettings(log_dir=tmp_path / "logs"),
        elasticsearch=ElasticsearchSettings(urls=(es_node_each.url,), namespace=namespace),
    )
    service = CentralService(settings)
    ports = service.start()
    client = es_node_each.client()
    stream = f"logs-{data_stream_dataset(app)}-{namespace}"
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            LogsServiceStub(channel).Export(make_request(app, ["built from settings"]), timeout=30)
        wait_for(lambda: es_count(client, stream) == 1, 60, what=f"the record in {stream}")
        (doc,) = all_docs(client, stream).values()
        assert doc["body"] == "built from settings"
        assert doc["service"] == app
    finally:
        service.stop(grace_s=1)
        client.close()


def _canonical_lines(service: str, count: int, start_ns: int) -> list[bytes]:
    """``count`` canonical JSON lines of ``service``, one millisecond apart from ``start_ns``."""
    from otel_logging.record import to_json_line
    from otel_logging.record.schema import rfc3339_nanos

    lines = []
    for i in range(count):
        ts = rfc3339_nanos(start_ns + i * 1_000_000)
        record = {"@timestamp": ts, "observed_timestamp": ts, "severity_text": "INFO", "severity_number": 9}
        record |= {"body": f"record {i}", "logger": "t", "service": service, "attributes": {"seq": i}}
        lines.append(to_json_line(record).rstrip(b"\n"))
    return lines


def test_a_batch_in_flight_across_the_upgrade_to_time_ordered_ids_is_stored_once(
    tmp_path: Path, es_node_each: EsNode
) -> None:
    """A version with hash-only ids queued 3,000 records and sent them (stored under those ids), then stopped
    before acknowledging the batch: the upgraded sink sends them again with the same (legacy) ids -> 409s,
    stored once; records queued after the upgrade get time-ordered ids."""
    from otel_logging.config import ElasticsearchSettings
    from otel_logging.sinks.elasticsearch import DataStreamNames, elasticsearch_queued_sink, legacy_document_id
    from otel_logging.sinks.queue import DurableQueue, frame_line

    namespace = unique("up")
    service_name = "upgrade"
    log_dir = tmp_path / "logs"
    old_lines = _canonical_lines(service_name, 3000, time.time_ns())
    old = DurableQueue(log_dir / "_queue" / "elasticsearch")  # the old version's queue: no ids file
    old.append(frame_line(service_name) + b"\n".join(old_lines) + b"\n")
    old.close()
    client = es_node_each.client()
    stream = DataStreamNames(namespace=namespace)(service_name)
    settings = ElasticsearchSettings(urls=(es_node_each.url,), namespace=namespace)
    sink = None
    try:
        from otel_logging.sinks.elasticsearch import install_templates

        install_templates(client)
        # what the old version sent before it stopped: every record, under its legacy id
        body = b"".join(
            b'{"create":{"_index":"%s","_id":"%s"}}\n%s\n' % (stream.encode(), legacy_document_id(line).encode(), line)
            for line in old_lines
        )
        assert client.bulk(operations=body, refresh=True)["errors"] is False  # type: ignore[arg-type]
        assert es_count(client, stream) == 3000
        sink = elasticsearch_queued_sink(settings, log_dir)
        new_lines = _canonical_lines(service_name, 500, time.time_ns() + 10**9)
        from otel_logging.record import RecordBatch

        sink.write(RecordBatch.from_lines({service_name: b"\n".join(new_lines) + b"\n"}, len(new_lines)))
        assert sink.wait_idle(120), "the queue did not drain"
        assert es_count(client, stream) == 3500  # the 3,000 redelivered are 409s: stored once
        ids = set(all_docs(client, stream))
        assert {legacy_document_id(line) for line in old_lines} <= ids
        assert {document_id(line) for line in new_lines} <= ids
        assert sink.counters.sent == 3500 and sink.counters.dead_lettered == 0
    finally:
        if sink is not None:
            sink.close()
        client.close()


def test_the_pacer_grows_its_limits_on_a_node_that_answers_fast_and_stores_everything_once(
    es_node: EsNode,
) -> None:
    from otel_logging.sinks.elasticsearch import DataStreamNames, ElasticsearchDelivery
    from otel_logging.sinks.es_pacing import BulkPacer

    namespace = unique("pace")
    client = es_node.client()
    pacer = BulkPacer(min_docs=100, start_docs=200, max_docs=2000, docs_step=200, start_in_flight=1, max_in_flight=4)
    delivery = ElasticsearchDelivery(client, DataStreamNames(namespace=namespace), pacer=pacer)
    lines = _canonical_lines("paced", 20_000, time.time_ns())
    try:
        result = delivery(lines, ["paced"] * len(lines))
        again = delivery(lines[:5000], ["paced"] * 5000)  # a redelivery: 409s, delivered, nothing stored twice
    finally:
        delivery.close()
        stream = f"logs-paced-{namespace}"
        count = es_count(client, stream)
        client.close()
    assert result.retry == [] and result.dead_letters == [] and again.retry == []
    assert count == 20_000
    # a local node answers 200-document bulks well under a second: both limits went up from their start
    assert pacer.limit > 1 and pacer.docs > 200 and pacer.overloads == 0


def test_the_pacer_is_fitted_to_the_write_threads_of_the_real_node(es_node: EsNode) -> None:
    """Before its first bulk request the delivery lowers its bound on requests in flight to two per write thread
    of the cluster's data nodes (the node's own count, read here from ``_cat/thread_pool``)."""
    from otel_logging.sinks.elasticsearch import DataStreamNames, ElasticsearchDelivery
    from otel_logging.sinks.es_pacing import BulkPacer

    client = es_node.client()
    write_threads = int(client.cat.thread_pool(thread_pool_patterns="write", h="size", format="json")[0]["size"])
    pacer = BulkPacer(max_in_flight=64)
    delivery = ElasticsearchDelivery(client, DataStreamNames(namespace=unique("fit")), pacer=pacer)
    lines = _canonical_lines("fitted", 100, time.time_ns())
    try:
        assert delivery(lines, ["fitted"] * len(lines)).retry == []
    finally:
        delivery.close()
        client.close()
    assert pacer.max_in_flight == 2 * write_threads < 64
    assert pacer.limit <= pacer.max_in_flight
