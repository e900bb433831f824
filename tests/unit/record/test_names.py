"""Hostile service names never escape the log directory and never collide silently."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from otel_logging.record.names import MAX_STEM_LENGTH, safe_app_name


def test_safe_names_are_kept() -> None:
    assert safe_app_name("checkout-api") == "checkout-api"
    assert safe_app_name("svc_1.v2") == "svc_1.v2"


def test_empty_and_none_become_default() -> None:
    assert safe_app_name("") == safe_app_name(None) == "unknown_service"


def test_hostile_names_are_contained_and_distinct() -> None:
    hostile = ["../x", "/etc/x", "a\0b", "x" * 10_000, ".hidden", "..", ".", "a/b", "a_b-", "con:1", "_queue"]
    stems = [safe_app_name(name) for name in hostile]
    for stem in stems:
        assert "/" not in stem and "\0" not in stem and not stem.startswith(".")
        assert stem not in (".", "..") and 0 < len(stem) <= MAX_STEM_LENGTH
    assert len(set(stems)) == len(stems)
    assert safe_app_name("a/b") != safe_app_name("a_b")


def test_a_name_that_looks_like_a_rotated_file_is_changed() -> None:
    assert safe_app_name("app.20260101T000000.000000Z") != "app.20260101T000000.000000Z"


@given(st.text(max_size=300))
def test_any_text_gives_a_plain_file_stem(name: str) -> None:
    stem = safe_app_name(name)
    assert stem == safe_app_name(name)
    assert 0 < len(stem) <= MAX_STEM_LENGTH
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
    assert not stem.startswith(".")


@given(st.text(max_size=50), st.text(max_size=50))
def test_different_names_never_share_a_stem(a: str, b: str) -> None:
    if a != b and a and b:
        assert safe_app_name(a) != safe_app_name(b)
