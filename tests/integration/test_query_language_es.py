"""The query language on a real Elasticsearch node: the same queries give the same records as on the files
source over the same data (the table of tests/support/query_cases.py), and the records the table expects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.querylang import QuerySyntaxError
from otel_logging.dashboard.sources import elasticsearch as es_module
from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource
from otel_logging.dashboard.sources.files import FileSource
from tests.support.both_sources import both_sources
from tests.support.es_fixtures import EsNode
from tests.support.query_cases import CASES, query_records

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sources(
    es_node_each: EsNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ElasticsearchSource, FileSource]]:
    with both_sources(es_node_each, tmp_path_factory.mktemp("querylang-es") / "logs", query_records(), "ql") as pair:
        yield pair


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] or "(empty)" for c in CASES])
def test_same_records_on_both_sources(
    sources: tuple[ElasticsearchSource, FileSource], query: str, expected: frozenset[int]
) -> None:
    es, files = sources
    flt = LogFilter(query=query)
    es_page, file_page = es.page(flt, limit=100), files.page(flt, limit=100)
    # The same records in the same order (newest first), and the ones the table expects.
    assert [h.record for h in es_page.hits] == [h.record for h in file_page.hits]
    assert {h.record["attributes"]["id"] for h in es_page.hits} == expected
    assert es_page.total == file_page.total == es.count(flt) == len(expected)


def test_same_volume_and_values_under_a_query(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    flt = LogFilter(query="duration_ms >= 100 OR level:fatal")
    assert {(b.start, b.level): b.count for b in es.volume(flt, 60).buckets} == {
        (b.start, b.level): b.count for b in files.volume(flt, 60).buckets
    }
    assert es.time_bounds(flt) == files.time_bounds(flt)


def test_times_in_the_page_zone_on_both(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    es, files = sources
    flt = LogFilter(query="@timestamp >= 2026-06-01T10:09 AND @timestamp:2026-06-01T10:11", query_zone="Europe/Paris")
    assert [h.record for h in es.page(flt).hits] == [h.record for h in files.page(flt).hits]
    assert [h.record["attributes"]["id"] for h in es.page(flt).hits] == [11]


def test_mistakes_are_errors_on_both(sources: tuple[ElasticsearchSource, FileSource]) -> None:
    for source in sources:
        with pytest.raises(QuerySyntaxError) as caught:
            source.count(LogFilter(query="service:shop AND (level:error"))
        assert caught.value.position == 17


def test_too_many_values_for_a_comparison_is_an_error(
    sources: tuple[ElasticsearchSource, FileSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    es, _ = sources
    monkeypatch.setattr(es_module, "MAX_EXPANSION", 2)
    with pytest.raises(QueryError, match="narrow the query"):
        es.count(LogFilter(query="duration_ms > 0"))
    assert es.count(LogFilter(query="duration_ms > 20000")) == 1
