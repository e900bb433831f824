"""Aggregation's redaction scans raw JSON lines first (``RecordScan``) and decodes only the lines it names.

The contract: for every batch the output bytes (and the redaction counts) are what decoding and redacting every
record gives (``BatchRedactor(scan_lines=False)``, the path before the scan); the native scan answers as its
Python reference (``ingest/line_scan.py``); a batch of clean ASCII lines decodes no line.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_logging.ingest.line_scan import LineScan, usable
from otel_logging.ingest.records import FILE_PATH, RECORD_UID
from otel_logging.ingest.redact import BatchRedactor
from otel_logging.record import RecordBatch, native
from otel_logging.record.redaction import SENSITIVE_KEY_WORDS, Redactor
from tests.unit.record.secret_corpus import INNOCENT, SECRETS

needs_scan = pytest.mark.skipif(
    native.record_scan(native.trigger_scan(["x"], True, True), [], []) is None,
    reason="otel_logging_native with RecordScan is not installed",
)

SERVICE = "legacy"
STAMP = "2026-12-03T05:00:00.123456789Z"  # 8+ digits in a row: the card trigger, outside what is redacted

# Words and pieces the generated text is made of: triggers, secrets of every built-in rule, look-alikes, escapes
# (quote, backslash, control characters), non-ASCII, digits that pass the Luhn check.
PIECES = sorted(
    {s.secret for s in SECRETS}
    | {f"{s.before}{s.secret}{s.after}" for s in SECRETS[::7]}
    | set(INNOCENT[::3])
    | {
        "password",
        "PassWord=hunter2",
        "api key sk_live_",
        "token",
        "://",
        "https://user:pw@host/x",
        "4111 1111 1111 1111",
        "41111111",
        'say "hi"',
        "back\\slash",
        "tab\there",
        "line\nbreak",
        "\x01\x1f",
        "/",
        "é",
        "пароль",
        "\u212a",  # KELVIN SIGN: lower-cases to ASCII k
        "İ",
        "\ud7ff",
        "😀",
        "u0070",
        "\\u0070assword",
        "n",
        "pm_",
        " ",
        "-",
        "12",
        "1234",
        "5678",
    }
)
KEYS = sorted(
    {
        *SENSITIVE_KEY_WORDS,
        "pass_word",
        "Api-Key",
        "api_key",
        "X-Session-Id",
        "user",
        "token_id",
        "tokens",
        "msg",
        "url",
        "card",
        "é",
        "key\nwith",
        'qu"ote',
        FILE_PATH,
        RECORD_UID,
        "body",
        "attributes",
    }
)

texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=4).map("".join)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | texts
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
own_values = st.sampled_from(["/var/log/app-4111111111111111.log", "4111-1111-1111-1111:0", "a:12345678"]) | texts


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    attributes = draw(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), values, max_size=4))
    if draw(st.booleans()):
        attributes[FILE_PATH] = draw(own_values)
        attributes[RECORD_UID] = draw(own_values)
    record: dict[str, Any] = {
        "@timestamp": STAMP,
        "observed_timestamp": STAMP,
        "severity_text": "INFO",
        "severity_number": 9,
        "body": draw(values),
        "logger": draw(texts),
        "service": SERVICE,
        "attributes": attributes if draw(st.integers(0, 9)) else draw(values),
        "resource": {"service.name": SERVICE, "host": draw(texts)},
    }
    if draw(st.integers(0, 9)) == 0:
        del record["attributes"]
    return record


def _escaped(text: str, rng: random.Random) -> str:
    """A JSON string of ``text`` with other escapes than orjson's: ``\\uXXXX`` for any character, ``\\/``."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        choice = rng.random()
        if ch == "/" and choice < 0.5:
            out.append("\\/")
        elif choice < 0.2 and code < 0x10000 and not 0xD800 <= code < 0xE000:
            out.append(f"\\u{code:04x}" if choice < 0.1 else f"\\u{code:04X}")
        else:
            out.append(json.dumps(ch, ensure_ascii=choice < 0.6)[1:-1])
    out.append('"')
    return "".join(out)


def _dumps(value: Any, rng: random.Random) -> str:
    """JSON text of ``value`` as another writer may put it: escapes of its own, spaces."""
    if isinstance(value, str):
        return _escaped(value, rng)
    if isinstance(value, dict):
        sep = rng.choice([",", ", "])
        return "{" + sep.join(f"{_escaped(k, rng)}:{_dumps(v, rng)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v, rng) for v in value) + "]"
    return orjson.dumps(value).decode()


def _line(record: dict[str, Any], rng: random.Random | None) -> bytes:
    if rng is None or rng.random() < 0.5:
        return orjson.dumps(record)
    return _dumps(record, rng).encode("utf-8", "surrogatepass")


def _batch(parts: list[tuple[str, list[bytes] | list[dict[str, Any]]]]) -> RecordBatch:
    """A batch filled as a reader fills one: runs of lines (of the file's service or another) and records."""
    batch = RecordBatch(SERVICE)
    for kind, items in parts:
        if kind == "records":
            batch.tail.extend(orjson.loads(orjson.dumps(r)) for r in items)
        else:
            lines = b"".join(line + b"\n" for line in items)  # type: ignore[operator]
            batch.add_lines(
                memoryview(lines) if kind == "view" else lines, len(items), kind if kind == "other" else None
            )
    return batch


def _redact(redactor: BatchRedactor, parts: list[tuple[str, Any]]) -> tuple[dict[str, bytes], dict[str, int]]:
    batch = _batch(parts)
    try:
        redactor(batch)
    except orjson.JSONDecodeError:
        return {"error": b""}, {}
    return {service: bytes(batch.lines(service)) for service in batch}, redactor.redactor.counts()


def _parity(parts: list[tuple[str, Any]], rules: Path | None = None) -> BatchRedactor:
    before = BatchRedactor(rules, scan_lines=False)
    now = BatchRedactor(rules)
    assert _redact(now, parts) == _redact(before, parts)
    return now


@needs_scan
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["lines", "view", "other", "records"]), st.lists(records(), min_size=1, max_size=4)),
        min_size=1,
        max_size=3,
    ),
    st.randoms(use_true_random=False),
)
def test_the_scan_changes_no_output_byte(parts: list[tuple[str, list[dict[str, Any]]]], rng: random.Random) -> None:
    encoded: list[tuple[str, Any]] = [
        (kind, items if kind == "records" else [_line(r, rng) for r in items]) for kind, items in parts
    ]
    _parity(encoded)


@needs_scan
@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.kind)
def test_every_secret_of_the_corpus_is_masked_as_before(secret: Any) -> None:
    text = f"{secret.before}{secret.secret}{secret.after}"
    record = {"@timestamp": STAMP, "body": text, "attributes": {"msg": text, FILE_PATH: "/x", RECORD_UID: "a:1"}}
    nested = {"@timestamp": STAMP, "body": {"k": [text]}, "attributes": {"deep": {"deeper": text}}}
    now = _parity([("lines", [orjson.dumps(record), orjson.dumps(nested)])])
    assert now.decoded == 2


@needs_scan
def test_a_batch_of_clean_ascii_lines_decodes_no_line() -> None:
    rng = random.Random(5)
    lines = []
    for i, text in enumerate(t for t in INNOCENT * 3 if t.isascii()):
        record = {
            "@timestamp": STAMP,
            "observed_timestamp": STAMP,
            "severity_text": "INFO",
            "severity_number": 9,
            "body": f"user {rng.choice(string.ascii_lowercase)} order {i} took {rng.randint(1, 900)} ms",
            "logger": text,  # not redacted: never looked at
            "service": SERVICE,
            "attributes": {"user.id": i, "path": 'C:\\logs "x"\n', FILE_PATH: "/var/log/4111111111111111.log"}
            | {RECORD_UID: f"4111-1111-1111-1111:{i * 123456789}"},
            "resource": {"service.name": SERVICE, "note": text},
        }
        lines.append(orjson.dumps(record) + b"\n")
    data = memoryview(b"".join(lines))
    batch = RecordBatch.from_lines({SERVICE: data}, len(lines))
    redactor = BatchRedactor()
    redactor(batch)
    assert redactor.decoded == 0
    assert batch.lines(SERVICE) is data  # kept as it was, not even copied


@needs_scan
@pytest.mark.parametrize(
    ("body", "attributes"),
    [
        ("reset \\u0070assword=hunter2", {}),  # an escape hides the trigger from a raw scan
        ("plain", {"p\\u0061ssword": "hunter2"}),  # and a sensitive key
        ("see https:\\/\\/user:pw@host\\/x", {}),  # \/ hides ://
        ("plain", {"Pass-Word": "x"}),  # a sensitive key without any trigger in it
        ("plain", {"x": {"oauth": "y"}}),
        ("plain", {"x": [{"session": "y"}]}),
        ("caf\u00e9 password=hunter2", {}),
    ],
)
def test_lines_a_raw_scan_cannot_judge_are_decoded(body: str, attributes: dict[str, Any]) -> None:
    head = '{"@timestamp":"' + STAMP + '","body":' + json.dumps(body, ensure_ascii=False).replace("\\\\", "\\")
    tail = ',"attributes":{' + ",".join(f'"{k}":{json.dumps(v)}' for k, v in attributes.items()) + "}}"
    line = (head + tail).encode()
    orjson.loads(line)  # the test's line is JSON
    now = _parity([("lines", [line])])
    assert now.decoded == 1


@needs_scan
def test_the_own_attributes_digits_are_not_a_reason_to_decode() -> None:
    record = {"body": "ok", "attributes": {FILE_PATH: "/l/4111111111111111", RECORD_UID: "4111 1111 1111 1111:0"}}
    now = _parity([("lines", [orjson.dumps(record)])])
    assert now.decoded == 0
    inside = {"body": "ok", "attributes": {"x": {FILE_PATH: "4111111111111111"}}}  # only at the top are they own
    now = _parity([("lines", [orjson.dumps(inside)])])
    assert now.decoded == 1


def test_custom_patterns_decode_every_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"patterns": {"ticket": r"TCK-\d+"}}))
    assert not BatchRedactor(rules).scans_lines
    line = orjson.dumps({"body": "see TCK-42", "attributes": {FILE_PATH: "/x", RECORD_UID: "a:1"}})
    _parity([("lines", [line, orjson.dumps({"body": "clean"})])], rules)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": ["pin"]}))
    now = _parity([("lines", [orjson.dumps({"body": "x", "attributes": {"card_PIN": 1234}})])], keys)
    assert now.scans_lines == (native.record_scan(Redactor().native_scan, [], []) is not None)


def test_a_trigger_a_raw_text_could_hide_turns_the_scan_off() -> None:
    assert usable(["password", "://", "sk-"])
    assert not usable(['pass"word']) and not usable(["a\\b"]) and not usable(["tab\t"])


# --- the native scan and its Python reference ---------------------------------------------------------------------


def _reference(redactor: Redactor) -> LineScan:
    trigger = redactor._trigger  # the trigger regex: the native TriggerScan's reference

    def hit(raw: bytes) -> bool:
        return trigger.search(raw.decode("ascii").lower()) is not None

    return LineScan(hit, redactor.key_words, (FILE_PATH, RECORD_UID))


def _native(redactor: Redactor) -> Any:
    return native.record_scan(redactor.native_scan, list(redactor.key_words), sorted((FILE_PATH, RECORD_UID)))


@needs_scan
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.randoms(use_true_random=False), st.data())
def test_the_native_scan_answers_as_its_reference(record: dict[str, Any], rng: random.Random, data: Any) -> None:
    redactor = Redactor(extra_key_words=data.draw(st.sampled_from([(), ("pin",), ("",)])))
    reference, scan = _reference(redactor), _native(redactor)
    line = _line(record, rng)
    cut = data.draw(st.integers(0, len(line)))
    mutated = line[:cut] + data.draw(st.binary(max_size=3)) + line[cut + data.draw(st.integers(0, 3)) :]
    for candidate in (line, line[:cut], mutated, b" " + line + b"\t "):
        assert scan.suspect_line(candidate) == reference.suspect(candidate), candidate
    lines = line + b"\n" + mutated.replace(b"\n", b"") + b"\n"
    expected = [i for i, one in enumerate(lines.split(b"\n")[:-1]) if reference.suspect(one)]
    assert [i for i, _, _ in scan.suspects(lines)] == expected
    assert scan.suspects(lines[:-1]) is None


@needs_scan
def test_the_scan_gives_each_suspect_line_s_span() -> None:
    scan = _native(Redactor())
    lines = b'{"body":"ok"}\n{"body":"password=x"}\n{"body":"ok"}\n{"body":"token"}\n'
    assert scan.suspects(lines) == [(1, 14, 35), (3, 50, 66)]
    assert lines[14:35] == b'{"body":"password=x"}'
    assert scan.suspects(b"") == []
