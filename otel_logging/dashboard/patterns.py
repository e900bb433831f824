"""Message templates: the variable parts of a message masked, so similar messages group together.

The same rules run in Python (``template_of``) and in DuckDB's RE2 (``MASKS`` as SQL), applied
in order: UUIDs, hex ids, quoted strings, then numbers.
"""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 1000  # longer messages are cut before masking

MASKS: tuple[tuple[str, str], ...] = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"\b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b", "<hex>"),
    (r'"[^"]*"', '"<str>"'),
    (r"'[^']*'", "'<str>'"),
    (r"[0-9]+(?:\.[0-9]+)*", "<num>"),
)

_COMPILED = tuple((re.compile(pattern, re.ASCII), replacement) for pattern, replacement in MASKS)


def template_of(message: str) -> str:
    """The template of one message: ``"order 42 for 'bob'"`` -> ``"order <num> for '<str>'"``."""
    text = message[:MAX_MESSAGE_CHARS]
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def template_sql(column: str) -> str:
    """A DuckDB expression computing ``template_of`` over ``column``."""
    expr = f"left({column}, {MAX_MESSAGE_CHARS})"
    for pattern, replacement in MASKS:
        quoted_pattern = pattern.replace("'", "''")
        quoted_replacement = replacement.replace("'", "''")
        expr = f"regexp_replace({expr}, '{quoted_pattern}', '{quoted_replacement}', 'g')"
    return expr
