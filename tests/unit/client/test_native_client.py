"""The app side's native paths (otel_logging_native) against their Python references.

    TriggerScan.hit(text)        vs  Redactor's trigger regex on text.lower() (ASCII texts; None otherwise)
    EntryMaker.make(record)      vs  OtelLoggingHandler._entry(record) but the observed time (or None: Python makes it)
    encode_entries(...)          vs  BatchEncoder.encode_python(entries), byte for byte (or None: Python encodes)

Under ``make test`` the native module must be installed with these functions: these tests fail when it is not.
They are skipped only when ``OTEL_LOGGING_NATIVE=0`` says the Python path is wanted.
"""

from __future__ import annotations

import logging
import math
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.handler import OtelLoggingHandler
from otel_logging.record import native
from otel_logging.record.redaction import CARD_RULE, Redactor
from otel_logging.record.secret_rules import BUILTIN_RULES, TWILIO_TRIGGER

DISABLED = os.environ.get(native.ENV_SWITCH, "").strip() == "0"
pytestmark = pytest.mark.skipif(DISABLED, reason="OTEL_LOGGING_NATIVE=0 asks for the Python path")

REDACTOR = Redactor()
LITERALS = sorted(REDACTOR._trigger_set.literals)


def test_native_client_paths_are_installed() -> None:
    assert native.CLIENT_AVAILABLE, native.CLIENT_UNAVAILABLE_REASON
    assert REDACTOR._scan is not None, "the default rules' triggers are all handled natively"
    assert BatchEncoder({}).native


def python_hit(text: str) -> bool:
    return REDACTOR._trigger.search(text.lower()) is not None


# Texts made of pieces of triggers, digits, hex, separators and words: near misses are the point.
PIECES = [
    *LITERALS,
    *(t[: len(t) // 2 + 1] for t in LITERALS),
    *(t.upper() for t in LITERALS[::3]),
    "sk",
    "SK",
    "0123456789abcdef" * 2,
    "ABCDEF0123456789" * 2,
    "4111",
    "1111",
    " ",
    "-",
    "user alice did checkout",
    "GET /api/v1/orders/",
]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(alphabet=string.printable, max_size=8)), max_size=12).map(
    "".join
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_trigger_scan_answers_what_the_regex_answers(text: str) -> None:
    assert REDACTOR._scan.hit(text) is python_hit(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "user alice did checkout",
        "my PASSWORD is x",
        "Bearer abc",
        "basic",  # "basic " needs the space
        "card 4111 1111 1111 1111",
        "card 4111-1111",
        "card 41111111",
        "card 4111  1111",
        "card 411 11111",
        "SK0123456789ABCDEF0123456789abcdef",
        "sk0123456789abcdef0123456789abcde",
        "see https://example.com",
        "disk full, task done",
        'Traceback (most recent call last):\n  File "/app/orders.py", line 5, in inner\n    raise ValueError(f"bad '
        'order {i}")\n    ^^^^^^^^^^^^^^^^^^^^^^^\nValueError: bad order 5\n',  # long texts: the pair lookup skips
        *LITERALS,
        *(t.upper() for t in LITERALS),
    ],
)
def test_trigger_scan_cases(text: str) -> None:
    assert REDACTOR._scan.hit(text) is python_hit(text)


EMAIL_REDACTOR = Redactor(mask_emails=True)  # its "@" is a trigger of one byte


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*PIECES, "@", "a@b.io", "sg"]) | st.text(string.printable, max_size=4), max_size=8))
def test_trigger_scan_with_a_one_byte_trigger_answers_what_the_regex_answers(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert EMAIL_REDACTOR._scan.hit(text) is (EMAIL_REDACTOR._trigger.search(text.lower()) is not None)


def test_non_ascii_text_is_left_to_python() -> None:
    assert REDACTOR._scan.hit("caf\u00e9 password") is None
    assert REDACTOR._scan.hit("\u212a") is None  # the Kelvin sign lower-cases to "k"
    # and the Redactor still masks it through the regex
    assert "hunter2" not in REDACTOR.text("caf\u00e9 with password hunter2")


def test_custom_patterns_keep_the_python_search() -> None:
    assert Redactor(extra_patterns=[r"ORDER-\d+"])._scan is None


def test_the_native_scan_only_takes_the_trigger_regexes_it_implements() -> None:
    assert {rule.trigger_pattern for rule in REDACTOR.rules if rule.trigger_pattern} <= {
        TWILIO_TRIGGER,
        CARD_RULE.trigger_pattern,
    }
    assert all(rule.triggers or rule.trigger_pattern for rule in BUILTIN_RULES)


# --- the encoder --------------------------------------------------------------------------------------------

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalars = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False),
    st.none(),
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.lists(inner, min_size=1, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)
entries = st.tuples(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=24),
    st.sampled_from(["", "INFO", "ERROR", "WARN"]),
    values,
    st.one_of(st.none(), st.dictionaries(st.text(max_size=8), values, max_size=4)),
    st.integers(min_value=0, max_value=2**128 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=255),
    st.sampled_from(["", "app", "app.db", "root", "\u00e9t\u00e9"]),
    st.one_of(st.none(), st.text(max_size=6)),
)
ENCODER_ATTRS = {"service.name": "shop", "process.pid": 42, "host.cores": 2.5}
ENCODER = BatchEncoder(ENCODER_ATTRS, "https://schema/1")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries, max_size=12))
def test_native_encoding_is_the_protobuf_encoding(batch: list[tuple]) -> None:
    payload = ENCODER.encode(batch)
    assert payload == ENCODER.encode_python(batch)


def test_the_common_batch_is_encoded_natively() -> None:
    batch = [
        (1, 2, 9, "INFO", "user alice did checkout", {"k": i, "s": "x"}, 0, 0, 0, "bench", None) for i in range(50)
    ]
    resource = ENCODER._resource.SerializeToString()
    payload = native.encode_entries(resource, "https://schema/1", batch)
    assert payload is not None and payload == ENCODER.encode_python(batch)


@pytest.mark.parametrize(
    "odd",
    [
        {"d": {1: "a non-str key"}},
        {"big": 2**70},
        {"obj": object()},
        {"empty": {}},
        {"empty": []},
        {"sub": type("S", (str,), {})("x")},
    ],
)
def test_values_it_does_not_encode_go_to_python(odd: dict) -> None:
    batch = [(1, 2, 9, "INFO", "m", odd, 0, 0, 0, "bench", None)]
    resource = ENCODER._resource.SerializeToString()
    assert native.encode_entries(resource, "", batch) is None
    assert ENCODER.encode(batch) == ENCODER.encode_python(batch)


def test_nan_is_encoded_natively_with_the_same_bits() -> None:
    batch = [(1, 2, 9, "INFO", "m", {"nan": math.nan}, 0, 0, 0, "bench", None)]
    resource = ENCODER._resource.SerializeToString()
    assert native.encode_entries(resource, "", batch) == BatchEncoder(ENCODER_ATTRS).encode_python(batch)


def test_sdk_scopes_go_to_python() -> None:
    scope = InstrumentationScope("lib", "1.0", "https://s", {"a": 1})
    batch = [(1, 2, 9, "INFO", "m", None, 0, 0, 0, scope, None)]
    assert native.encode_entries(ENCODER._resource.SerializeToString(), "", batch) is None
    assert ENCODER.encode(batch) == ENCODER.encode_python(batch)


def test_a_fork_refresh_reaches_the_native_encoder() -> None:
    encoder = BatchEncoder({"process.pid": 1}, after_fork_attributes=lambda: {"service.instance.id": "child"})
    batch = [(1, 2, 9, "INFO", "m", None, 0, 0, 0, "x", None)]
    before = encoder.encode(batch)
    encoder.after_fork()
    after = encoder.encode(batch)
    assert after != before and b"child" in after
    assert after == encoder.encode_python(batch)


def test_the_child_pid_reaches_the_native_encoders_cached_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serialized resource is cached for the native encoder: a fork (no hook attributes) must drop it."""
    encoder = BatchEncoder({"process.pid": 100})
    batch = [(1, 2, 9, "INFO", "m", None, 0, 0, 0, "x", None)]
    before = encoder.encode(batch)  # the parent exported: the resource's bytes are cached
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    encoder.after_fork()
    after = encoder.encode(batch)
    assert after != before and after == encoder.encode_python(batch)


# --- the handler's entry ------------------------------------------------------------------------------------


def injected_record(
    msg: object, args: tuple, extra: dict, level: int = logging.INFO, trace: str = "0"
) -> logging.LogRecord:
    """A record as setup()'s trace-context injection leaves it (``otelTraceID`` "0": no span)."""
    record = logging.LogRecord("app.part", level, __file__, 1, msg, args or None, None)
    record.otelSpanID, record.otelTraceID, record.otelTraceSampled, record.otelServiceName = "0", trace, False, "svc"
    record.__dict__.update(extra)
    return record


def entry_handler(redactor: Redactor | None) -> OtelLoggingHandler:
    handler = OtelLoggingHandler(logger_provider=LoggerProvider(shutdown_on_exit=False), redactor=redactor)
    handler._make_native_maker()
    assert handler._maker is not None
    return handler


def without_observed(entry: tuple) -> tuple:
    return entry[:1] + entry[2:]


keys = st.sampled_from(["k", "user", "password", "api_token", "region", "otel.event.name", "event.name", "n"])
extra_values = st.one_of(
    st.text(max_size=12),
    texts,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(texts, st.just("user %s did %s"), st.just("%s"), st.integers()),
    st.lists(st.one_of(st.text(max_size=8), texts, st.integers()), max_size=2).map(tuple),
    st.dictionaries(keys, extra_values, max_size=4),
    st.sampled_from([logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR, logging.CRITICAL]),
    st.sampled_from(["0", "0af7651916cd43dd8448eb211c80319c"]),
    st.booleans(),
)
def test_native_entry_is_the_python_entry(
    msg: object, args: tuple, extra: dict, level: int, trace: str, redact: bool
) -> None:
    handler = handler_for(redact)
    record = injected_record(msg, args, extra, level, trace)
    try:
        expected = handler._entry(record)  # (also fills the caches the native maker reads)
    except (TypeError, ValueError, OverflowError):  # "%s" with two args, "%c" of -1: native raises or defers
        try:
            assert handler._maker.make(record) is None
        except (TypeError, ValueError, OverflowError):
            pass
        return
    got = handler._maker.make(record)
    if got is not None:
        assert without_observed(got) == without_observed(expected)
        assert abs(got[1] - expected[1]) < 60 * 10**9


HANDLERS: dict[bool, OtelLoggingHandler] = {}


def handler_for(redact: bool) -> OtelLoggingHandler:
    """One handler per redaction setting for the whole module (its caches warm up across examples)."""
    if redact not in HANDLERS:
        HANDLERS[redact] = entry_handler(Redactor() if redact else None)
    return HANDLERS[redact]


def test_the_common_record_is_made_natively() -> None:
    handler = handler_for(True)
    record = injected_record("user %s did %s", ("alice", "checkout"), {"k": 1, "user": "bob"})
    expected = handler._entry(record)
    got = handler._maker.make(record)
    assert got is not None and without_observed(got) == without_observed(expected)


@pytest.mark.parametrize(
    "record",
    [
        injected_record("login with password hunter2", (), {}),
        injected_record("ok", (), {"password": "x"}),
        injected_record("caf\u00e9", (), {}),
        injected_record("ok", (), {"otel.event.name": "e"}),
        injected_record("ok", (), {"l": [1]}),
        injected_record("ok", (), {}, trace="0af7651916cd43dd8448eb211c80319c"),
    ],
)
def test_records_it_leaves_to_python(record: logging.LogRecord) -> None:
    handler = handler_for(True)
    handler._entry(record)
    assert handler._maker.make(record) is None


def test_a_record_left_to_python_for_its_trace_or_level_is_not_formatted_first() -> None:
    """Python formats such a record's message (``_entry``): the native maker must give up before it does."""
    formatted = 0

    class Arg:
        def __str__(self) -> str:
            nonlocal formatted
            formatted += 1
            return "x"

    handler = handler_for(True)
    traced = injected_record("%s", (Arg(),), {}, trace="0af7651916cd43dd8448eb211c80319c")
    unknown_level = injected_record("%s", (Arg(),), {}, level=7)
    assert handler._maker.make(traced) is None and handler._maker.make(unknown_level) is None
    assert formatted == 0


def test_a_custom_pattern_redactor_has_no_native_maker() -> None:
    handler = OtelLoggingHandler(
        logger_provider=LoggerProvider(shutdown_on_exit=False), redactor=Redactor(extra_patterns=["X"])
    )
    handler._make_native_maker()
    assert handler._maker is None
