"""The Elasticsearch source against a real node: the same answers as the files source over the same records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import helpers

from otel_logging.dashboard.es_source import ElasticsearchSource
from otel_logging.dashboard.file_source import FileSource
from otel_logging.dashboard.filters import FieldRef, LogFilter, parse_field_match
from otel_logging.dashboard.query import QueryError
from otel_logging.record import to_json_lines
from otel_logging.sinks.elasticsearch import DataStreamNames, document, install_templates
from tests.integration.es_fixtures import EsNode
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
    ]
    records += [
        make_record("mail", at(400 + i), body=f"digest {i} sent to 'u{i}'", logger="mail.digest") for i in range(20)
    ]
    return records


@pytest.fixture(scope="module")
def sources(
    es_node: EsNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ElasticsearchSource, FileSource]]:
    prefix = f"dash{uuid.uuid4().hex[:8]}"  # streams of its own, with the sink's templates and documents
    client = es_node.client()
    install_templates(client, prefix)
    names = DataStreamNames(prefix)
    records = _records()
    actions = [{"_op_type": "create", "_index": names(r["service"]), "_source": document(r)} for r in records]
    helpers.bulk(client, actions, refresh="wait_for")
    log_dir = tmp_path_factory.mktemp("es-parity") / "logs"
    log_dir.mkdir()
    for service in ("shop", "mail"):
        (log_dir / f"{service}.jsonl").write_bytes(to_json_lines([r for r in records if r["service"] == service]))
    es = ElasticsearchSource(es_node.url, index=f"{prefix}-*")
    files = FileSource(log_dir, min_refresh_interval_s=0)
    files.refresh()
    yield es, files
    es.close()
    files.close()


FILTERS = [
    LogFilter(),
    LogFilter(levels=("ERROR",)),
    LogFilter(levels=("INFO", "DEBUG"), services=("shop",)),
    LogFilter(search="payment failed"),
    LogFilter(search=r"order [0-9]+", regex=True),
    LogFilter(loggers=("mail.out",)),
    LogFilter(fields=(parse_field_match("user=ann"),)),
    LogFilter(start=T0 + timedelta(seconds=60), end=T0 + timedelta(seconds=181)),
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


def test_trace_context_and_export(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    assert [h.record for h in es.trace(TRACE)] == [h.record for h in files.trace(TRACE)]
    target = es.page(LogFilter(search="stock low")).hits[0]
    around = [h.record["body"] for h in es.context(target.ref, before=2, after=1)]
    assert around == [
        "Payment FAILED for order 9",
        "payment failed for order 10",
        "stock low: 3 left",
        {"event": "cart", "items": 3},
    ]
    exported = b"".join(es.export(LogFilter(services=("mail",)), "jsonl")).splitlines()
    assert len(exported) == 22
    walker = ElasticsearchSource(es.url, index=es.index, max_window=10)  # pages past 10 records use search_after
    for offset in (8, 12, 24):
        deep = walker.page(LogFilter(), offset=offset, limit=5)
        assert deep.total == 27
        assert [h.record for h in deep.hits] == [h.record for h in files.page(LogFilter(), offset=offset, limit=5).hits]
    walker.close()


def test_unreachable_cluster_is_a_clear_error() -> None:
    source = ElasticsearchSource("http://127.0.0.1:9", request_timeout=2)
    with pytest.raises(QueryError, match="unreachable"):
        source.page(LogFilter())
    assert "unreachable" in source.refresh().problems[0]
