"""Text on the page: log data shown as typed (never as markup), counts with their noun."""

from __future__ import annotations

import streamlit as st

_MARKDOWN_SPECIALS = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~<>&\"'$"})


def as_text(value: str) -> str:
    """``value`` for a markdown element, shown as typed (no markup, no HTML)."""
    return value.translate(_MARKDOWN_SPECIALS)


def summary(test_id: str, text: str) -> None:
    """A line of plain text (log data and URL values included) with a test id for browser tests."""
    st.markdown(f'<div data-testid="{test_id}">{as_text(text)}</div>', unsafe_allow_html=True)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 record``, ``2 records``, ``1,054 records``."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"
