"""The Elasticsearch source's query DSL, built from filters (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from otel_logging.dashboard.es_source import (
    build_query,
    field_path,
    hit_from_source,
    level_query,
    regexp_value,
    search_query,
    top_values_aggs,
    volume_aggs,
)
from otel_logging.dashboard.filters import FieldRef, LogFilter, parse_field_match


def test_empty_filter_matches_all() -> None:
    assert build_query(LogFilter()) == {"match_all": {}}


def test_terms_time_and_fields() -> None:
    paris = ZoneInfo("Europe/Paris")
    flt = LogFilter(
        apps=("shop",),
        services=("mail",),
        loggers=("a.b",),
        start=datetime(2026, 7, 1, 12, 0, tzinfo=paris),
        end=datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
        fields=(parse_field_match("attributes.http.status_code=500"), parse_field_match("trace_id=abc")),
    )
    clauses = build_query(flt)["bool"]["filter"]
    assert {"terms": {"service": ["shop"]}} in clauses
    assert {"terms": {"service": ["mail"]}} in clauses
    assert {"terms": {"logger": ["a.b"]}} in clauses
    assert {"range": {"@timestamp": {"gte": "2026-07-01T10:00:00Z", "lt": "2026-07-01T11:00:00Z"}}} in clauses
    assert {"term": {"attributes.http.status_code": "500"}} in clauses
    assert {"term": {"trace_id": "abc"}} in clauses


def test_levels_by_number_range_or_text() -> None:
    query = level_query(("WARN",))
    should = query["bool"]["should"]
    assert {"range": {"severity_number": {"gte": 13, "lte": 16}}} in should
    texts = should[1]["bool"]["filter"][1]["terms"]["severity_text"]
    assert {"WARN", "WARNING", "warning"} <= set(texts)
    assert query["bool"]["minimum_should_match"] == 1


def test_search_substring_and_regex() -> None:
    substring = search_query("a*b?", regex=False)["bool"]["should"]
    assert substring[0] == {"wildcard": {"body.keyword": {"value": "*a\\*b\\?*", "case_insensitive": True}}}
    assert substring[1] == {"match_phrase": {"body": "a*b?"}}
    assert search_query("order [0-9]+", regex=True) == {
        "regexp": {"body.keyword": {"value": ".*order [0-9]+.*", "case_insensitive": True}}
    }
    assert regexp_value("^start") == "start.*"
    assert regexp_value("end$") == ".*end"
    assert regexp_value("^exact$") == "exact"


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
