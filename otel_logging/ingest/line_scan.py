"""Which canonical JSON lines might hold a secret: the Python reference of ``otel_logging_native.RecordScan``.

Aggregation's redaction (``ingest/redact.py``) decodes and redacts only the lines this scan names ("suspect");
any other line is one that decoding and ``BatchRedactor.record`` would leave exactly as it is. The scan walks the
raw JSON of a line, not decoding it: in ``body`` and in ``attributes`` (but the values of the aggregation's own
attributes at the top of ``attributes``) each string's raw text is searched for the redaction rules' triggers
(``TriggerScan``, case-insensitively) and each object key is checked against the sensitive key words (normalized as
``Redactor.is_sensitive_key`` does). The other top-level values are skipped (timestamps, logger, resource). A line
is suspect whenever the walk is unsure: a control or non-ASCII byte, a ``\\u`` or ``\\/`` escape, a backslash in
a key of ``body`` or ``attributes`` or at the top, ``attributes`` that is not an object, nesting deeper than
``MAX_DEPTH``, anything that is not strict JSON.

Why a raw text is enough: it holds every run of the decoded text between escapes, and the escapes allowed
(``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``) stand for characters no trigger holds (``usable``
checks the literals), so a trigger in the decoded text is in the raw text too; an extra hit (an escape's letter
before a trigger) only makes a line suspect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

MAX_DEPTH = 64
_ESCAPES = frozenset(b'"\\bfnrt')
_WS = b" \t\r"
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPED_CHARACTERS = frozenset('"\\\b\f\n\r\t')
_CONTROL = re.compile(rb"[\x00-\x1f]")


def usable(literals: Iterable[str]) -> bool:
    """Whether a raw-text scan finds these trigger literals wherever the decoded text holds them."""
    return not any(ch in _ESCAPED_CHARACTERS or ord(ch) < 0x20 for literal in literals for ch in literal)


class _Suspect(Exception):
    pass


class LineScan:
    """``suspect(line)``: whether the full path must see ``line`` (one JSON line without its newline).

    ``hit(raw)``: the rules' trigger search over a raw ASCII text (``TriggerScan.scan``); ``key_words``: the
    normalized sensitive key words; ``own``: the attribute keys whose values are not redacted.
    """

    def __init__(self, hit: Callable[[bytes], bool], key_words: Iterable[str], own: Iterable[str]) -> None:
        self._hit = hit
        self._key_words = tuple(word.encode() for word in key_words)
        self._own = frozenset(key.encode() for key in own)

    def suspect(self, line: bytes) -> bool:
        if not line.isascii() or _CONTROL.search(line):
            return True
        try:
            self._walk(line)
        except _Suspect:
            return True
        return False

    # --- the walk (each step: the position after what it read) --------------------------------------------------

    def _walk(self, b: bytes) -> None:
        at = _ws(b, 0)
        at = _eat(b, at, b"{")
        at = _ws(b, at)
        if _peek(b, at) == ord("}"):
            at += 1
        else:
            while True:
                at = _ws(b, at)
                key, backslash, at = _string(b, at)
                if backslash:
                    raise _Suspect
                at = _eat(b, _ws(b, at), b":")
                at = _ws(b, at)
                if key == b"body":
                    at = self._content(b, at, 1)
                elif key == b"attributes":
                    if _peek(b, at) != ord("{"):
                        raise _Suspect
                    at = self._object(b, at, 1, attributes=True)
                else:
                    at = _skip(b, at, 1)
                at = _ws(b, at)
                c = _peek(b, at)
                at += 1
                if c == ord("}"):
                    break
                if c != ord(","):
                    raise _Suspect
        if _ws(b, at) != len(b):
            raise _Suspect

    def _content(self, b: bytes, at: int, depth: int) -> int:
        c = _peek(b, at)
        if c == ord('"'):
            text, _, at = _string(b, at)
            if self._hit(text):
                raise _Suspect
            return at
        if c == ord("{"):
            return self._object(b, at, depth + 1, attributes=False)
        if c == ord("["):
            if depth + 1 > MAX_DEPTH:
                raise _Suspect
            at = _ws(b, at + 1)
            if _peek(b, at) == ord("]"):
                return at + 1
            while True:
                at = self._content(b, _ws(b, at), depth + 1)
                at = _ws(b, at)
                c = _peek(b, at)
                at += 1
                if c == ord("]"):
                    return at
                if c != ord(","):
                    raise _Suspect
        return _scalar(b, at)

    def _object(self, b: bytes, at: int, depth: int, *, attributes: bool) -> int:
        if depth > MAX_DEPTH:
            raise _Suspect
        at = _ws(b, _eat(b, at, b"{"))
        if _peek(b, at) == ord("}"):
            return at + 1
        while True:
            key, backslash, at = _string(b, _ws(b, at))
            if backslash:
                raise _Suspect
            at = _ws(b, _eat(b, _ws(b, at), b":"))
            if attributes and key in self._own:
                at = _skip(b, at, depth)
            else:
                if self._sensitive(key):
                    raise _Suspect
                at = self._content(b, at, depth)
            at = _ws(b, at)
            c = _peek(b, at)
            at += 1
            if c == ord("}"):
                return at
            if c != ord(","):
                raise _Suspect

    def _sensitive(self, key: bytes) -> bool:
        normalized = key.translate(None, b" _-.").lower()
        return any(normalized.endswith(word) for word in self._key_words)


def _peek(b: bytes, at: int) -> int:
    if at >= len(b):
        raise _Suspect
    return b[at]


def _ws(b: bytes, at: int) -> int:
    while at < len(b) and b[at] in _WS:
        at += 1
    return at


def _eat(b: bytes, at: int, c: bytes) -> int:
    if b[at : at + 1] != c:
        raise _Suspect
    return at + 1


def _string(b: bytes, at: int) -> tuple[bytes, bool, int]:
    """The raw text of the string at ``at``, whether it has a backslash, the position after it."""
    at = _eat(b, at, b'"')
    start = i = at
    backslash = False
    while True:
        c = _peek(b, i)
        if c == ord('"'):
            return b[start:i], backslash, i + 1
        if c == ord("\\"):
            backslash = True
            if _peek(b, i + 1) not in _ESCAPES:
                raise _Suspect  # \u, \/ (or no JSON): Python decides
            i += 2
        elif c < 0x20 or c >= 0x80:
            raise _Suspect
        else:
            i += 1


def _scalar(b: bytes, at: int) -> int:
    for word in (b"true", b"false", b"null"):
        if b.startswith(word, at):
            return at + len(word)
    match = _NUMBER.match(b, at)
    if match is None:
        raise _Suspect
    return match.end()


def _skip(b: bytes, at: int, depth: int) -> int:
    c = _peek(b, at)
    if c == ord('"'):
        return _string(b, at)[2]
    if c not in (ord("{"), ord("[")):
        return _scalar(b, at)
    if depth + 1 > MAX_DEPTH:
        raise _Suspect
    close = ord("}") if c == ord("{") else ord("]")
    at = _ws(b, at + 1)
    if _peek(b, at) == close:
        return at + 1
    while True:
        at = _ws(b, at)
        if close == ord("}"):
            at = _string(b, at)[2]
            at = _ws(b, _eat(b, _ws(b, at), b":"))
        at = _ws(b, _skip(b, at, depth + 1))
        c = _peek(b, at)
        at += 1
        if c == close:
            return at
        if c != ord(","):
            raise _Suspect
