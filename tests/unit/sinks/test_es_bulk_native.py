"""The native bulk body (``otel_logging_native.es_bulk_body``) against its Python reference
(``ElasticsearchDelivery._encode_line``): the same documents with the same ids, the same lines left out; and the
delivery's hot path stays native (no Python call per document)."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_logging.record import native
from otel_logging.sinks import elasticsearch as es
from otel_logging.sinks.elasticsearch import (
    DataStreamNames,
    ElasticsearchDelivery,
    _document_id,
    legacy_document_id_bytes,
)

NATIVE_WANTED = os.environ.get(native.ENV_SWITCH, "").strip() != "0"  # make test: the native paths are installed
pytestmark = pytest.mark.skipif(not NATIVE_WANTED, reason="OTEL_LOGGING_NATIVE=0")


def delivery() -> ElasticsearchDelivery:
    return ElasticsearchDelivery(None, DataStreamNames())  # type: ignore[arg-type]  # encoding only: no client used


def documents(body: bytes, sent: list[int]) -> dict[int, tuple[Any, bytes]]:
    """Line index -> (its action, its source line) of a bulk body."""
    lines = body.split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == 2 * len(sent)
    return {i: (orjson.loads(lines[2 * k]), lines[2 * k + 1]) for k, i in enumerate(sent)}


def encode_both(
    monkeypatch: pytest.MonkeyPatch, lines: list[bytes], services: list[str | None], legacy: bool
) -> tuple[tuple[bytes, list[int], list[tuple[int, str]]], tuple[bytes, list[int], list[tuple[int, str]]]]:
    native_result = delivery()._encode(lines, services, 0, len(lines), legacy)
    with monkeypatch.context() as patch:
        patch.setattr(es, "_native_bulk_body", None)
        python_result = delivery()._encode(lines, services, 0, len(lines), legacy)
    return native_result, python_result


def assert_same(native_result: Any, python_result: Any) -> None:
    (n_body, n_sent, n_dead), (p_body, p_sent, p_dead) = native_result, python_result
    assert sorted(n_sent) == sorted(p_sent)
    assert documents(n_body, n_sent) == documents(p_body, p_sent)
    assert n_dead == p_dead


TIMESTAMPS = st.sampled_from(
    [
        "2026-11-25T01:45:00.377123456Z",
        "2026-11-25T01:45:00Z",
        "2026-11-25",
        "1999-01-01T00:00:00.000000000+01:00",
        "2026-11-25T01:45:00.3771234567890Z",
        "x026-11-25T01:45:00.377123456Z",
        "\uff12\uff10\uff12\uff16-11-25T01:45:00.377Z",  # full-width digits: not ASCII digits,
    ]
)
BODIES = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.dictionaries(st.text(max_size=5), st.integers(0, 99), max_size=3),
)


@st.composite
def record_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # not a record at all
        return draw(st.sampled_from([b"[1,2]", b"not json", b'"text"', b"{", b'{"a":{"b":1},"body":"x"}']))
    record: dict[str, Any] = {}
    if kind != 1:
        record["@timestamp"] = draw(TIMESTAMPS)
    record["severity_text"] = draw(st.sampled_from(["INFO", "ERROR"]))
    if kind == 2:
        record["attributes"] = {"k": draw(st.text(max_size=8))}
    record["body"] = draw(BODIES)
    if kind == 3:
        record["service"] = draw(st.sampled_from(["shop", "pay"]))
    line = orjson.dumps(record)
    return line + b"\n" if draw(st.booleans()) else line


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(record_lines(), st.sampled_from(["shop", "pay", "Shop Ü", None])), max_size=30),
    st.booleans(),
)
def test_the_native_body_is_the_python_body(pairs: list[tuple[bytes, str | None]], legacy: bool) -> None:
    lines = [line for line, _ in pairs]
    services = [service for _, service in pairs]
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_same(*encode_both(monkeypatch, lines, services, legacy))


@settings(max_examples=500, deadline=None)
@given(st.one_of(record_lines(), st.binary(max_size=80)))
def test_native_ids_are_the_python_ids(line: bytes) -> None:
    line = line.rstrip(b"\n")
    assert native.es_document_id is not None
    assert native.es_document_id(line, False) == _document_id(line)
    assert native.es_document_id(line, True) == legacy_document_id_bytes(line)


def test_a_chunk_in_the_middle_and_a_cleared_index_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``lines[start:end]`` go into the body; a service whose data stream is not cached is left to Python."""
    lines = [orjson.dumps({"@timestamp": f"2026-11-25T01:45:00.{i:03d}Z", "body": f"m{i}"}) for i in range(10)]
    services: list[str | None] = ["a", "b"] * 5
    sink = delivery()
    body, sent, dead = sink._encode(lines, services, 2, 7, False)
    assert sent == [2, 3, 4, 5, 6] and dead == []
    assert [source for _, source in documents(body, sent).values()] == lines[2:7]
    expected_action = {"create": {"_index": "logs-b-default", "_id": _document_id(lines[3]).decode()}}
    assert documents(body, sent)[3][0] == expected_action
    monkeypatch.setattr(sink, "_indexes", lambda *_: {"a": b'"logs-a-default"'})  # b is not cached
    body, sent, _ = sink._encode(lines, services, 0, 4, False)
    assert sent == [0, 2, 1, 3]  # the native ones first, then Python's
    assert documents(body, sent)[1][0]["create"]["_index"] == "logs-b-default"


def test_ordinary_lines_take_no_python_call_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression guard of the native path: text bodies with known services never reach the per-line
    Python code (``_encode_line``, ``_document_id``), which was about a third of the service's export CPU."""

    def python_path(*_: Any) -> Any:
        raise AssertionError("a per-document Python call on the native path")

    monkeypatch.setattr(ElasticsearchDelivery, "_encode_line", python_path)
    monkeypatch.setattr(es, "_document_id", python_path)
    lines = [orjson.dumps({"@timestamp": "2026-11-25T01:45:00.377Z", "body": f"m{i}"}) + b"\n" for i in range(1000)]
    body, sent, dead = delivery()._encode(lines, ["shop"] * 1000, 0, 1000, False)
    assert sent == list(range(1000)) and dead == []
    assert body.count(b"\n") == 2000
