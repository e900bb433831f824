"""otel_logging.record.severity: the one severity table and its uses."""

from __future__ import annotations

import logging

import pytest

from otel_logging.dashboard import filters
from otel_logging.ingest import records
from otel_logging.record import severity as sev


def test_old_names_are_the_shared_table() -> None:
    assert filters.LEVELS is sev.LEVELS
    assert filters.LEVEL_ALIASES is sev.LEVEL_ALIASES
    assert filters.LEVEL_RANGES is sev.LEVEL_RANGES
    assert filters.level_of is sev.level_of
    assert records.SEVERITY_BY_NAME is sev.SEVERITY_BY_NAME
    assert records.severity is sev.severity


def test_levels_and_ranges() -> None:
    assert sev.LEVELS == ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    assert sev.LEVEL_RANGES["TRACE"] == (1, 4)
    assert sev.LEVEL_RANGES["FATAL"] == (21, 24)


def test_level_aliases_exact_set_and_order() -> None:
    # the dashboard's SQL CASE and Elasticsearch level queries are built from this, in this order
    assert list(sev.LEVEL_ALIASES.items()) == [
        ("TRACE", "TRACE"),
        ("DEBUG", "DEBUG"),
        ("INFO", "INFO"),
        ("WARN", "WARN"),
        ("ERROR", "ERROR"),
        ("FATAL", "FATAL"),
        ("WARNING", "WARN"),
        ("CRITICAL", "FATAL"),
        ("ERR", "ERROR"),
        ("NOTSET", "UNSET"),
    ]


def test_notset_two_documented_uses() -> None:
    # dashboard: a record whose severity text is NOTSET is UNSET
    assert sev.level_of(0, "NOTSET") == sev.UNSET_LEVEL
    assert sev.level_of(None, "notset") == "UNSET"
    # ingestion: the level name notset is TRACE
    assert sev.severity("notset") == (1, "TRACE")
    assert sev.severity("NOTSET") == (1, "TRACE")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("warning", (13, "WARN")),
        ("Warning", (13, "WARN")),
        (" err ", (17, "ERROR")),
        ("panic", (21, "FATAL")),
        ("30", (13, "WARN")),
        (0, (0, "")),
        (10, (5, "DEBUG")),
        (15, (6, "DEBUG")),
        (50, (21, "FATAL")),
        (99, (24, "FATAL")),
        ("custom", (0, "custom")),
        (True, (0, "")),
        (None, (0, "")),
    ],
)
def test_severity(value: object, expected: tuple[int, str]) -> None:
    assert sev.severity(value) == expected


def test_level_of() -> None:
    assert sev.level_of(9, "whatever") == "INFO"
    assert sev.level_of(0, "warning") == "WARN"
    assert sev.level_of(None, "CRITICAL") == "FATAL"
    assert sev.level_of(0, "") == "UNSET"
    assert sev.level_of(25, None) == "UNSET"


def test_stdlib_text() -> None:
    assert sev.stdlib_text("WARNING") == "WARN"
    assert sev.stdlib_text("CRITICAL") == "FATAL"
    assert sev.stdlib_text("INFO") == "INFO"
    assert sev.stdlib_text("Level 5") == "Level 5"


@pytest.mark.parametrize(
    ("number", "level"),
    [
        (0, logging.NOTSET),
        (-1, logging.NOTSET),
        (1, logging.DEBUG),
        (4, logging.DEBUG),
        (5, logging.DEBUG),
        (9, logging.INFO),
        (13, logging.WARNING),
        (17, logging.ERROR),
        (21, logging.CRITICAL),
        (24, logging.CRITICAL),
    ],
)
def test_to_stdlib_level(number: int, level: int) -> None:
    assert sev.to_stdlib_level(number) == level
