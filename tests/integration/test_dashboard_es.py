"""The Elasticsearch source against a real node: the same answers as the files source over the same records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from otel_logging.dashboard.filters import FieldRef, LogFilter
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.sinks.elasticsearch import DataStreamNames, install_templates
from tests.support.both_sources import both_sources, index_records, write_records
from tests.support.es_fixtures import EsNode
from tests.support.generated_logs import make_record

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TRACE = "a3ce929d0e0e47364bf92f3577b34da6"


def _records() -> list[dict]:
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    records = [
        make_record("shop", at(0), body="cart 1 created", logger="shop.cart", attributes={"user": "ann"}),
        make_record("shop", at(60), level=("ERROR", 17), body="Payment FAILED for order 9", logger="shop.pay"),
        make_record("shop", at(120), level=("ERROR", 17), body="payment failed for order 10", trace_id=TRACE),
        make_record("shop", at(180), level=("WARN", 13), body="stock low: 3 left", logger="shop.stock"),
        make_record("shop", at(240), level=("DEBUG", 5), body={"event": "cart", "items": 3}, logger="shop.cart"),
        make_record("mail", at(119), body="receipt queued", logger="mail.out", trace_id=TRACE),
        make_record("mail", at(300), body="receipt sent", logger="mail.out", attributes={"user": "ann", "n": 2}),
        # Written after "receipt sent" with an earlier time (the client's order is not time order).
        make_record("mail", at(170), level=("WARN", 13), body="relay slow: 2 s", logger="mail.relay"),
    ]
    records += [
        make_record("mail", at(400 + i), body=f"digest {i} sent to 'u{i}'", logger="mail.digest") for i in range(20)
    ]
    return records


@pytest.fixture(scope="module")
def sources(
    es_node_each: EsNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ElasticsearchSource, FileSource]]:
    with both_sources(es_node_each, tmp_path_factory.mktemp("es-parity") / "logs", _records(), "dash") as pair:
        yield pair


FILTERS = [
    LogFilter(),
    LogFilter(query="level:ERROR"),
    LogFilter(query="level:(INFO OR DEBUG) service:shop"),
    LogFilter(query='"payment failed"'),
    LogFilter(query="/order [0-9]+/"),
    LogFilter(query="logger:mail.out"),
    LogFilter(query="user:ann"),
    LogFilter(start=T0 + timedelta(seconds=60), end=T0 + timedelta(seconds=181)),
    LogFilter(query="service != mail"),
    LogFilter(query="user != ann"),  # records without a user are kept
    LogFilter(query="level != INFO logger != shop.pay"),
    LogFilter(query="service:mail attributes.n != 2"),
]


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
def test_same_records_as_the_files_source(sources: tuple[ElasticsearchSource, FileSource], flt: LogFilter) -> None:
    es, files = sources
    es_page, file_page = es.page(flt, limit=50), files.page(flt, limit=50)
    assert es_page.total == file_page.total > 0
    assert [h.record for h in es_page.hits] == [h.record for h in file_page.hits]
    assert [h.level for h in es_page.hits] == [h.level for h in file_page.hits]
    assert es.count(flt) == files.count(flt)


def test_aggregations_match(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    flt = LogFilter()
    volume = {(b.start, b.level): b.count for b in es.volume(flt, 60).buckets}
    assert volume == {(b.start, b.level): b.count for b in files.volume(flt, 60).buckets}
    for fld in (FieldRef("logger"), FieldRef("level"), FieldRef("attributes", "user")):
        assert es.top_values(flt, fld) == files.top_values(flt, fld)
    assert es.time_bounds(flt) == files.time_bounds(flt)
    es_groups = {g.template: g.count for g in es.patterns(flt)}
    assert es_groups == {g.template: g.count for g in files.patterns(flt)}
    assert es_groups["digest <num> sent to '<str>'"] == 20
    assert [a.app for a in es.apps()] == ["mail", "shop"]


def test_exclusion_keeps_records_without_the_field(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    without_ann = LogFilter(query="user != ann")
    assert es.count(without_ann) == files.count(without_ann) == len(_records()) - 2  # only ann's 2 records go


def test_trace_context_and_export(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    assert [h.record for h in es.trace(TRACE)] == [h.record for h in files.trace(TRACE)]
    target = es.page(LogFilter(query='"stock low"')).hits[0]
    around = [(h.record["service"], h.record["body"]) for h in es.context(target.ref, before=2, after=1)]
    assert around == [  # time order across services: mail's relay record was written out of order
        ("shop", "payment failed for order 10"),
        ("mail", "relay slow: 2 s"),
        ("shop", "stock low: 3 left"),
        ("shop", {"event": "cart", "items": 3}),
    ]
    own = [h.record["body"] for h in es.context(target.ref, before=2, after=1, same_service=True)]
    assert own == ["Payment FAILED for order 9", "payment failed for order 10", "stock low: 3 left", around[-1][1]]
    exported = b"".join(es.export(LogFilter(query="service:mail"), "jsonl")).splitlines()
    assert len(exported) == 23
    for oldest_first in (False, True):  # what `otel-logging query -n 0` streams, in both orders, in small batches
        es_all = [h.record for hits in es.all_hits(LogFilter(), oldest_first=oldest_first, batch=7) for h in hits]
        files_all = [h.record for hits in files.all_hits(LogFilter(), oldest_first=oldest_first, batch=7) for h in hits]
        assert es_all == files_all and len(es_all) == 28
    assert es_all[0]["@timestamp"] <= es_all[-1]["@timestamp"]
    walker = ElasticsearchSource(es.url, index=es.index, max_window=10)  # pages past 10 records use search_after
    for offset in (8, 12, 24):
        deep = walker.page(LogFilter(), offset=offset, limit=5)
        assert deep.total == 28
        assert [h.record for h in deep.hits] == [h.record for h in files.page(LogFilter(), offset=offset, limit=5).hits]
    walker.close()


@pytest.mark.parametrize("same_service", [False, True])
def test_context_matches_the_files_source(sources: tuple[ElasticsearchSource, FileSource], same_service: bool) -> None:
    es, files = sources
    es_hits, file_hits = es.page(LogFilter(), limit=50).hits, files.page(LogFilter(), limit=50).hits
    assert [h.record for h in es_hits] == [h.record for h in file_hits]
    for es_hit, file_hit in zip(es_hits, file_hits, strict=True):  # every record as the target
        es_around = es.context(es_hit.ref, before=3, after=2, same_service=same_service)
        file_around = files.context(file_hit.ref, before=3, after=2, same_service=same_service)
        assert [h.record for h in es_around] == [h.record for h in file_around]
        assert es_hit in es_around
        if same_service:
            assert {h.record["service"] for h in es_around} == {es_hit.record["service"]}


def test_hit_by_ref(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    target = es.page(LogFilter(query='"relay slow"')).hits[0]
    assert es.hit(target.ref) == target
    assert target.record == files.page(LogFilter(query='"relay slow"')).hits[0].record
    index, _, doc_id = target.ref.partition("/")
    assert es.hit(f"{index}/no-such-id") is None
    assert es.hit(f"{index}-gone/{doc_id}") is None  # an index that does not exist (say, deleted by retention)
    assert es.hit(f".security/{doc_id}") is None  # only the source's own indices are looked in
    with pytest.raises(QueryError, match="reference"):
        es.hit("no-slash")
    with pytest.raises(QueryError, match="no record"):
        es.context(f"{index}/no-such-id")


def test_context_keeps_the_record_among_equal_times(es_node_each: EsNode) -> None:
    prefix = f"dash{uuid.uuid4().hex[:8]}"
    client = es_node_each.client()
    install_templates(client, prefix)
    # 30 records at one instant, the observed times equal too: only the index and _seq_no order them.
    records = [
        {**make_record(service, T0, body=f"{service}{i}"), "observed_timestamp": "2026-06-01T08:00:00Z"}
        for service in ("a", "b")
        for i in range(15)
    ]
    index_records(client, DataStreamNames(prefix), records)
    es = ElasticsearchSource(es_node_each.url, index=f"{prefix}-*")
    ordered = list(reversed(es.page(LogFilter(), limit=50).hits))  # the same order, newest first
    assert len(ordered) == 30
    for position in (0, 1, 14, 15, 22, 29):
        around = es.context(ordered[position].ref, before=2, after=2)
        assert around == ordered[max(position - 2, 0) : position + 3]
        own = es.context(ordered[position].ref, before=2, after=2, same_service=True)
        assert ordered[position] in own
        assert {h.record["service"] for h in own} == {ordered[position].record["service"]}
    es.close()
    client.close()


def test_snapshot_pins_pages_like_the_files_source(es_node_each: EsNode, tmp_path: Path) -> None:
    prefix = f"dash{uuid.uuid4().hex[:8]}"
    client = es_node_each.client()
    install_templates(client, prefix)
    names = DataStreamNames(prefix)
    records = _records()
    index_records(client, names, records)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    write_records(log_dir, records)
    es = ElasticsearchSource(es_node_each.url, index=f"{prefix}-*")
    files = FileSource(log_dir, min_refresh_interval_s=0)
    files.refresh()
    es_token, file_token = es.snapshot(), files.snapshot()
    flts = [LogFilter(), LogFilter(query="level:ERROR"), LogFilter(query="service:shop payment")]

    def pinned(source: ElasticsearchSource | FileSource, token: int) -> list[list[dict]]:
        pages = [source.page(replace(flt, until=token), offset=offset, limit=10) for flt in flts for offset in (0, 10)]
        return [[h.record for h in p.hits] + [{"total": p.total}] for p in pages]

    before = pinned(es, es_token)
    assert before == pinned(files, file_token)
    assert es.newer_than(LogFilter(), es_token) == files.newer_than(LogFilter(), file_token) == 0
    # New records: the newest, one arriving late with an old time (it would land among the pinned
    # records), and a new service (in Elasticsearch: a data stream the snapshot did not know).
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    late = [
        make_record("shop", at(500), level=("ERROR", 17), body="payment failed for order 11", logger="shop.pay"),
        make_record("shop", at(90), body="late arrival: cart 2 created", logger="shop.cart"),
        make_record("audit", at(501), body="audit trail rotated", logger="audit"),
    ]
    index_records(client, names, late)
    write_records(log_dir, late)
    files.refresh()
    assert es.count(LogFilter()) == files.count(LogFilter()) == len(records) + 3
    assert pinned(es, es_token) == before
    assert pinned(files, file_token) == before
    for source, token in ((es, es_token), (files, file_token)):
        assert source.newer_than(LogFilter(), token) == 3
        assert source.newer_than(LogFilter(until=token), token) == 3
        assert source.newer_than(LogFilter(query="level:ERROR"), token) == 1
        assert source.newer_than(LogFilter(query="service:shop"), token) == 2
        assert source.newer_than(LogFilter(query="service:audit"), token) == 1
        assert source.newer_than(LogFilter(), source.snapshot()) == 0
        # What arrived after the token, whatever its time (`otel-logging query --follow` prints these).
        arrived = source.page(LogFilter(after=token), limit=100).hits
        assert sorted(h.record["body"] for h in arrived) == sorted(r["body"] for r in late)
        assert source.count(LogFilter(query="service:shop", after=token)) == 2
    es.close()
    files.close()
    client.close()


def test_unreachable_cluster_is_a_clear_error() -> None:
    source = ElasticsearchSource("http://127.0.0.1:9", request_timeout=2)
    with pytest.raises(QueryError, match="unreachable"):
        source.page(LogFilter())
    assert "unreachable" in source.refresh().problems[0]
