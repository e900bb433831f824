"""The query's tokens, read on demand by the parser.

Two modes: between terms (``next``) words stop at whitespace, parentheses, ``:``, ``=``, ``<``, ``>``,
``!=`` and ``"``; after ``field:`` or a comparison (``value``) a value runs to the next whitespace or
parenthesis, so ``@timestamp >= 2026-12-01T10:00+02:00`` and ``url:http://x/y?a=b`` need no quotes.
A backslash makes the next character plain (``\\*`` is a star, ``\\ `` a space, ``\\:`` a colon).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from otel_logging.dashboard.querylang.errors import QuerySyntaxError

TokenKind = Literal["(", ")", "AND", "OR", "NOT", "-", "WORD", "PHRASE", "REGEX", ":", "OP", "EOF"]
KEYWORDS = ("AND", "OR", "NOT")
_WORD_STOP = frozenset(' \t\r\n():=<>"')
_VALUE_STOP = frozenset(" \t\r\n()")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    start: int
    end: int
    text: str = ""  # a word's text with escapes resolved; a phrase's or regex's content; an operator
    # A word's characters as (is_wildcard, char): an unescaped * or ? is a wildcard.
    chars: tuple[tuple[bool, str], ...] = ()

    @property
    def has_wildcard(self) -> bool:
        return any(wild for wild, _ in self.chars)


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, position, self.text)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def next(self) -> Token:
        """The next token between terms."""
        self._skip_space()
        text, start = self.text, self.pos
        if start >= len(text):
            return Token("EOF", start, start)
        c = text[start]
        if c in "()":
            self.pos += 1
            return Token(c, start, self.pos, c)  # type: ignore[arg-type]
        if c in ":=":
            self.pos += 1
            return Token(":", start, self.pos, c)
        if c in "<>" or text.startswith("!=", start):
            op = text[start : start + 2] if text.startswith(("<=", ">=", "!="), start) else c
            self.pos += len(op)
            return Token("OP", start, self.pos, op)
        if c == '"':
            return self._phrase()
        if c == "/":
            return self._regex()
        if c == "-" and start + 1 < len(text) and not text[start + 1].isspace():
            self.pos += 1
            return Token("-", start, self.pos, "-")
        token = self._word(_WORD_STOP, allow_bang=False)
        if token.text in KEYWORDS and text[start : token.end] == token.text:
            return Token(token.text, start, token.end, token.text)  # type: ignore[arg-type]
        return token

    def at(self, char: str) -> bool:
        """True when the next character after any spaces is ``char``."""
        self._skip_space()
        return self.text.startswith(char, self.pos)

    def value(self, regex: bool = True) -> Token:
        """The value after ``field:`` or an operator (EOF when there is none)."""
        self._skip_space()
        start = self.pos
        if start >= len(self.text) or self.text[start] in "()":
            return Token("EOF", start, start)
        if self.text[start] == '"':
            return self._phrase()
        if regex and self.text[start] == "/":
            return self._regex()
        return self._word(_VALUE_STOP, allow_bang=True)

    def _word(self, stops: frozenset[str], allow_bang: bool) -> Token:
        text, start = self.text, self.pos
        chars: list[tuple[bool, str]] = []
        i = start
        while i < len(text):
            c = text[i]
            if c in stops or (not allow_bang and text.startswith("!=", i)):
                break
            if c == "\\":
                if i + 1 >= len(text):
                    raise self.error("a backslash at the end of the query escapes nothing", i)
                chars.append((False, text[i + 1]))
                i += 2
                continue
            chars.append((c in "*?", c))
            i += 1
        if i == start:  # a lone character that stops words here (the parser says why it is out of place)
            raise self.error(f"unexpected {text[start]!r}", start)
        self.pos = i
        return Token("WORD", start, i, "".join(c for _, c in chars), tuple(chars))

    def _phrase(self) -> Token:
        text, start = self.text, self.pos
        out: list[str] = []
        i = start + 1
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                self.pos = i + 1
                return Token("PHRASE", start, self.pos, "".join(out))
            out.append(c)
            i += 1
        raise self.error('this phrase has no closing quote: end it with "', start)

    def _regex(self) -> Token:
        text, start = self.text, self.pos
        out: list[str] = []
        i = start + 1
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                out.append("/" if text[i + 1] == "/" else text[i : i + 2])
                i += 2
                continue
            if c == "/":
                self.pos = i + 1
                if i == start + 1:
                    raise self.error("empty regular expression //", start)
                return Token("REGEX", start, self.pos, "".join(out))
            out.append(c)
            i += 1
        raise self.error("this regular expression has no closing /: end it with / (\\/ is a slash inside)", start)
