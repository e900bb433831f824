"""The secret corpus, through the real paths: the app side (``capture_logs``: the handler ``setup()``
installs), ``otel-logging aggregate`` (``BatchRedactor``) and ``serve --redact`` (the receiver's record
processor). Every secret is masked wherever it is carried; no innocent look-alike is changed."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.client.state import CLIENT_STATE
from otel_logging.ingest.redact import BatchRedactor
from otel_logging.receiver.limits import redacting_processor
from otel_logging.record import RecordBatch
from otel_logging.record.redaction import MASK, Redactor
from otel_logging.testing import capture_logs
from tests.unit.record.secret_corpus import INNOCENT, SECRETS, Secret

LOG = logging.getLogger("corpus")


@pytest.fixture(autouse=True)
def fresh_client_state() -> Iterator[None]:
    CLIENT_STATE.reset()
    LOG.disabled = False  # created at import: a logging.config call of an earlier test (disable_existing_loggers)
    yield
    CLIENT_STATE.reset()


def test_the_corpus_is_as_large_as_promised() -> None:
    kinds = Counter(secret.kind for secret in SECRETS)
    assert len(SECRETS) >= 100 and len(kinds) >= 20, (len(SECRETS), kinds)
    assert len(set(INNOCENT)) >= 300


def log_every_way(secret: Secret) -> int:
    """Log ``secret`` as a message, a %-argument, an attribute, a nested value, an exception; the count."""
    LOG.info(secret.message)  # as an f-string would build it
    LOG.warning(secret.before.replace("%", "%%") + "%s" + secret.after.replace("%", "%%"), secret.secret)
    LOG.info("call made", extra={"detail": secret.message})
    LOG.info("request", extra={"request": {"headers": [secret.message], "meta": {"note": secret.message}}})
    try:
        raise RuntimeError(secret.message)
    except RuntimeError:
        LOG.exception("call failed")  # the message in exception.message and in the traceback
    return 5


def leaks(records: list[dict[str, Any]], secret: str) -> list[str]:
    texts = [json.dumps(record) for record in records]
    needles = {secret, json.dumps(secret)[1:-1]}  # as it is, and as JSON escapes it (the PEM's newlines)
    return [text[:300] for text in texts if any(n in text for n in needles)]


def test_every_secret_is_masked_on_the_app_side_in_every_place_it_can_be_logged() -> None:
    sent = 0
    with capture_logs("corpus") as logs:
        for secret in SECRETS:
            sent += log_every_way(secret)
    records = logs.records
    assert len(records) == sent
    tracebacks = [r["attributes"].get("exception.stacktrace", "") for r in records]
    assert sum("RuntimeError" in t for t in tracebacks) == len(SECRETS)  # the tracebacks were there to mask
    leaked = {s.kind: found for s in SECRETS if (found := leaks(records, s.secret))}
    assert not leaked, leaked
    masked = sum(json.dumps(r).count(MASK) for r in records)
    print(
        f"\napp side: {len(SECRETS)} secrets of {len({s.kind for s in SECRETS})} kinds, {sent} records, "
        f"{masked} masks, 0 leaks"
    )


def record_of(body: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"@timestamp": "2026-12-03T09:00:00.000000000Z", "body": body, "service": "legacy", "attributes": attributes}


def test_every_secret_is_masked_by_aggregation_and_by_the_receiver() -> None:
    records = [record_of(s.message, {"detail": s.message, "nested": {"list": [s.message]}}) for s in SECRETS]
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    batch = RecordBatch.from_lines({"legacy": lines}, len(records))
    BatchRedactor()(batch)
    aggregated = [orjson.loads(line) for line in bytes(batch.lines("legacy")).splitlines()]
    process = redacting_processor(Redactor())
    received = [process(json.loads(json.dumps(r))) for r in records]
    for path, out in (("aggregate", aggregated), ("serve --redact", received)):
        leaked = {s.kind: found for s in SECRETS if (found := leaks(out, s.secret))}
        assert not leaked, (path, leaked)


def test_no_innocent_look_alike_is_changed_on_any_path() -> None:
    redactor = Redactor()
    changed = [m for m in INNOCENT if redactor.text(m) != m]
    with capture_logs("corpus") as logs:
        for message in INNOCENT:
            LOG.info(message, extra={"note": message})
    app_changed = [
        r["body"] for r in logs.records if r["attributes"].get("note") != r["body"] or r["body"] not in INNOCENT
    ]
    process = redacting_processor(Redactor())
    service_changed = [m for m in INNOCENT if process(record_of(m, {"note": m})) != record_of(m, {"note": m})]
    print(
        f"\ninnocent look-alikes: {len(INNOCENT)}, false positives: {len(changed)} (app side {len(app_changed)}, "
        f"service {len(service_changed)})"
    )
    assert changed == [] and app_changed == [] and service_changed == []
    assert redactor.counts() == {}


# The issue's table (issue 21), literally, through the app side.
ISSUE_TABLE = [
    ("User 42 logged in with password hunter2", "User 42 logged in with password [REDACTED]"),
    ("login ok, pwd hunter2", "login ok, pwd [REDACTED]"),
    ("api key sk_live_51Habc123XYZ...", "api key [REDACTED]..."),
    (
        "AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "[REDACTED] secret [REDACTED]",
    ),
    ("password: hunter2", "password: [REDACTED]"),
    ("password=hunter2", "password=[REDACTED]"),
    ("token=ghp_0123456789abcdefghijABCDEFGHIJ012345", "token=[REDACTED]"),
    ("Authorization: Bearer 9a8b7c6d5e4f3a2b1c0d", "Authorization: Bearer [REDACTED]"),
    ("paid with 4111 1111 1111 1111", "paid with [REDACTED]"),
]


@pytest.mark.parametrize(("message", "stored"), ISSUE_TABLE)
def test_the_issue_table_is_masked(message: str, stored: str) -> None:
    with capture_logs("table") as logs:
        LOG.info(message)
        LOG.info("user %s logged in with password %s", 42, "hunter2")
        handle = CLIENT_STATE.handle  # what setup() returns: the app side counts per rule too
        assert handle is not None and isinstance(handle.handler, OtelLoggingHandler) and handle.handler.redactor
        counts = handle.handler.redactor.counts()
    assert counts.get("keyword_phrase", 0) >= 1 and sum(counts.values()) >= 2
    first, second = logs.bodies()
    assert first == stored
    assert second == "user 42 logged in with password [REDACTED]"


def test_each_rule_is_counted_and_the_count_never_holds_the_secret() -> None:
    redactor = Redactor()
    for secret in SECRETS:
        redactor.text(secret.message)
    redactor.mapping({"password": "x", "user": "ann"})
    counts = redactor.counts()
    assert counts["key_name"] == 1
    for rule in (
        "github_token",
        "stripe_key",
        "aws_access_key_id",
        "aws_secret_access_key",
        "private_key",
        "jwt",
        "url_credentials",
        "keyword_phrase",
        "keyword_assignment",
        "card_number",
        "slack_webhook",
    ):
        assert counts.get(rule, 0) >= 1, (rule, counts)
    samples = list(redactor.metric_samples())
    assert ("otel_logging_redactions_total", {"rule": "jwt"}, counts["jwt"]) in samples
    assert not any(s.secret in repr(samples) for s in SECRETS)


def test_users_add_keys_and_named_patterns_and_see_them_counted(tmp_path: Any) -> None:
    from otel_logging.record.redaction import redactor_from_rules_file

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"keys": ["ssn"], "patterns": {"employee_id": r"\bEMP-\d{6}\b"}}))
    redactor = redactor_from_rules_file(rules)
    assert redactor.text("badge EMP-123456 used, password=hunter2") == "badge [REDACTED] used, password=[REDACTED]"
    assert redactor.mapping({"user_ssn": "123-45-6789"}) == {"user_ssn": MASK}
    assert redactor.counts() == {"employee_id": 1, "keyword_assignment": 1, "key_name": 1}
    listed = Redactor(extra_patterns=[r"\bORD-\d{4}\b"])  # today's API: a list, counted as custom_0
    assert listed.text("ORD-1234") == MASK and listed.counts() == {"custom_0": 1}


def test_the_service_shows_a_count_per_rule_on_metrics(tmp_path: Any) -> None:
    from otel_logging.config import FilesSettings, ReceiverSettings, SecuritySettings, ServeSettings
    from otel_logging.receiver.service import CentralService

    settings = ServeSettings(
        receiver=ReceiverSettings(grpc_port=0, http_port=None),
        files=FilesSettings(log_dir=tmp_path),
        security=SecuritySettings(redact=True),
    )
    service = CentralService(settings)
    try:
        (process,) = service.exporter.processors
        token = "ghp_" + "aB3" * 12
        process(record_of(f"clone with {token}", {"password": "hunter2", "note": "login ok, pwd hunter2"}))
        text = service.metrics.render()
    finally:
        service.stop(grace_s=0)
    assert 'otel_logging_redactions_total{rule="github_token"} 1' in text
    assert 'otel_logging_redactions_total{rule="key_name"} 1' in text
    assert 'otel_logging_redactions_total{rule="keyword_phrase"} 1' in text
    assert token not in text and "hunter2" not in text


def test_text_whose_lower_case_changes_length_takes_the_plain_path_and_is_masked_too() -> None:
    redactor = Redactor()
    message = "İstanbul login with password hunter2, postgres://app:s3cr3tPw@db/x"  # "İ".lower() is 2 characters
    assert len(message.lower()) != len(message)
    assert redactor.text(message) == "İstanbul login with password [REDACTED], postgres://app:[REDACTED]@db/x"


def test_a_message_without_any_trigger_word_is_returned_as_it_is() -> None:
    message = "user alice did checkout in 12 ms"
    assert Redactor().text(message) is message
