"""The one severity table: OpenTelemetry severity numbers, their texts, level names and stdlib levels.

OpenTelemetry severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
Every other module derives what it needs from ``ROWS``:

- the client handlers send stdlib level names with ``stdlib_text`` (``WARNING`` -> ``WARN``,
  ``CRITICAL`` -> ``FATAL``);
- log-file ingestion reads a level name or stdlib number with ``severity``; there the level name
  ``notset`` means TRACE (a line that says it has no level is the lowest one);
- the dashboard files a record under a level with ``level_of``; there a record whose severity text
  is ``NOTSET`` (and that has no severity number) is ``UNSET``, like one without any severity;
- the aggregation handlers turn a severity number back into a stdlib level with ``to_stdlib_level``.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple


class Severity(NamedTuple):
    text: str  # the OpenTelemetry severity text
    number: int  # the lowest severity number of the level (the level spans number..number+3)
    stdlib: int  # the stdlib level a record of this level becomes (TRACE has none: DEBUG)
    names: tuple[str, ...]  # lower-case level names log lines use for it (ingestion)


ROWS: tuple[Severity, ...] = (
    Severity("TRACE", 1, logging.DEBUG, ("trace", "notset")),
    Severity("DEBUG", 5, logging.DEBUG, ("debug", "dbug")),
    Severity("INFO", 9, logging.INFO, ("info", "information", "informational", "notice")),
    Severity("WARN", 13, logging.WARNING, ("warn", "warning")),
    Severity("ERROR", 17, logging.ERROR, ("error", "err", "exception")),
    Severity("FATAL", 21, logging.CRITICAL, ("critical", "crit", "fatal", "alert", "emerg", "emergency", "panic")),
)

# --- the dashboard's levels -------------------------------------------------------------------
LEVELS: tuple[str, ...] = tuple(row.text for row in ROWS)
UNSET_LEVEL = "UNSET"
LEVEL_RANGES: dict[str, tuple[int, int]] = {row.text: (row.number, row.number + 3) for row in ROWS}
# Severity texts of records without a severity number, mapped onto the six levels (the dashboard's
# SQL and Elasticsearch level queries are built from this, in this order).
LEVEL_ALIASES: dict[str, str] = {
    **{name: name for name in LEVELS},
    "WARNING": "WARN",
    "CRITICAL": "FATAL",
    "FATAL": "FATAL",
    "ERR": "ERROR",
    "NOTSET": UNSET_LEVEL,
}
ERROR_LEVELS: tuple[str, ...] = ("ERROR", "FATAL")


def level_of(severity_number: int | None, severity_text: str | None) -> str:
    """The level a record is filed under (the same rule as the dashboard sources' level column)."""
    if severity_number:
        for name, (low, high) in LEVEL_RANGES.items():
            if low <= severity_number <= high:
                return name
    return LEVEL_ALIASES.get((severity_text or "").upper(), UNSET_LEVEL)


# --- stdlib level names as the client sends them -------------------------------------------------
STDLIB_TEXT: dict[str, str] = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def stdlib_text(levelname: str) -> str:
    """The severity text sent for a stdlib level name (``WARNING`` -> ``WARN``, others unchanged)."""
    return STDLIB_TEXT.get(levelname, levelname)


# --- ingestion: level names and stdlib numbers ---------------------------------------------------
SEVERITY_BY_NAME: dict[str, tuple[int, str]] = {}
for _row in ROWS:
    for _name in _row.names:
        for _spelling in (_name, _name.upper(), _name.capitalize()):
            SEVERITY_BY_NAME[_spelling] = (_row.number, _row.text)
del _row, _name, _spelling

STDLIB_NUMBERS: dict[int, tuple[int, str]] = {
    0: (0, ""),
    **{row.stdlib: (row.number, row.text) for row in ROWS if row.text != "TRACE"},
}


def severity(value: Any) -> tuple[int, str]:
    """A level name (any case) or stdlib level number -> (OTel severity number, text)."""
    if isinstance(value, str):
        found = SEVERITY_BY_NAME.get(value) or SEVERITY_BY_NAME.get(value.strip().lower())
        if found is not None:
            return found
        if value.isdigit():
            return severity(int(value))
        return 0, value
    if isinstance(value, int) and not isinstance(value, bool):
        found = STDLIB_NUMBERS.get(value)
        if found is not None:
            return found
        # stdlib numbers between the named levels: 11-19 -> DEBUG2.., as OTel's mapping does
        base = max(k for k in STDLIB_NUMBERS if k <= value) if value > 0 else 0
        number, text = STDLIB_NUMBERS.get(min(base, 50), (0, ""))
        return min(number + (value - base) // 3, 24), text
    return 0, ""


# --- back to stdlib --------------------------------------------------------------------------
def to_stdlib_level(severity_number: int) -> int:
    """The stdlib level of a severity number (TRACE -> DEBUG; 0 or below -> NOTSET)."""
    for row in reversed(ROWS):
        if severity_number >= row.number:
            return row.stdlib
    return logging.NOTSET
