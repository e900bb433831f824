"""Secrets are masked by key and by pattern; innocent look-alikes stay untouched."""

from __future__ import annotations

import pytest

from otel_logging.record.redaction import MASK, Redactor

R = Redactor()

SECRETS_IN_TEXT = [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX3g", "eyJhbGciOiJIUzI1NiJ9"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX3g here", "c2lnbmF0dXJlX3g"),
    ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ("card 4111 1111 1111 1111 charged", "4111 1111 1111 1111"),
    ("card 4111-1111-1111-1111", "1111-1111-1111"),
    ("login password=hunter2 ok", "hunter2"),
    ('{"api_key": "sk_live_abcdef"}', "sk_live_abcdef"),
    ("secret: 's3cr3t value'", "s3cr3t"),
]

INNOCENT = [
    "order 4111 1111 1111 1112 shipped",  # fails Luhn
    "processed 1234567890123 bytes",
    "tokens used: 42",
    "the password policy changed",
    "author bob",
    "request id 550e8400-e29b-41d4-a716-446655440000",
    "basic plan",
]


@pytest.mark.parametrize(("text", "secret"), SECRETS_IN_TEXT)
def test_secrets_in_text_are_masked_completely(text: str, secret: str) -> None:
    masked = R.text(text)
    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_text_is_untouched(text: str) -> None:
    assert R.text(text) == text


def test_keys_are_matched_case_and_separator_insensitively_in_nested_values() -> None:
    attributes = {
        "Password": "a",
        "db-password": "b",
        "API_KEY": "c",
        "x.auth.token": "d",
        "headers": {"Authorization": "e", "accept": "json"},
        "items": [{"session_id": "f"}, "plain"],
        "token_count": 5,
        "author": "bob",
    }
    masked = R.mapping(attributes)
    assert masked == {
        "Password": MASK,
        "db-password": MASK,
        "API_KEY": MASK,
        "x.auth.token": MASK,
        "headers": {"Authorization": MASK, "accept": "json"},
        "items": [{"session_id": MASK}, "plain"],
        "token_count": 5,
        "author": "bob",
    }


def test_rules_are_extensible() -> None:
    r = Redactor(extra_key_words=["ssn"], extra_patterns=[r"\bEMP-\d{6}\b"], mask_emails=True)
    assert r.mapping({"user_ssn": "123"}) == {"user_ssn": MASK}
    assert r.text("id EMP-123456 mail bob@example.com") == f"id {MASK} mail {MASK}"
