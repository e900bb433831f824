"""Masking secrets before a record leaves the process (app side) or is stored (service side).

Two rules, both small plain callables:
- by key name: a value whose key ends with a sensitive word (``password``, ``api_key``,
  ``Authorization``, ...; case and separators ignored) is replaced, in nested maps and lists too;
- by pattern in text: bearer tokens, JWTs, AWS access keys, private key blocks, card numbers
  that pass the Luhn check, and ``password=...`` style pairs inside a message.
The mask shows no character of the secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MASK = "[REDACTED]"

SENSITIVE_KEY_WORDS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "sessionid",
    "privatekey",
    "accesskey",
    "credential",
    "credentials",
    "signature",
)

_SEPARATORS = re.compile(r"[\s_\-.]+")

_KEY_VALUE_WORDS = r"password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret"

_TEXT_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    (
        "private_key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
        MASK,
    ),
    ("bearer", re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 " + MASK),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"), MASK),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (
        "key_value",
        re.compile(r"(?i)\b((?:" + _KEY_VALUE_WORDS + r"))([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"),
        r"\1\2" + MASK,
    ),
]
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# Cheap pre-check: most messages contain none of these and skip the regexes entirely.
# (Case-insensitive alternations are slow in ``re``: the words are searched in lowercased text.)
_TRIGGER_WORDS = r"private key|bearer|basic |eyj|akia|asia|" + _KEY_VALUE_WORDS + r"|\d{4}[ -]?\d{4}"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return MASK
    return match.group(0)


class Redactor:
    """Masks secrets by key name and by pattern; extensible with more words and patterns."""

    def __init__(
        self,
        extra_key_words: Iterable[str] = (),
        extra_patterns: Iterable[str] = (),
        *,
        mask_emails: bool = False,
    ) -> None:
        words = {_SEPARATORS.sub("", w.lower()) for w in (*SENSITIVE_KEY_WORDS, *extra_key_words)}
        self._key_words = tuple(sorted(words))
        self._key_cache: dict[str, bool] = {}
        self._patterns = list(_TEXT_PATTERNS)
        for i, pattern in enumerate(extra_patterns):
            self._patterns.append((f"custom_{i}", re.compile(pattern), MASK))
        extra_triggers = list(extra_patterns)
        if mask_emails:
            self._patterns.append(("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), MASK))
            extra_triggers.append("@")
        self._trigger_lower = re.compile(_TRIGGER_WORDS)
        self._trigger_extra = re.compile("|".join(extra_triggers)) if extra_triggers else None

    def _triggered(self, value: str) -> bool:
        if self._trigger_lower.search(value.lower()):
            return True
        return self._trigger_extra is not None and self._trigger_extra.search(value) is not None

    def is_sensitive_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            normalized = _SEPARATORS.sub("", key.lower())
            cached = any(normalized.endswith(word) for word in self._key_words)
            if len(self._key_cache) < 10_000:
                self._key_cache[key] = cached
        return cached

    def text(self, value: str) -> str:
        """Mask secrets inside free text."""
        if not self._triggered(value):
            return value
        for _, pattern, replacement in self._patterns:
            value = pattern.sub(replacement, value)
        return _CARD.sub(_mask_card, value)

    def value(self, value: Any) -> Any:
        """Mask secrets inside an attribute value (strings, nested maps and lists)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def mapping(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Mask values under sensitive keys and secrets inside the other values.

        Returns ``attributes`` itself when nothing needs masking (the common case).
        """
        search = self._triggered
        for key, value in attributes.items():
            kind = type(value)
            if self.is_sensitive_key(key) or (kind is str and search(value)) or kind in (dict, list, tuple):
                break
        else:
            return attributes
        return {
            key: MASK if self.is_sensitive_key(key) and value is not None else self.value(value)
            for key, value in attributes.items()
        }


def redactor_from_rules_file(path: Path | str) -> Redactor:
    """Extra rules from a JSON file: ``{"keys": [...], "patterns": [...], "mask_emails": false}``."""
    try:
        rules = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(rules, dict):
            raise ValueError("the top level must be an object")
        keys = [str(k) for k in rules.get("keys", [])]
        patterns = [str(p) for p in rules.get("patterns", [])]
        for pattern in patterns:
            re.compile(pattern)
        return Redactor(keys, patterns, mask_emails=bool(rules.get("mask_emails", False)))
    except (OSError, ValueError, re.error) as exc:
        raise ValueError(f"redaction rules {path}: {exc}") from exc
