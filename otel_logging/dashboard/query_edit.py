"""Edits of the query bar's text: the sidebar's pickers and the include / exclude buttons are
shortcuts that add, change or remove one top-level clause, so the query is the one filter state.

A query is read as top-level clauses joined by AND (written or implied); a query whose top is an
OR is one clause (it is put in parentheses before a clause is added after it). A *simple* clause of
a picker's field is ``level:ERROR``, ``level:(ERROR OR WARN)``, ``service:checkout``,
``service:(a OR b)`` (or an equivalent such as ``level >= warn``): the picker shows its values.
Anything else (a hand-written ``service:check*``, two clauses on the same field) leaves the picker
empty and still applies. Text outside the edited clause is kept as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from otel_logging.dashboard.querylang import QuerySyntaxError, parse
from otel_logging.dashboard.querylang.ast import And, Levels, Match, Node, Not, Or, Text
from otel_logging.dashboard.querylang.fields import resolve_field
from otel_logging.record.severity import LEVELS, UNSET_LEVEL

PICKER_FIELDS: tuple[str, ...] = ("level", "service", "logger")
_PLAIN_STOP = frozenset(' \t\r\n():=<>"\\*?!')
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
JOIN = " AND "


@dataclass(frozen=True)
class Clause:
    start: int  # the clause's text is query[start:end], its own parentheses included
    end: int
    node: Node


def quote_value(value: str) -> str:
    """``value`` as a query value that matches it literally: a plain word as it is, else a "phrase"."""
    plain = (
        value
        and not any(c in _PLAIN_STOP for c in value)
        and value not in _KEYWORDS
        and not value.startswith(("/", "-"))
    )
    if plain:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_field(name: str) -> str:
    """A field name with the characters that end a word escaped."""
    return "".join(f"\\{c}" if c in _PLAIN_STOP else c for c in name)


def regex_term(pattern: str) -> str:
    """A bare ``/regex/`` searching the message."""
    return "/" + pattern.replace("/", "\\/") + "/"


def field_clause(name: str, values: Iterable[str]) -> str:
    """``name:value`` or ``name:(a OR b)``; empty for no values."""
    quoted = [quote_value(v) for v in values]
    if not quoted:
        return ""
    body = quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"
    return f"{quote_field(name)}:{body}"


def clauses(query: str) -> list[Clause] | None:
    """The query's top-level clauses, in text order; None when it does not parse."""
    try:
        node = parse(query)
    except QuerySyntaxError:
        return None
    if node is None:
        return []
    if not isinstance(node, And):
        return [Clause(*_widen(query, node.start, node.end, 0, len(query)), node)]
    found: list[Clause] = []
    children = node.children
    for i, child in enumerate(children):
        low = children[i - 1].end if i else 0
        high = children[i + 1].start if i + 1 < len(children) else len(query)
        found.append(Clause(*_widen(query, child.start, child.end, low, high), child))
    if _wrapped(query, found):  # "(a b)": the outer parentheses are the whole query's, not a clause's
        return [Clause(found[0].start, found[-1].end, node)]
    return found


def _widen(text: str, start: int, end: int, low: int, high: int) -> tuple[int, int]:
    """[start, end) grown over the parentheses (and spaces between them) that enclose it, within [low, high)."""
    i = start
    while i > low and (text[i - 1] == "(" or text[i - 1].isspace()):
        i -= 1
    while i < start and text[i] != "(":
        i += 1
    j = end
    while j < high and (text[j] == ")" or text[j].isspace()):
        j += 1
    while j > end and text[j - 1] != ")":
        j -= 1
    return i, j


def _wrapped(text: str, found: list[Clause]) -> bool:
    """True when the first clause's leading '(' is closed by the last clause's trailing ')'."""
    first, last = text[found[0].start : found[0].end], text[found[-1].start : found[-1].end]
    if not (first.startswith("(") and last.endswith(")")):
        return False
    inner = text[found[0].start + 1 : found[-1].end - 1]
    try:
        parse(inner)
    except QuerySyntaxError:
        return False
    return True


def picked(query: str, name: str) -> list[str]:
    """The values a picker of ``name`` (level, service, logger) shows: those of its one simple clause."""
    found = [values for c in clauses(query) or [] if (values := _simple_values(c.node, name)) is not None]
    return found[0] if len(found) == 1 else []


def set_picked(query: str, name: str, values: Iterable[str]) -> str:
    """The query with ``name``'s simple clause made ``values`` (removed when none, added when there is none)."""
    values = list(dict.fromkeys(values))
    found = clauses(query)
    text = field_clause(name, values)
    simple = [c for c in found or [] if _simple_values(c.node, name) is not None]
    if len(simple) == 1:
        return _replace(query, found or [], simple[0], text)
    return add_clause(query, text) if text else query


def add_clause(query: str, text: str) -> str:
    """The query AND ``text``; a query whose top is an OR is put in parentheses first."""
    if not text:
        return query
    if not query.strip():
        return text
    found = clauses(query)
    base = query.strip()
    if found is not None and len(found) == 1 and _bare_or(found[0].node) and not base.startswith("("):
        base = f"({base})"
    return base + JOIN + text


def remove_field(query: str, name: str) -> str:
    """The query without ``name``'s simple clauses (a picker's counts are taken without its own pick)."""
    return _drop(query, lambda node: _simple_values(node, name) is not None)


def include(query: str, name: str, value: str) -> str:
    """Keep records whose ``name`` is ``value``: a picker's field gets the value added to its pick;
    any other field a ``name:value`` clause. An exclusion of the same value is dropped."""
    query = _drop(query, lambda node: isinstance(node, Not) and _is_match(node.child, name, value))
    if name in PICKER_FIELDS:
        current = picked(query, name)
        if current or _has_simple(query, name):
            value = _canon(name, value)
            return query if value in current else set_picked(query, name, [*current, value])
    if any(_is_match(c.node, name, value) for c in clauses(query) or []):
        return query
    return add_clause(query, field_clause(name, [value]))


def exclude(query: str, name: str, value: str) -> str:
    """Drop records whose ``name`` is ``value``: out of a picker's pick when it is one of several
    values there, else a ``-name:value`` clause (an inclusion of the same value is dropped)."""
    if name in PICKER_FIELDS:
        current = picked(query, name)
        value_key = _canon(name, value)
        if value_key in current and len(current) > 1:
            return set_picked(query, name, [v for v in current if v != value_key])
    query = _drop(query, lambda node: _is_match(node, name, value))
    if any(isinstance(c.node, Not) and _is_match(c.node.child, name, value) for c in clauses(query) or []):
        return query
    return add_clause(query, "-" + field_clause(name, [value]))


def legacy_to_query(
    query: str,
    levels: Iterable[str] = (),
    services: Iterable[str] = (),
    loggers: Iterable[str] = (),
    matches: Iterable[str] = (),
    search: str = "",
    regex: bool = False,
) -> str:
    """The query bar's text for a link from before it had the filters (``level=``, ``service=``,
    ``logger=``, ``f=field=value`` / ``f=field!=value``, ``s=`` with ``re=``)."""
    for name, values in (("level", levels), ("service", services), ("logger", loggers)):
        query = add_clause(query, field_clause(name, [v for v in values if v]))
    for line in matches:
        field, eq, value = line.partition("=")
        if not eq or not field.strip(" !"):
            continue
        negate = field.endswith("!")
        text = field_clause(field.rstrip("!").strip(), [value.strip()])
        query = add_clause(query, "-" + text if negate else text)
    if search:
        query = add_clause(query, regex_term(search) if regex else quote_value(search))
    return query


# -- helpers -----------------------------------------------------------------------------------


def _bare_or(node: Node) -> bool:
    """An OR that is not a field group (``level:(a OR b)``: its values all start at the field's name)."""
    return isinstance(node, Or) and len({child.start for child in node.children}) > 1


def _canon(name: str, value: str) -> str:
    if name == "level":
        upper = value.upper()
        return upper if upper in (*LEVELS, UNSET_LEVEL) else value
    return value


def _field_name(name: str) -> str:
    found = resolve_field(name, 0, 0)
    return name if isinstance(found, str) else found.name


def _is_match(node: Node, name: str, value: str) -> bool:
    if name == "level":
        return isinstance(node, Levels) and node.levels == (_canon(name, value),)
    return (
        isinstance(node, Match)
        and node.field is not None
        and node.field.name == _field_name(name)
        and isinstance(node.value, Text)
        and node.value.text == value
    )


def _simple_values(node: Node, name: str) -> list[str] | None:
    """The values of a simple clause of ``name``, or None when the clause is not one."""
    items = node.children if isinstance(node, Or) else (node,)
    values: list[str] = []
    for item in items:
        if name == "level" and isinstance(item, Levels):
            values.extend(item.levels)
        elif (
            name != "level"
            and isinstance(item, Match)
            and item.field is not None
            and item.field.name == _field_name(name)
            and isinstance(item.value, Text)
        ):
            values.append(item.value.text)
        else:
            return None
    return list(dict.fromkeys(values))


def _has_simple(query: str, name: str) -> bool:
    return any(_simple_values(c.node, name) is not None for c in clauses(query) or [])


def _drop(query: str, condition: Callable[[Node], bool]) -> str:
    """The query without the top-level clauses ``condition(node)`` holds for."""
    while True:
        found = clauses(query) or []
        hit = next((c for c in found if condition(c.node)), None)
        if hit is None:
            return query
        query = _replace(query, found, hit, "")


def _replace(query: str, found: list[Clause], clause: Clause, text: str) -> str:
    """``clause`` replaced by ``text``; with an empty ``text`` removed with the AND that joined it."""
    if text:
        return query[: clause.start] + text + query[clause.end :]
    index = found.index(clause)
    if len(found) == 1:
        return (query[: clause.start] + query[clause.end :]).strip()
    if index + 1 < len(found):  # up to the next clause: the joining AND goes too
        return (query[: clause.start] + query[found[index + 1].start :]).strip()
    return (query[: found[index - 1].end] + query[clause.end :]).strip()
