"""A recursive-descent parser from query text to the typed tree of ``ast``.

Grammar (``OR`` binds loosest, then ``AND`` - written or implied between terms - then ``NOT``/``-``)::

    query   := [or] EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | term
    term    := WORD ((":" | "=") value | OP value)?  |  PHRASE  |  REGEX
    value   := WORD | PHRASE | REGEX

Values are checked against their field here (a level name, a number, a time, a regular expression
both sources can run), so a mistake is reported with its position before any source is asked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

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
    Value,
    Wildcard,
)
from otel_logging.dashboard.querylang.errors import QuerySyntaxError
from otel_logging.dashboard.querylang.fields import LOWERCASE_VALUES, resolve_field
from otel_logging.dashboard.querylang.lexer import Lexer, Token
from otel_logging.record.severity import LEVEL_ALIASES, LEVELS, UNSET_LEVEL

MAX_DEPTH = 100
_TERM_START = frozenset({"WORD", "PHRASE", "REGEX", "(", "NOT", "-"})
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?(Z|z|[+-]\d{2}:?\d{2})?"
)
# Regular-expression features that RE2 (the files source) and Lucene (Elasticsearch) do not share.
_REGEX_UNSHARED = (
    (re.compile(r"\\[bBAzZ]"), "word boundaries and \\A \\z anchors"),
    (re.compile(r"\\[0-9]"), "back references"),
    (re.compile(r"\\[tnrfvxuUpPQE]"), "escapes such as \\n, \\t, \\x41, \\p{..}"),
    (re.compile(r"\(\?"), "groups with (? (flags, non-capturing, look-around)"),
    (re.compile(r"\[:"), "POSIX classes such as [:alpha:]"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers such as a*+"),
)


@functools.lru_cache(maxsize=256)  # a page asks about one query many times (pickers, counts, chart, rows)
def parse(text: str, zone: tzinfo = UTC) -> Node | None:
    """The tree of ``text``; None for an empty query (no condition). A time without an offset is in ``zone``.

    The tree is immutable, so one parse serves every caller."""
    return _Parser(text, zone).parse()


class _Parser:
    def __init__(self, text: str, zone: tzinfo = UTC) -> None:
        self.text = text
        self.zone = zone
        self.lexer = Lexer(text)
        self._ahead: Token | None = None
        self.depth = 0
        self.group: tuple[Token, Token] | None = None  # inside field:( ... ): the field's name and its ':'

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, position, self.text)

    def peek(self) -> Token:
        if self._ahead is None:
            self._ahead = self.lexer.next()
        return self._ahead

    def take(self) -> Token:
        token = self.peek()
        self._ahead = None
        return token

    def parse(self) -> Node | None:
        if self.peek().kind == "EOF":
            return None
        node = self.or_()
        token = self.peek()
        if token.kind == ")":
            raise self.error("this ')' closes no '('", token.start)
        if token.kind != "EOF":  # (cannot happen: every other token starts a term or joins two)
            raise self.error(f"unexpected {token.text!r}", token.start)
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.peek().kind == "OR":
            op = self.take()
            self.expect_term(op)
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items), items[0].start, items[-1].end)

    def and_(self) -> Node:
        items = [self.unary()]
        while True:
            token = self.peek()
            if token.kind == "AND":
                self.take()
                self.expect_term(token)
            elif token.kind not in _TERM_START:
                break
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items), items[0].start, items[-1].end)

    def expect_term(self, after: Token) -> None:
        token = self.peek()
        if token.kind == "EOF":
            raise self.error(f"{after.text} needs a search term after it", token.start)
        if token.kind in ("AND", "OR"):
            raise self.error(f"{token.text} cannot follow {after.text}: put a search term between them", token.start)
        if token.kind == ")":
            raise self.error(f"{after.text} needs a search term after it, before ')'", token.start)

    def unary(self) -> Node:
        token = self.peek()
        if token.kind in ("NOT", "-"):
            self.take()
            self.expect_term(Token(token.kind, token.start, token.end, "NOT" if token.kind == "NOT" else "'-'"))
            child = self.nested(self.unary)
            return Not(child, token.start, child.end)
        return self.primary()

    def nested(self, rule: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the query nests deeper than {MAX_DEPTH} levels", self.peek().start)
        try:
            return rule()
        finally:
            self.depth -= 1

    def primary(self) -> Node:
        token = self.peek()
        if token.kind == "(":
            self.take()
            if self.peek().kind == ")":
                raise self.error("empty parentheses: put a search term inside", token.start)
            self.expect_term(Token("(", token.start, token.end, "'('"))
            node = self.nested(self.or_)
            close = self.peek()
            if close.kind != ")":
                raise self.error("this '(' is never closed: add ')'", token.start)
            self.take()
            return node
        if token.kind in ("AND", "OR"):
            raise self.error(f"{token.text} needs a search term before it", token.start)
        if token.kind == ")":
            raise self.error("this ')' closes no '('", token.start)
        if token.kind in (":", "OP"):
            raise self.error(f"{token.text!r} needs a field name before it, e.g. service:checkout", token.start)
        if token.kind == "EOF":
            raise self.error("a search term is missing here", token.start)
        self.take()
        if self.group is not None:  # field:(a OR "b c" OR /d/): each value is the group's field's
            follow = self.peek()
            if follow.kind in (":", "OP"):
                where = f"{self.group[0].text}:( ... )"
                raise self.error(f"a field inside {where}: write it outside the parentheses", token.start)
            return self.field_value(*self.group, token)
        if token.kind == "PHRASE":
            return Match(None, Text(token.text, quoted=True), token.start, token.end)
        if token.kind == "REGEX":
            return Match(None, Regex(self.check_regex(token.text, token.start)), token.start, token.end)
        follow = self.peek()
        if follow.kind == ":":
            self.take()
            return self.field_match(token, follow)
        if follow.kind == "OP":
            self.take()
            return self.comparison(token, follow)
        return Match(None, self.word_value(token), token.start, token.end)

    # -- terms with a field ---------------------------------------------------------------------

    def field(self, token: Token) -> Field:
        if token.has_wildcard:
            raise self.error("a field name cannot have wildcards (escape them with \\)", token.start)
        found = resolve_field(token.text, token.start, token.end)
        if isinstance(found, str):
            raise self.error(found, token.start)
        return found

    def field_match(self, name: Token, colon: Token) -> Node:
        self.field(name)
        if self.lexer.at("("):  # level:(error OR warn)
            if self.group is not None:
                raise self.error("a field group inside a field group", name.start)
            self.group = (name, colon)
            try:
                return self.primary()
            finally:
                self.group = None
        return self.field_value(name, colon, self.lexer.value())

    def field_value(self, name: Token, colon: Token, value: Token) -> Node:
        fld = self.field(name)
        if value.kind == "EOF":
            raise self.error(f"a value is missing after '{name.text}{colon.text}'", value.start)
        start, end = name.start, value.end
        if value.kind == "WORD" and value.chars == ((True, "*"),):
            return Exists(fld, start, end)
        if fld.kind == "level":
            return Levels(self.levels(value), start, end)
        if fld.kind == "time":
            low, high = self.time_span(value)
            return TimeSpan(fld, low, high, start, end)
        if fld.kind == "number":
            if value.kind != "WORD" or value.has_wildcard:
                raise self.error(f"{fld.name} is a number: write e.g. {fld.name}:17 or {fld.name} >= 17", value.start)
            return Match(fld, Text(str(int(self.number(value, integer=True)))), start, end)
        if value.kind == "REGEX":
            return Match(fld, Regex(self.check_regex(value.text, value.start)), start, end)
        parsed: Value = Text(value.text, quoted=True) if value.kind == "PHRASE" else self.word_value(value)
        if fld.column in LOWERCASE_VALUES and not isinstance(parsed, Regex):
            parsed = _lower(parsed)
        return Match(fld, parsed, start, end)

    def comparison(self, name: Token, op: Token) -> Node:
        fld = self.field(name)
        value = self.lexer.value(regex=False)
        if value.kind == "EOF":
            raise self.error(f"a value is missing after '{name.text} {op.text}'", value.start)
        start, end = name.start, value.end
        if op.text == "!=":
            colon = Token(":", op.start, op.end, ":")
            self.lexer.pos = value.start  # read the value again as after ':'
            return Not(self.field_value(name, colon, self.lexer.value()), start, end)
        if value.kind != "WORD" or value.has_wildcard:
            raise self.error(f"{op.text!r} compares with a number or a time, not a phrase or pattern", value.start)
        if fld.kind == "level":
            levels = self.levels(value)
            rank = LEVELS.index(levels[0]) if levels[0] in LEVELS else -1
            if rank < 0:
                raise self.error(f"{levels[0]} has no order: compare with one of {', '.join(LEVELS)}", value.start)
            keep = {
                ">": LEVELS[rank + 1 :],
                ">=": LEVELS[rank:],
                "<": LEVELS[:rank],
                "<=": LEVELS[: rank + 1],
            }[op.text]
            return Levels(tuple(keep), start, end)
        if fld.kind == "time":
            return Compare(fld, op.text, None, self.time_span(value)[0], start, end)  # type: ignore[arg-type]
        if fld.kind in ("number", "map"):
            return Compare(fld, op.text, self.number(value, integer=fld.kind == "number"), None, start, end)  # type: ignore[arg-type]
        raise self.error(
            f"{fld.name} is text: '{op.text}' compares numbers (severity_number, attributes) and times (@timestamp)",
            op.start,
        )

    # -- values ---------------------------------------------------------------------------------

    def word_value(self, token: Token) -> Value:
        if not token.has_wildcard:
            return Text(token.text)
        parts: list[tuple[bool, str]] = []
        for wild, c in token.chars:
            if not wild and parts and not parts[-1][0]:
                parts[-1] = (False, parts[-1][1] + c)
            elif wild and c == "*" and parts and parts[-1] == (True, "*"):
                continue  # ** is *
            else:
                parts.append((wild, c))
        return Wildcard(tuple(parts))

    def levels(self, value: Token) -> tuple[str, ...]:
        name = LEVEL_ALIASES.get(value.text.upper()) if value.kind in ("WORD", "PHRASE") else None
        if value.kind == "WORD" and value.has_wildcard:
            name = None
        if value.text.upper() == UNSET_LEVEL:
            name = UNSET_LEVEL
        if name is None:
            raise self.error(
                f"{value.text!r} is not a level: use one of {', '.join((*LEVELS, UNSET_LEVEL)).lower()}", value.start
            )
        return (name,)

    def number(self, token: Token, integer: bool) -> Decimal:
        if not _NUMBER.fullmatch(token.text):
            raise self.error(f"{token.text!r} is not a number", token.start)
        try:
            number = Decimal(token.text)
        except InvalidOperation as exc:  # (the pattern above only lets numbers through)
            raise self.error(f"{token.text!r} is not a number", token.start) from exc
        if integer and number != number.to_integral_value():
            raise self.error(f"{token.text!r}: this field holds whole numbers", token.start)
        return number

    def time_span(self, token: Token) -> tuple[datetime, datetime]:
        """The instant a time names and the end of its precision (a date: the day; a minute; a second...)."""
        found = _TIME.fullmatch(token.text)
        if found is None:
            raise self.error(
                f"{token.text!r} is not a time: write an RFC 3339 / ISO 8601 time such as 2026-12-01T10:00 "
                "(in the time zone of the page unless it ends with Z or an offset like +02:00)",
                token.start,
            )
        date, hour, minute, second, fraction, zone = found.groups()
        text = date + (f"T{hour}:{minute or '00'}:{second or '00'}" if hour else "")
        text += f".{(fraction or '')[:6]:0<6}" if fraction else ""
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.error(f"{token.text!r} is not a time: {exc}", token.start) from exc
        if zone and zone.upper() == "Z":
            value = value.replace(tzinfo=UTC)
        elif zone:
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            value = value.replace(tzinfo=timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))))
        value = (value.replace(tzinfo=self.zone) if value.tzinfo is None else value).astimezone(UTC)
        if fraction:
            step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
        elif second:
            step = timedelta(seconds=1)
        elif minute:
            step = timedelta(minutes=1)
        elif hour:
            step = timedelta(hours=1)
        else:
            step = timedelta(days=1)
        return value, value + step

    def check_regex(self, pattern: str, position: int) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            offset = position + 1 + (exc.pos or 0)
            raise self.error(f"bad regular expression: {exc.msg}", offset) from exc
        for finder, what in _REGEX_UNSHARED:
            found = finder.search(pattern)
            if found:
                raise self.error(
                    f"{what} are not supported in a query (both sources must run it the same way)",
                    position + 1 + found.start(),
                )
        body = pattern[1:] if pattern.startswith("^") else pattern
        body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
        for i, c in enumerate(body):
            if c in "^$" and not _in_class_or_escaped(body, i):
                at = position + 1 + i + (1 if pattern.startswith("^") else 0)
                raise self.error(f"{c!r} can only start (^) or end ($) the expression", at)
        return pattern


def _in_class_or_escaped(pattern: str, index: int) -> bool:
    """True when pattern[index] is escaped or inside a [...] class."""
    in_class = False
    i = 0
    while i < index:
        c = pattern[i]
        if c == "\\":
            i += 2
            if i > index:
                return True
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        i += 1
    return in_class


def _lower(value: Value) -> Value:
    if isinstance(value, Text):
        return Text(value.text.lower(), value.quoted)
    if isinstance(value, Wildcard):
        return Wildcard(tuple((wild, text.lower()) for wild, text in value.parts))
    return value
