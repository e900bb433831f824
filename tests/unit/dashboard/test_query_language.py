"""The dashboard's query language: the parser (precedence, every element, errors with their position), the
numeric expressions Elasticsearch needs, and the SQL on a real files source over generated JSONL files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.query import QueryError
from otel_logging.dashboard.querylang import QuerySyntaxError, parse, to_es, to_sql
from otel_logging.dashboard.querylang.ast import (
    And,
    Compare,
    Exists,
    Levels,
    Match,
    Node,
    Not,
    Or,
    Regex,
    Text,
    TimeSpan,
    Wildcard,
)
from otel_logging.dashboard.querylang.numbers import NUMBER_PATTERN, compare_regex
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.record import to_json_lines
from tests.support.query_cases import CASES, query_records


def words(node: Node) -> object:
    """A compact shape of a tree: bare words as strings, AND/OR/NOT as tuples."""
    if isinstance(node, Match) and isinstance(node.value, Text):
        return node.value.text if node.field is None else f"{node.field.name}:{node.value.text}"
    if isinstance(node, And):
        return ("AND", *[words(c) for c in node.children])
    if isinstance(node, Or):
        return ("OR", *[words(c) for c in node.children])
    if isinstance(node, Not):
        return ("NOT", words(node.child))
    return node


# -- the parser --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "shape"),
    [
        ("a b", ("AND", "a", "b")),
        ("a AND b", ("AND", "a", "b")),
        ("a OR b c", ("OR", "a", ("AND", "b", "c"))),
        ("a b OR c", ("OR", ("AND", "a", "b"), "c")),
        ("a OR b AND c OR d", ("OR", "a", ("AND", "b", "c"), "d")),
        ("(a OR b) c", ("AND", ("OR", "a", "b"), "c")),
        ("NOT a b", ("AND", ("NOT", "a"), "b")),
        ("NOT (a b)", ("NOT", ("AND", "a", "b"))),
        ("-a OR b", ("OR", ("NOT", "a"), "b")),
        ("NOT NOT a", ("NOT", ("NOT", "a"))),
        ("((a))", "a"),
        ("a and b", ("AND", "a", "and", "b")),  # lower-case and / or / not are words
        ("appended-marker", "appended-marker"),
        ("service:(a OR b) c", ("AND", ("OR", "service:a", "service:b"), "c")),
        ("service:(a b OR -c)", ("OR", ("AND", "service:a", "service:b"), ("NOT", "service:c"))),
    ],
)
def test_precedence(query: str, shape: object) -> None:
    node = parse(query)
    assert node is not None and words(node) == shape


def test_empty_query_is_no_condition() -> None:
    assert parse("") is None and parse("   ") is None
    assert to_sql(None) == ("TRUE", []) and to_es(None, lambda p, r: []) == {"match_all": {}}


def test_each_element_and_its_position() -> None:
    node = parse('service:checkout "a phrase" /fail(ed)?/ -logger:health* user_id:42 resource.host.name:x')
    assert isinstance(node, And)
    service, phrase, regex, negated, attribute, resource = node.children
    assert isinstance(service, Match) and service.field and service.field.name == "service"
    assert service.value == Text("checkout") and (service.start, service.end) == (0, 16)
    assert isinstance(phrase, Match) and phrase.field is None and phrase.value == Text("a phrase", quoted=True)
    assert (phrase.start, phrase.end) == (17, 27)
    assert isinstance(regex, Match) and regex.value == Regex("fail(ed)?")
    assert isinstance(negated, Not) and isinstance(negated.child, Match) and negated.start == 40
    assert negated.child.value == Wildcard(((False, "health"), (True, "*")))
    assert isinstance(attribute, Match) and attribute.field and attribute.field.name == "attributes.user_id"
    assert attribute.value == Text("42")  # a bare key is an attribute
    assert (
        isinstance(resource, Match)
        and resource.field
        and (resource.field.column, resource.field.key)
        == (
            "resource",
            "host.name",
        )
    )


def test_values_typed_by_field() -> None:
    assert parse("level:Error") == Levels(("ERROR",), 0, 11)
    assert parse("level:warning") == Levels(("WARN",), 0, 13)
    low = parse("level < info")
    assert isinstance(low, Levels) and low.levels == ("TRACE", "DEBUG")
    comparison = parse("duration_ms >= 2.5")
    assert isinstance(comparison, Compare) and comparison.op == ">=" and comparison.number == Decimal("2.5")
    when = parse("@timestamp > 2026-12-01T10:00+01:00")
    assert isinstance(when, Compare) and when.time == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    day = parse("@timestamp:2026-12-01")
    assert isinstance(day, TimeSpan) and (day.high - day.low).days == 1
    assert isinstance(parse("user:*"), Exists)
    assert isinstance(parse("x != 5"), Not)
    trace = parse("trace_id:ABCDEF")
    assert isinstance(trace, Match) and trace.value == Text("abcdef")
    escaped = parse(r"a\*b")  # an escaped star is a plain character
    assert isinstance(escaped, Match) and escaped.value == Text("a*b")
    url = parse("url:http://x/y")  # a value runs to the next space: colons and slashes need no quotes
    assert isinstance(url, Match) and url.value == Text("http://x/y")


# query, 0-based position of the mistake, part of the message
BAD = [
    ("(a OR b", 0, "never closed"),
    ("a OR", 4, "needs a search term after"),
    ("AND a", 0, "needs a search term before"),
    ("a OR OR b", 5, "cannot follow OR"),
    ("a)", 1, "closes no '('"),
    ("()", 0, "empty parentheses"),
    ("service:", 8, "value is missing"),
    ("> 5", 0, "needs a field name"),
    ('say "hello', 4, "no closing quote"),
    ("x /ab", 2, "no closing /"),
    ("level:bogus", 6, "not a level"),
    ("severity_number > many", 18, "not a number"),
    ("severity_number:1.5", 16, "whole numbers"),
    ("@timestamp > yesterday", 13, "not a time"),
    ("service:x /a(b/", 12, "bad regular expression"),
    ("message > 5", 8, "is text"),
    ("service:a AND attributes:x", 14, "is a map"),
    ("NOT", 3, "needs a search term after"),
    ("/a\\bc/", 2, "word boundaries"),
    ("a\\", 1, "backslash"),
    ("x:/a^b/", 4, "can only start"),
    ("service:(a OR level:x)", 14, "a field inside service:( ... )"),
    ("service:(a OR b", 8, "never closed"),
    ("level:(error OR nope)", 16, "not a level"),
]


@pytest.mark.parametrize(("query", "position", "message"), BAD, ids=[b[0] for b in BAD])
def test_mistakes_name_their_position(query: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    error = caught.value
    assert isinstance(error, QueryError)  # the dashboard shows every QueryError
    assert message in error.message
    assert error.position == position, (error.position, str(error))
    text = str(error)
    assert f"(column {position + 1})" in text
    line, caret = error.caret().splitlines()
    assert line == query and caret == " " * position + "^"
    assert caret in text


QUERY_ALPHABET = st.sampled_from([*'abc:*?()"/\\-<>=! .5', "AND", "OR", "NOT", "level", "@timestamp", "x."])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(QUERY_ALPHABET, max_size=16))
def test_any_text_parses_or_is_a_positioned_error(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        node = parse(text)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        return
    to_sql(node)
    to_es(node, lambda path, regex: [])


# -- numbers as regular expressions (Elasticsearch's attributes) -------------------------------

numbers = st.one_of(
    st.integers(-100_000, 100_000).map(str),
    st.decimals(-10_000, 10_000, places=3, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.sampled_from(["0", "-0", "0.0", "0.5", "-0.5", "10", "100", "99.99", "1.10", "2.0", "0.001"]),
)
OPS = {">": Decimal.__gt__, ">=": Decimal.__ge__, "<": Decimal.__lt__, "<=": Decimal.__le__, "=": Decimal.__eq__}


@settings(max_examples=400, deadline=None)
@given(bound=numbers, op=st.sampled_from(sorted(OPS)), values=st.lists(numbers, min_size=1, max_size=30))
def test_compare_regex_is_the_comparison(bound: str, op: str, values: list[str]) -> None:
    pattern = compare_regex(op, Decimal(bound))
    for value in values:
        if not re.fullmatch(NUMBER_PATTERN, value):
            continue  # "-0.000" style texts are not JSON numbers' shape (checked both sides by the SQL too)
        expected = OPS[op](Decimal(value), Decimal(bound))
        assert bool(pattern and re.fullmatch(pattern, value)) == expected, (value, op, bound, pattern)


def test_elasticsearch_dsl_uses_the_template_fields() -> None:
    asked: list[tuple[str, str]] = []

    def expand(path: str, regex: str) -> list[str]:
        asked.append((path, regex))
        return ["1500"]

    dsl = to_es(parse('service:shop user:a* duration_ms > 100 logger:/s.*/ "x y"'), expand)
    service, user, duration, logger, phrase = dsl["bool"]["filter"]
    assert service == {"term": {"service": "shop"}}
    assert user == {"prefix": {"attributes.user": "a"}}  # flattened: wildcard queries are refused there
    assert duration == {"terms": {"attributes.duration_ms": ["1500"]}}
    assert asked[0][0] == "attributes.duration_ms" and re.fullmatch(asked[0][1], "101")
    assert logger == {"regexp": {"logger": {"value": "s.*"}}}
    assert phrase["bool"]["should"][0] == {"wildcard": {"body.keyword": {"value": "*x y*", "case_insensitive": True}}}
    at = to_es(parse("@timestamp >= 2026-12-01T10:00"), expand)
    assert at == {"range": {"@timestamp": {"gte": "2026-12-01T10:00:00Z"}}}
    assert to_es(parse("severity_number < 9"), expand) == {"range": {"severity_number": {"lt": 9}}}


# -- SQL on a real files source ----------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSource]:
    log_dir = tmp_path_factory.mktemp("querylang") / "logs"
    log_dir.mkdir()
    records = query_records()
    for service in dict.fromkeys(r["service"] for r in records):
        (log_dir / f"{service}.jsonl").write_bytes(to_json_lines([r for r in records if r["service"] == service]))
    source = FileSource(log_dir, min_refresh_interval_s=0)
    source.refresh()
    yield source
    source.close()


def ids(source: FileSource, flt: LogFilter) -> set[int]:
    page = source.page(flt, limit=100)
    assert page.total == len(page.hits)
    return {int(h.record["attributes"]["id"]) for h in page.hits}


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] or "(empty)" for c in CASES])
def test_files_source_answers(files: FileSource, query: str, expected: frozenset[int]) -> None:
    assert ids(files, LogFilter(query=query)) == expected
    assert files.count(LogFilter(query=query)) == len(expected)


def test_times_without_an_offset_are_in_the_query_zone(files: FileSource) -> None:
    paris = LogFilter(query="@timestamp:2026-06-01T10:03", query_zone="Europe/Paris")  # UTC+2 in June
    assert ids(files, paris) == {3}
    assert ids(files, LogFilter(query="@timestamp:2026-06-01T10:03")) == set()  # UTC: after the last record
    assert ids(files, LogFilter(query="@timestamp < 2026-06-01T08:02Z", query_zone="Europe/Paris")) == {1}
    with pytest.raises(QueryError, match="unknown time zone"):
        files.count(LogFilter(query="@timestamp > 2026-06-01", query_zone="Mars/Olympus"))


def test_query_combines_with_the_other_filters(files: FileSource) -> None:
    assert ids(files, LogFilter(query="level:error", apps=("shop",))) == {2, 3}
    assert ids(files, LogFilter(query="receipt", apps=("mail",))) == {6, 7}
    assert ids(files, LogFilter(query="receipt", start=datetime(2026, 6, 1, 8, 7, tzinfo=UTC))) == {7}
    with pytest.raises(QuerySyntaxError):
        files.page(LogFilter(query="level:"))


def test_sql_is_parameterised() -> None:
    sql, params = to_sql(parse('service:"x\'; DROP TABLE logs; --"'))
    assert "DROP" not in sql and params == ["x'; DROP TABLE logs; --"]
