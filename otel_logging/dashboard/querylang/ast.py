"""The typed syntax tree of a query. Every node knows where it is in the query text (``start``, ``end``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

# What a field holds, which decides what a value means for it:
#   keyword  exact text (service, logger, trace_id, ...)      text   the message (case-insensitive search)
#   number   severity_number                                   time   @timestamp
#   level    the dashboard's level names                       map    a key inside attributes / resource
FieldKind = Literal["keyword", "text", "number", "time", "level", "map"]
CompareOp = Literal[">", ">=", "<", "<="]


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as resolved: "service", "message", "attributes.user_id", ...
    kind: FieldKind
    column: str  # the record's column: "service", "message", "attributes", ...
    key: str = ""  # the key inside a map column
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class Text:
    """A word or a "phrase": matched as it is (no wildcards)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A word with ``*`` (any characters) or ``?`` (one character): ``parts`` alternate literal text and wildcards."""

    parts: tuple[tuple[bool, str], ...]  # (is_wildcard, text): text is "*" or "?" for a wildcard

    @property
    def prefix(self) -> str | None:
        """The literal text before a single trailing ``*`` (``abc*``), else None."""
        if len(self.parts) == 2 and not self.parts[0][0] and self.parts[1] == (True, "*"):
            return self.parts[0][1]
        return None


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str  # between the slashes, ``\/`` made ``/``


Value = Text | Wildcard | Regex


@dataclass(frozen=True, slots=True)
class Match:
    """``field:value``, or a bare value (``field`` None: the message)."""

    field: Field | None
    value: Value
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Exists:
    """``field:*``: the record has the field."""

    field: Field
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Compare:
    """``field > value`` (and ``>=``, ``<``, ``<=``): a number (``number``) or a time (``time``, UTC)."""

    field: Field
    op: CompareOp
    number: Decimal | None
    time: datetime | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """``@timestamp:2026-12-01``: the day, minute, second... the value names (``[low, high)``, UTC)."""

    field: Field
    low: datetime
    high: datetime
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Levels:
    """``level:error``, ``level >= warn``: records filed under one of ``levels``."""

    levels: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    start: int
    end: int


Node = Match | Exists | Compare | TimeSpan | Levels | Not | And | Or
