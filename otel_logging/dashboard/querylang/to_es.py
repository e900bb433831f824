"""A query as Elasticsearch query DSL over the index template of ``otel_logging.sinks.elasticsearch``.

Field types there: ``service``, ``logger``, ``trace_id``, ``span_id``, ``severity_text``, ``event_name``,
``scope_version`` keyword; ``severity_number`` integer; ``@timestamp`` date_nanos; ``body`` text with a
``body.keyword`` sub-field (values up to 1,024 characters); ``attributes``, ``resource``,
``scope_attributes`` flattened (every value a keyword).

- the message: a word or phrase is a case-insensitive ``wildcard`` ``*text*`` on ``body.keyword``, or,
  for a message too long for ``body.keyword``, a ``match_phrase`` on ``body``; a wildcard or a regular
  expression runs on ``body.keyword`` only (case-insensitive);
- keyword fields: ``term`` / ``wildcard`` / ``regexp`` (whole value, case-sensitive);
- flattened keys: ``term``, ``exists``, ``prefix`` (``abc*``); Elasticsearch refuses wildcard and regexp
  queries and compares numbers as text there, so a pattern or a comparison asks ``expand`` which
  distinct values of the key match a regular expression (``numbers.compare_regex`` for comparisons)
  and becomes a ``terms`` query on them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from otel_logging.dashboard.querylang.ast import (
    And,
    Compare,
    Exists,
    Field,
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
from otel_logging.dashboard.querylang.numbers import compare_regex
from otel_logging.dashboard.querylang.to_sql import strip_anchors
from otel_logging.record.severity import LEVEL_ALIASES, LEVEL_RANGES, UNSET_LEVEL

# ``expand(field path, Lucene regular expression)``: the distinct values of the field matching it.
Expand = Callable[[str, str], list[str]]
Query = dict[str, Any]
_LUCENE_OPERATORS = frozenset('@&~<>#"')  # Lucene RegExp operators that are plain characters in RE2
MATCH_NONE: Query = {"match_none": {}}


def to_es(node: Node | None, expand: Expand) -> Query:
    """The ``query`` of a search for ``node`` (``match_all`` for an empty query)."""
    if node is None:
        return {"match_all": {}}
    return _es(node, expand)


def iso_time(value: datetime) -> str:
    """An aware time as Elasticsearch reads it: ISO 8601 in UTC, ``Z`` for the offset."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def level_query(levels: tuple[str, ...]) -> Query:
    """Records filed under any of ``levels`` (the number's range, or the text when the number is 0)."""
    should: list[Query] = []
    for level in levels:
        if level in LEVEL_RANGES:
            low, high = LEVEL_RANGES[level]
            should.append({"range": {"severity_number": {"gte": low, "lte": high}}})
        texts = [alias for alias, name in LEVEL_ALIASES.items() if name == level]
        texts += [t.lower() for t in texts] + [t.capitalize() for t in texts]
        no_number = {"bool": {"should": [{"term": {"severity_number": 0}}, missing_field("severity_number")]}}
        if level == UNSET_LEVEL:
            known = [a for a in LEVEL_ALIASES if LEVEL_ALIASES[a] != UNSET_LEVEL]
            known += [t.lower() for t in known] + [t.capitalize() for t in known]
            should.append({"bool": {"filter": [no_number], "must_not": [{"terms": {"severity_text": known}}]}})
        elif texts:
            should.append({"bool": {"filter": [no_number, {"terms": {"severity_text": texts}}]}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def missing_field(name: str) -> Query:
    """Records without the field ``name``."""
    return {"bool": {"must_not": [{"exists": {"field": name}}]}}


def _path(fld: Field) -> str:
    return f"{fld.column}.{fld.key}" if fld.kind == "map" else fld.column


def lucene_regex(pattern: str) -> str:
    """An RE2-style pattern for Lucene: its extra operators (@ & ~ < > # ") made plain characters."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\" + c if c in _LUCENE_OPERATORS else c)
        i += 1
    return "".join(out)


def lucene_wildcard(value: Wildcard) -> str:
    """A ``wildcard`` query's value: ``*``/``?`` kept, the literal text escaped."""
    escape = str.maketrans({"\\": "\\\\", "*": "\\*", "?": "\\?"})
    return "".join(text if wild else text.translate(escape) for wild, text in value.parts)


def wildcard_as_lucene_regex(value: Wildcard) -> str:
    return "".join(
        (".*" if text == "*" else ".") if wild else "".join(c if c.isalnum() else "\\" + c for c in text)
        for wild, text in value.parts
    )


def message_regexp(pattern: str) -> str:
    """Lucene regexps match the whole value: a pattern found anywhere unless it starts with ^ / ends with $."""
    head = pattern[1:] if pattern.startswith("^") else ".*" + pattern
    return head[:-1] if head.endswith("$") and not head.endswith("\\$") else head + ".*"


def _terms(path: str, values: list[str]) -> Query:
    return {"terms": {path: values}} if values else dict(MATCH_NONE)


def _es(node: Node, expand: Expand) -> Query:
    if isinstance(node, And):
        return {"bool": {"filter": [_es(child, expand) for child in node.children]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_es(child, expand) for child in node.children], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [_es(node.child, expand)]}}
    if isinstance(node, Levels):
        return level_query(node.levels)
    if isinstance(node, TimeSpan):
        return {"range": {"@timestamp": {"gte": iso_time(node.low), "lt": iso_time(node.high)}}}
    if isinstance(node, Exists):
        if node.field.kind == "level":
            return {"match_all": {}}
        path = "body" if node.field.kind == "text" else _path(node.field)
        return {"exists": {"field": path}}
    if isinstance(node, Compare):
        return _compare(node, expand)
    return _match(node, expand)


def _compare(node: Compare, expand: Expand) -> Query:
    bound_name = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[node.op]
    if node.time is not None:
        return {"range": {"@timestamp": {bound_name: iso_time(node.time)}}}
    assert node.number is not None
    if node.field.kind == "number":
        return {"range": {node.field.column: {bound_name: int(node.number)}}}
    regex = compare_regex(node.op, node.number)
    if regex is None:
        return dict(MATCH_NONE)
    path = _path(node.field)
    return _terms(path, expand(path, regex))


def _match(node: Match, expand: Expand) -> Query:
    fld, value = node.field, node.value
    if fld is None or fld.kind == "text":
        return _message(value)
    path = _path(fld)
    if isinstance(value, Text):
        return {"term": {path: int(value.text) if fld.kind == "number" else value.text}}
    if fld.kind == "map":
        if isinstance(value, Wildcard) and value.prefix is not None:
            return {"prefix": {path: value.prefix}}
        if isinstance(value, Wildcard):
            regex = wildcard_as_lucene_regex(value)
        else:
            regex = lucene_regex(strip_anchors(value.pattern))
        return _terms(path, expand(path, regex))
    if isinstance(value, Wildcard):
        return {"wildcard": {path: {"value": lucene_wildcard(value)}}}
    return {"regexp": {path: {"value": lucene_regex(strip_anchors(value.pattern))}}}


def _message(value: Text | Wildcard | Regex) -> Query:
    if isinstance(value, Text):
        escaped = lucene_wildcard(Wildcard(((False, value.text),)))
        return {
            "bool": {
                "should": [
                    {"wildcard": {"body.keyword": {"value": f"*{escaped}*", "case_insensitive": True}}},
                    # A message longer than body.keyword keeps (1,024 characters): the analysed text.
                    {
                        "bool": {
                            "filter": [{"match_phrase": {"body": value.text}}],
                            "must_not": [{"exists": {"field": "body.keyword"}}],
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }
    if isinstance(value, Wildcard):
        pattern = lucene_wildcard(value)
        return {"wildcard": {"body.keyword": {"value": f"*{pattern}*", "case_insensitive": True}}}
    regexp = message_regexp(lucene_regex(value.pattern))
    return {"regexp": {"body.keyword": {"value": regexp, "case_insensitive": True}}}
