"""The query edits behind the sidebar's pickers and the include / exclude buttons (dashboard/query_edit.py)."""

from __future__ import annotations

import pytest

from otel_logging.dashboard.query_edit import (
    add_clause,
    clauses,
    exclude,
    field_clause,
    include,
    legacy_to_query,
    picked,
    quote_value,
    remove_field,
    set_picked,
)
from otel_logging.dashboard.querylang import parse


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", []),
        ("a b", ["a", "b"]),
        ("a AND b", ["a", "b"]),
        ("(a b)", ["(a b)"]),  # the whole query's parentheses: one clause
        ("(a) (b)", ["(a)", "(b)"]),
        ("a OR b", ["a OR b"]),
        ("level:(ERROR OR WARN) service:x", ["level:(ERROR OR WARN)", "service:x"]),
        ("-level:(error OR warn) AND ((x OR y)) AND z", ["-level:(error OR warn)", "((x OR y))", "z"]),
        ('msg:"a (b" AND c', ['msg:"a (b"', "c"]),
    ],
)
def test_top_level_clauses(query: str, expected: list[str]) -> None:
    found = clauses(query)
    assert found is not None and [query[c.start : c.end] for c in found] == expected


def test_a_query_that_does_not_parse_has_no_clauses_and_pickers_stay_empty() -> None:
    assert clauses("service:(a") is None
    assert picked("service:(a", "service") == []
    assert remove_field("service:(a", "service") == "service:(a"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("checkout", "checkout"),
        ("shop.cart", "shop.cart"),
        ("a b", '"a b"'),
        ("OR", '"OR"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("a*", '"a*"'),
        ("-x", '"-x"'),
        ("/x/", '"/x/"'),
        ("", '""'),
    ],
)
def test_values_are_written_to_match_literally(value: str, written: str) -> None:
    assert quote_value(value) == written
    node = parse(f"logger:{written}")
    assert node is not None and node.value.text == value  # type: ignore[union-attr]


def test_picking_writes_replaces_and_removes_the_fields_clause() -> None:
    query = set_picked("", "level", ["ERROR", "WARN"])
    assert query == "level:(ERROR OR WARN)"
    query = set_picked(query, "service", ["checkout"])
    assert query == "level:(ERROR OR WARN) AND service:checkout"
    assert picked(query, "level") == ["ERROR", "WARN"] and picked(query, "service") == ["checkout"]
    query = set_picked(query, "level", ["ERROR"])
    assert query == "level:ERROR AND service:checkout"
    assert set_picked(query, "level", []) == "service:checkout"
    assert set_picked(query, "service", []) == "level:ERROR"
    assert set_picked("a OR b", "logger", ["x y"]) == '(a OR b) AND logger:"x y"'  # an OR is kept whole


def test_hand_written_text_around_a_pick_is_kept() -> None:
    query = 'payment  AND   service:(a OR b)   "two words"'
    assert set_picked(query, "service", ["c"]) == 'payment  AND   service:c   "two words"'
    assert set_picked(query, "service", []) == 'payment  AND   "two words"'


def test_pickers_show_only_simple_clauses() -> None:
    assert picked("level >= warn", "level") == ["WARN", "ERROR", "FATAL"]
    assert picked("level:error OR level:warn", "level") == ["ERROR", "WARN"]
    assert picked("service:sh*", "service") == []  # a wildcard: not a pick
    assert picked("service:a AND service:b", "service") == []  # two clauses: the picker cannot show them
    assert picked("service:a OR level:error", "service") == []
    assert picked("(service:a)", "service") == ["a"]
    assert picked("-service:a", "service") == []


def test_include_and_exclude() -> None:
    assert include("", "attributes.user_id", "42") == "attributes.user_id:42"
    assert include("a OR b", "user_id", "42") == "(a OR b) AND user_id:42"
    query = exclude("service:x", "attributes.user_id", "42")
    assert query == "service:x AND -attributes.user_id:42"
    assert include(query, "attributes.user_id", "42") == "service:x AND attributes.user_id:42"  # replaces the -
    assert include("user_id:42", "attributes.user_id", "42") == "user_id:42"  # already there (same field)
    # A picker's field: include adds to its pick, exclude takes out of it while others remain.
    assert include("level:ERROR", "level", "warn") == "level:(ERROR OR WARN)"
    assert exclude("level:(ERROR OR WARN)", "level", "WARN") == "level:ERROR"
    assert exclude("level:ERROR", "level", "ERROR") == "-level:ERROR"
    assert exclude("", "service", "checkout") == "-service:checkout"
    assert include("-service:checkout", "service", "checkout") == "service:checkout"
    assert include("", "logger", "a b") == 'logger:"a b"'


def test_remove_field_and_add_clause() -> None:
    assert remove_field("service:x AND level:error AND y", "level") == "service:x AND y"
    assert remove_field("level:error", "level") == ""
    assert remove_field("level:error OR y", "level") == "level:error OR y"  # not a simple clause
    assert add_clause("", "a") == "a"
    assert add_clause("level:(a OR b)", "c") == "level:(a OR b) AND c"  # a field group is no bare OR
    assert add_clause("(a OR b)", "c") == "(a OR b) AND c"
    assert field_clause("service", []) == ""


def test_old_link_filters_become_clauses() -> None:
    query = legacy_to_query("x OR y", ["ERROR"], ["shop", "mail"], ["a.b"], ["user=ann", "k!=c d", "bad"], "fail now")
    assert (
        query
        == '(x OR y) AND level:ERROR AND service:(shop OR mail) AND logger:a.b AND user:ann AND -k:"c d" AND "fail now"'
    )
    assert legacy_to_query("", search="a/b", regex=True) == "/a\\/b/"
    parse(query)
