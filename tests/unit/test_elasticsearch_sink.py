"""The Elasticsearch sink's pure parts: data stream names, documents, ids, per-item outcomes, options."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_logging.commands.serve import _elasticsearch_settings, register
from otel_logging.names import data_stream_dataset, data_stream_namespace
from otel_logging.record import to_json_line
from otel_logging.sinks.elasticsearch import (
    DataStreamNames,
    ElasticsearchOptions,
    _item_outcome,
    document,
    document_id,
)


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


def test_options_refuse_unusable_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        ElasticsearchOptions(urls=("es:9200",)).client()
    with pytest.raises(ValueError, match="OTEL_LOGGING_ES_PASSWORD"):
        ElasticsearchOptions(urls=("http://127.0.0.1:9200",), user="writer").client()
    with pytest.raises(ValueError, match="not both"):
        ElasticsearchOptions(urls=("http://127.0.0.1:9200",), user="u", password="p", api_key="k").client()
    with pytest.raises(ValueError, match="does not exist"):
        ElasticsearchOptions(urls=("https://127.0.0.1:9200",), ca_cert=tmp_path / "missing.pem").client()


def test_serve_reads_the_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--es-url", "http://127.0.0.1:9200", "--es-user", "writer"])
    monkeypatch.delenv("OTEL_LOGGING_ES_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="OTEL_LOGGING_ES_PASSWORD"):
        _elasticsearch_settings(args)
    monkeypatch.setenv("OTEL_LOGGING_ES_PASSWORD", "s3cret")
    settings = _elasticsearch_settings(args)
    assert settings["es_password"] == "s3cret" and settings["es_urls"] == ["http://127.0.0.1:9200"]
    args = parser.parse_args(["serve", "--queue-max-bytes", "10MB"])
    assert _elasticsearch_settings(args)["queue_max_bytes"] == 10 << 20
