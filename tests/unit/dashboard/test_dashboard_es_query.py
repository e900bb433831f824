"""The Elasticsearch source's query DSL, built from filters (no server needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from otel_logging.dashboard.filters import FieldRef, LogFilter
from otel_logging.dashboard.querylang.to_es import level_query, message_regexp
from otel_logging.dashboard.sources.elasticsearch import (
    ElasticsearchSource,
    build_query,
    field_path,
    hit_from_source,
    top_values_aggs,
    until_query,
    volume_aggs,
)


def test_empty_filter_matches_all() -> None:
    assert build_query(LogFilter()) == {"match_all": {}}


def test_apps_time_and_query() -> None:
    paris = ZoneInfo("Europe/Paris")
    flt = LogFilter(
        apps=("shop",),
        start=datetime(2026, 7, 1, 12, 0, tzinfo=paris),
        end=datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
        query="service:mail logger:a.b attributes.http.status_code:500 trace_id:abc",
    )
    assert build_query(flt)["bool"]["filter"] == [
        {"terms": {"service": ["shop"]}},
        {"range": {"@timestamp": {"gte": "2026-07-01T10:00:00Z", "lt": "2026-07-01T11:00:00Z"}}},
        {
            "bool": {
                "filter": [
                    {"term": {"service": "mail"}},
                    {"term": {"logger": "a.b"}},
                    {"term": {"attributes.http.status_code": "500"}},
                    {"term": {"trace_id": "abc"}},
                ]
            }
        },
    ]


def test_levels_by_number_range_or_text() -> None:
    query = level_query(("WARN",))
    should = query["bool"]["should"]
    assert {"range": {"severity_number": {"gte": 13, "lte": 16}}} in should
    texts = should[1]["bool"]["filter"][1]["terms"]["severity_text"]
    assert {"WARN", "WARNING", "warning"} <= set(texts)
    assert query["bool"]["minimum_should_match"] == 1


def test_message_phrase_and_regex() -> None:
    phrase = build_query(LogFilter(query='"a*b?"'))["bool"]["filter"][0]["bool"]["should"]
    assert phrase[0] == {"wildcard": {"body.keyword": {"value": "*a\\*b\\?*", "case_insensitive": True}}}
    assert phrase[1]["bool"]["filter"] == [{"match_phrase": {"body": "a*b?"}}]
    assert build_query(LogFilter(query="/order [0-9]+/"))["bool"]["filter"] == [
        {"regexp": {"body.keyword": {"value": ".*order [0-9]+.*", "case_insensitive": True}}}
    ]
    assert message_regexp("^start") == "start.*"
    assert message_regexp("end$") == ".*end"
    assert message_regexp("^exact$") == "exact"


def test_field_paths() -> None:
    assert field_path(FieldRef("message")) == "body.keyword"
    assert field_path(FieldRef("resource", "host.name")) == "resource.host.name"
    assert top_values_aggs(FieldRef("logger"), 5) == {"top": {"terms": {"field": "logger", "size": 5}}}
    assert set(top_values_aggs(FieldRef("level"), 5)["top"]["filters"]["filters"]) >= {"INFO", "ERROR", "UNSET"}


def test_volume_aggregation() -> None:
    aggs = volume_aggs(300)["volume"]
    assert aggs["date_histogram"] == {"field": "@timestamp", "fixed_interval": "300s", "min_doc_count": 1}
    assert "ERROR" in aggs["aggs"]["levels"]["filters"]["filters"]


def test_documents_back_to_records() -> None:
    hit = hit_from_source(
        ".ds-logs-shop-default-1",
        "id1",
        {"body": '{"k":1}', "body_structured": {"k": 1}, "severity_number": 17, "service": "shop"},
    )
    assert hit.record == {"body": {"k": 1}, "severity_number": 17, "service": "shop"}
    assert hit.level == "ERROR"
    assert hit.ref == ".ds-logs-shop-default-1/id1"


def test_exclusions_are_must_not() -> None:
    clauses = build_query(LogFilter(query="service != mail -user:ann"))
    assert clauses["bool"]["filter"] == [
        {
            "bool": {
                "filter": [
                    {"bool": {"must_not": [{"term": {"service": "mail"}}]}},
                    {"bool": {"must_not": [{"term": {"attributes.user": "ann"}}]}},
                ]
            }
        }
    ]
    level = build_query(LogFilter(query="level != warn"))["bool"]["filter"]
    assert level == [{"bool": {"must_not": [level_query(("WARN",))]}}]
    assert build_query(LogFilter(query="level:warn"))["bool"]["filter"] == [level_query(("WARN",))]


def test_until_names_the_indices_and_seq_nos_of_the_snapshot() -> None:
    known = {".ds-logs-b-1": 7, ".ds-logs-a-1": 41}
    assert until_query(5, known) == {
        "bool": {
            "should": [
                {"bool": {"filter": [{"term": {"_index": ".ds-logs-a-1"}}, {"range": {"_seq_no": {"lte": 41}}}]}},
                {"bool": {"filter": [{"term": {"_index": ".ds-logs-b-1"}}, {"range": {"_seq_no": {"lte": 7}}}]}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert until_query(5, {}) == {"match_none": {}}  # nothing was known: nothing matches
    # A token this source did not hand out: its time (epoch ms).
    assert until_query(1_780_000_000_000, None) == {
        "range": {"@timestamp": {"lte": 1_780_000_000_000, "format": "epoch_millis"}}
    }
    assert build_query(LogFilter(until=5), known)["bool"]["filter"] == [until_query(5, known)]
    assert build_query(LogFilter(until=5))["bool"]["filter"] == [until_query(5, None)]


@dataclass
class FakeClient:
    """Answers the snapshot aggregation with ``indices`` and records every request."""

    indices: dict[str, int]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("search", kwargs))
        buckets = [{"key": k, "doc_count": 1, "seq_no": {"value": float(v)}} for k, v in self.indices.items()]
        return {"hits": {"total": {"value": 0}, "hits": []}, "aggregations": {"indices": {"buckets": buckets}}}

    def count(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("count", kwargs))
        return {"count": 3}

    def close(self) -> None:
        pass


def test_snapshot_tokens_map_to_what_the_cluster_had() -> None:
    client = FakeClient({".ds-logs-a-1": 4})
    source = ElasticsearchSource("http://es.invalid", client=client)
    first = source.snapshot()
    aggs = client.calls[-1][1]["aggs"]["indices"]
    assert aggs["terms"]["field"] == "_index" and aggs["aggs"]["seq_no"] == {"max": {"field": "_seq_no"}}
    client.indices = {".ds-logs-a-1": 9, ".ds-logs-b-1": 0}
    second = source.snapshot()
    assert second > first  # strictly increasing, even within one millisecond
    source.page(LogFilter(query="level:ERROR", until=first))
    assert until_query(first, {".ds-logs-a-1": 4}) in client.calls[-1][1]["query"]["bool"]["filter"]
    assert source.count(LogFilter(until=second)) == 3
    assert client.calls[-1][1]["query"] == build_query(LogFilter(until=second), {".ds-logs-a-1": 9, ".ds-logs-b-1": 0})
    # newer_than: the filter without its until, minus what the snapshot knew.
    assert source.newer_than(LogFilter(query="service:a", until=second), first) == 3
    assert client.calls[-1] == (
        "count",
        {
            "index": "logs-*",
            "query": {
                "bool": {
                    "filter": [build_query(LogFilter(query="service:a"))],
                    "must_not": [until_query(first, {".ds-logs-a-1": 4})],
                }
            },
        },
    )


def test_a_pattern_on_an_attribute_asks_the_cluster_for_its_values_once_per_refresh() -> None:
    client = FakeClient({})
    source = ElasticsearchSource("http://es.invalid", client=client)
    flt = LogFilter(query="user:/[ab].*/ AND duration_ms > 100")

    def value_lookups() -> int:
        return sum(1 for kind, body in client.calls if kind == "search" and "values" in body.get("aggs", {}))

    for _ in range(3):  # the page's count, chart and rows
        source.count(flt)
    assert value_lookups() == 2  # one per attribute clause, not one per question
    source.refresh()
    source.count(flt)
    assert value_lookups() == 4  # values written since the last refresh may match now
