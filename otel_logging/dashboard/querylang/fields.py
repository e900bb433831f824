"""The fields a query can name, and what kind of value each holds."""

from __future__ import annotations

from otel_logging.dashboard.querylang.ast import Field, FieldKind

# The record's own fields (the name as written -> kind, column).
RECORD_FIELDS: dict[str, tuple[FieldKind, str]] = {
    "service": ("keyword", "service"),
    "logger": ("keyword", "logger"),
    "trace_id": ("keyword", "trace_id"),
    "span_id": ("keyword", "span_id"),
    "severity_text": ("keyword", "severity_text"),
    "event_name": ("keyword", "event_name"),
    "scope_version": ("keyword", "scope_version"),
    "severity_number": ("number", "severity_number"),
    "level": ("level", "level"),
    "message": ("text", "message"),
    "body": ("text", "message"),
    "@timestamp": ("time", "@timestamp"),
}
MAP_COLUMNS: tuple[str, ...] = ("attributes", "resource", "scope_attributes")
LOWERCASE_VALUES = frozenset({"trace_id", "span_id"})  # hex ids are stored in lower case


def resolve_field(name: str, start: int, end: int) -> Field | str:
    """The field ``name`` names, or why it names none (a message for the user)."""
    if name in RECORD_FIELDS:
        kind, column = RECORD_FIELDS[name]
        return Field(name, kind, column, "", start, end)
    head, dot, rest = name.partition(".")
    if head in MAP_COLUMNS:
        if not dot or not rest:
            return f"{head!r} is a map: name a key inside it, e.g. {head}.some_key"
        if rest.startswith(".") or rest.endswith("."):
            return f"{name!r} is not a key: no empty parts between dots"
        return Field(name, "map", head, rest, start, end)
    if not name or name.startswith(".") or name.endswith("."):
        return f"{name!r} is not a field name"
    return Field(f"attributes.{name}", "map", "attributes", name, start, end)  # a bare key is an attribute
