"""The Elasticsearch sink's pure parts: data stream names, documents, ids, per-item outcomes, options."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import elastic_transport
import orjson
import pytest

from otel_logging.config import ConfigError, ElasticsearchSettings
from otel_logging.record import to_json_line
from otel_logging.record.names import data_stream_dataset, data_stream_namespace
from otel_logging.sinks.elasticsearch import (
    DataStreamNames,
    ElasticsearchDelivery,
    _item_outcome,
    _text_body,
    document,
    document_id,
    es_client,
    legacy_document_id,
)
from otel_logging.sinks.es_pacing import BulkPacer
from otel_logging.worker import live_threads


@pytest.mark.parametrize(
    ("service", "dataset"),
    [
        ("shop", "shop"),
        ("Shop-API.v2", "shop_api.v2"),
        ("a b/c*d", "a_b_c_d"),
        ("", "unknown_service"),
        (None, "unknown_service"),
        ("x" * 300, "x" * 100),
    ],
)
def test_dataset_is_valid_for_an_index_name(service: str | None, dataset: str) -> None:
    assert data_stream_dataset(service) == dataset


def test_data_stream_names_and_bad_namespaces() -> None:
    assert DataStreamNames()("Billing") == "logs-billing-default"
    assert DataStreamNames("audit", "prod")("x") == "audit-x-prod"
    for bad in ("Prod", "a-b", "", "x" * 101):
        with pytest.raises(ValueError, match="namespace"):
            data_stream_namespace(bad)
    with pytest.raises(ValueError, match="prefix"):
        DataStreamNames("my-logs")


def test_document_keeps_the_record_and_makes_body_text() -> None:
    record = {"@timestamp": "t", "body": "plain", "service": "s"}
    assert document(record) is record
    structured = document({"body": {"user": 1, "ok": True}, "service": "s"})
    assert structured["body"] == '{"user":1,"ok":true}'
    assert structured["body_structured"] == {"user": 1, "ok": True}
    listed = document({"body": [1, 2]})
    assert listed["body"] == "[1,2]" and "body_structured" not in listed


def test_document_id_depends_on_content_only() -> None:
    line = to_json_line({"body": "a"})
    assert document_id(line) == document_id(line.rstrip(b"\n"))
    assert document_id(line) != document_id(to_json_line({"body": "b"}))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(201, "ok"), (409, "ok"), (429, "retry"), (503, "retry"), (404, "retry"), (400, "dead"), (413, "dead")],
)
def test_bulk_item_outcomes(status: int, outcome: str) -> None:
    item = {"create": {"status": status, "error": {"type": "some_exception", "reason": "why"}}}
    got, reason = _item_outcome(item)
    assert got == outcome
    if outcome != "ok":
        assert reason.startswith(f"{status} some_exception: why")


def test_a_client_is_made_only_from_usable_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no URL given"):
        es_client(ElasticsearchSettings())
    with pytest.raises(ConfigError, match="http"):
        es_client(ElasticsearchSettings(urls=("es:9200",)))
    with pytest.raises(ConfigError, match="OTEL_LOGGING_ES_PASSWORD"):
        es_client(ElasticsearchSettings(urls=("http://127.0.0.1:9200",), user="writer"))
    client = es_client(ElasticsearchSettings(urls=("http://127.0.0.1:9200",), user="u", password="p"))
    client.close()


def test_legacy_document_id_is_the_urlsafe_base64_of_the_blake2b_hash() -> None:
    # The ids of earlier versions: a record queued before an upgrade and redelivered after it stays one document.
    import base64
    import hashlib

    for line in (to_json_line({"body": "a"}), b'{"body":"\xc3\xa9"}', b"{}\n"):
        digest = hashlib.blake2b(line.rstrip(b"\n"), digest_size=16).digest()
        assert legacy_document_id(line) == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_document_id_is_the_time_to_the_millisecond_then_a_hash_of_the_line() -> None:
    import base64
    import hashlib

    def line(ts: str, body: str = "x") -> bytes:
        return to_json_line({"@timestamp": ts, "observed_timestamp": ts, "body": body})

    a = line("2026-11-25T01:45:00.377704704Z")
    raw = base64.urlsafe_b64decode(document_id(a))
    assert len(document_id(a)) == 24 and len(raw) == 18  # base64url without padding: Elasticsearch stores 18 bytes
    assert raw[:8] == (20261125014500377).to_bytes(8, "big")
    assert raw[8:] == hashlib.blake2b(a.rstrip(b"\n"), digest_size=10).digest()
    # time-ordered: the ids of later records sort after (as bytes, which is how Elasticsearch keeps them)
    times = ["2026-11-25T01:45:00.377704704Z", "2026-11-25T01:45:00.378000000Z", "2026-11-25T01:46:00.000000001Z"]
    times += ["2026-12-01T00:00:00.000000000Z", "2027-01-01T00:00:00.000000000Z"]
    ids = [base64.urlsafe_b64decode(document_id(line(t, f"r{i}"))) for i, t in enumerate(times)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # the same millisecond: ordered by nothing but still distinct; the same line: the same id
    assert document_id(line(times[0], "a")) != document_id(line(times[0], "b"))
    assert document_id(a) == document_id(a.rstrip(b"\n")) != legacy_document_id(a)
    # a line that does not start with its @timestamp (not a canonical line): time part zero, still its hash
    odd = b'{"body":"x","@timestamp":"2026-11-25T01:45:00.377704704Z"}'
    assert base64.urlsafe_b64decode(document_id(odd))[:8] == bytes(8)
    assert document_id(odd) != document_id(b'{"body":"y","@timestamp":"2026-11-25T01:45:00.377704704Z"}')
    assert base64.urlsafe_b64decode(document_id(b'{"@timestamp":"not a time at all, no"}'))[:8] == bytes(8)


class FakeBulkClient:
    """Answers bulk requests from canned per-document statuses (by body text, 201 if not named); request
    number n (from 1, in the order they arrive) raises ``failures[n]`` instead, if given."""

    def __init__(self, statuses: dict[str, int], failures: dict[int, Exception] | None = None) -> None:
        self.statuses = statuses
        self.failures = failures or {}
        self.requests: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def bulk(self, *, operations: bytes, filter_path: str, timeout: str | None = None) -> Any:
        lines = [orjson.loads(line) for line in operations.splitlines()]
        with self._lock:
            self.requests.append(lines)
            number = len(self.requests)
        if number in self.failures:
            raise self.failures[number]
        items = []
        for header, source in zip(lines[::2], lines[1::2], strict=True):
            assert set(header["create"]) == {"_index", "_id"}
            status = self.statuses.get(source["body"], 201)
            error = {"type": "mapper_parsing_exception", "reason": "no"} if status >= 300 else None
            items.append({"create": {"status": status, **({"error": error} if error else {})}})
        return SimpleNamespace(body={"errors": any(i["create"]["status"] >= 300 for i in items), "items": items})


def _delivery(client: FakeBulkClient, chunk_size: int) -> ElasticsearchDelivery:
    """Bulk requests of ``chunk_size`` documents, up to 3 in flight."""
    pacer = BulkPacer(min_docs=chunk_size, max_docs=chunk_size, max_in_flight=3)
    delivery = ElasticsearchDelivery(client, DataStreamNames(), pacer=pacer)  # type: ignore[arg-type]
    delivery._templates_ready = True  # no template calls on the fake client
    return delivery


def test_delivery_maps_every_item_of_concurrent_bulk_requests_back_to_its_line() -> None:
    lines = [to_json_line({"body": f"r{i}", "service": f"app-{i % 3}"}).rstrip(b"\n") for i in range(95)]
    lines[7] = b"not json"
    lines[40] = b"[1, 2]"
    lines[60] = to_json_line({"body": {"k": 60}, "service": "app-0"}).rstrip(b"\n")
    client = FakeBulkClient({"r3": 400, "r50": 429, "r51": 409, "r94": 503})
    result = _delivery(client, chunk_size=10)(lines)
    assert sorted(result.retry) == [50, 94]
    assert sorted(i for i, _ in result.dead_letters) == [3, 7, 40]
    assert dict(result.dead_letters)[3].startswith("400 mapper_parsing_exception: no")
    assert "not a canonical record" in dict(result.dead_letters)[7]
    sent = [doc for request in client.requests for doc in request[1::2]]
    assert sorted(d["body"] for d in sent) == sorted(
        [f"r{i}" for i in range(95) if i not in (7, 40, 60)] + ['{"k":60}']
    )
    assert [d["body_structured"] for d in sent if "body_structured" in d] == [{"k": 60}]
    assert len(client.requests) == 10 and all(len(r) <= 20 for r in client.requests)
    line_of = {document(orjson.loads(line))["body"]: line for i, line in enumerate(lines) if i not in (7, 40)}
    for request in client.requests:
        for header, source in zip(request[::2], request[1::2], strict=True):
            assert header["create"]["_id"] == document_id(line_of[source["body"]])
            assert header["create"]["_index"] == f"logs-{source['service'].replace('-', '_')}-default"


def test_a_line_whose_service_is_known_is_decoded_only_for_a_structured_body() -> None:
    canonical = {"@timestamp": "t", "observed_timestamp": "t", "severity_text": "INFO", "severity_number": 9}
    text = to_json_line({**canonical, "body": 'a ,"body":{ "q"', "service": "in-the-line"}).rstrip(b"\n")
    null = to_json_line({**canonical, "body": None, "service": "in-the-line"}).rstrip(b"\n")
    structured = to_json_line({**canonical, "body": {"k": 1}, "service": "in-the-line"}).rstrip(b"\n")
    nested_first = b'{"attributes":{"body":"x"},"body":[1],"service":"in-the-line"}'
    assert _text_body(text) and _text_body(null)
    assert not _text_body(structured) and not _text_body(nested_first) and not _text_body(b'{"n":1}')
    client = FakeBulkClient({})
    lines = [text, null, structured, nested_first, text]
    result = _delivery(client, chunk_size=10)(lines, ["framed", "framed", "framed", "framed", None])
    assert result.retry == [] and result.dead_letters == []
    ((request,),) = [client.requests]
    indexes = [header["create"]["_index"] for header in request[::2]]
    # the service of the frame names the data stream; the line is not decoded to find it (None: it is)
    assert indexes == ["logs-framed-default"] * 4 + ["logs-in_the_line-default"]
    assert request[1]["body"] == 'a ,"body":{ "q"' and request[3]["body"] is None
    assert request[5]["body"] == '{"k":1}' and request[5]["body_structured"] == {"k": 1}
    assert request[7]["body"] == "[1]" and "body_structured" not in request[7]


def test_delivery_retries_everything_not_confirmed_when_elasticsearch_goes_away() -> None:
    lines = [to_json_line({"body": f"r{i}"}).rstrip(b"\n") for i in range(100)]
    client = FakeBulkClient({}, {2: elastic_transport.ConnectionError("connection refused")})
    result = _delivery(client, chunk_size=10)(lines)
    confirmed = {i for i in range(100)} - set(result.retry)
    assert result.error.startswith("Elasticsearch unreachable") and not result.dead_letters
    assert len(result.retry) >= 10 and len(confirmed) % 10 == 0  # whole requests: answered ones are delivered
    sent_ok = {d["body"] for request in client.requests for d in request[1::2]}
    assert {f"r{i}" for i in confirmed} <= sent_ok


def test_a_bulk_request_holds_about_max_chunk_bytes_at_most() -> None:
    lines = [to_json_line({"body": f"r{i:02d}"}).rstrip(b"\n") for i in range(40)]
    client = FakeBulkClient({})
    delivery = ElasticsearchDelivery(
        client,  # type: ignore[arg-type]
        DataStreamNames(),
        max_chunk_bytes=4 * (len(lines[0]) + 80),  # 4 documents, with the estimate of 80 bytes per action
        pacer=BulkPacer(min_docs=10, max_docs=10, max_in_flight=1),
    )
    delivery._templates_ready = True
    try:
        result = delivery(lines)
    finally:
        delivery.close()
    assert result.retry == [] and result.dead_letters == []
    assert [len(request) // 2 for request in client.requests] == [4] * 10  # not 4 x 10 documents


def test_delivery_keeps_its_helper_threads_until_closed() -> None:
    def helpers() -> int:
        return sum(1 for _ in live_threads("elasticsearch-bulk"))

    before = helpers()
    delivery = _delivery(FakeBulkClient({}), chunk_size=5)
    lines = [to_json_line({"body": f"r{i}"}).rstrip(b"\n") for i in range(50)]
    for _ in range(3):
        assert delivery(lines).retry == []
    assert helpers() == before + 2  # 3 in flight: the calling thread and 2 helpers, the same for every batch
    assert delivery.close(timeout=10)  # joins its helpers
    assert helpers() == before
    assert delivery(lines).retry == []  # started again when needed
    assert delivery.close(timeout=10)
    assert helpers() == before


ALL_CREATED = [
    b'{"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * n) + b"]}" for n in (1, 2, 5000)
]
OTHER_ANSWERS = [
    b'{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"x"}}}]}',
    b'{"errors":false,"items":[{"create":{"status":200}},{"create":{"status":201}}]}',
    b'{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}} ]}',
    b'{"errors":false,"items":[{"create":{"status":201}}],"took":3}',
    b'{"errors":false,"items":[]}',
    b'{"acknowledged":true}',
]


@pytest.mark.parametrize("answer", ALL_CREATED + OTHER_ANSWERS)
def test_the_bulk_answer_serializer_reads_what_orjson_reads(answer: bytes) -> None:
    from otel_logging.sinks.elasticsearch import BulkAnswerSerializer

    assert BulkAnswerSerializer().loads(answer) == orjson.loads(answer)


def test_an_all_created_bulk_answer_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression guard of the shortcut: 5,000 created items are read without orjson building 10,000 dicts."""
    from elasticsearch.serializer import OrjsonSerializer

    from otel_logging.sinks.elasticsearch import BulkAnswerSerializer

    def decode(*_: Any) -> Any:
        raise AssertionError("decoded")

    monkeypatch.setattr(OrjsonSerializer, "loads", decode)
    answer = BulkAnswerSerializer().loads(ALL_CREATED[-1])
    assert answer["errors"] is False and len(answer["items"]) == 5000
    with pytest.raises(AssertionError, match="decoded"):
        BulkAnswerSerializer().loads(OTHER_ANSWERS[0])


def test_the_client_reads_answers_with_the_bulk_answer_serializer() -> None:
    from otel_logging.sinks.elasticsearch import BulkAnswerSerializer

    client = es_client(ElasticsearchSettings(urls=("http://127.0.0.1:9",)))
    try:
        assert isinstance(client.transport.serializers.get_serializer("application/json"), BulkAnswerSerializer)
        compatible = "application/vnd.elasticsearch+json"
        assert isinstance(client.transport.serializers.get_serializer(compatible), BulkAnswerSerializer)
    finally:
        client.close()
