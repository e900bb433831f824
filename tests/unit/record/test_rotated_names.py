"""otel_logging.record.names: the one rotated-file-name rule (<app>.<UTC stamp>.jsonl[.gz])."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from otel_logging.dashboard.sources.logfiles import parse_name
from otel_logging.record.names import (
    _ROTATED_SUFFIX,
    LogFileName,
    parse_log_file_name,
    rotated_name,
    rotated_pattern,
    safe_app_name,
)
from otel_logging.sinks import files

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_rotated_name_format() -> None:
    assert rotated_name("api", WHEN) == "api.20260102T030405.678901Z.jsonl"
    # any zone: the stamp is UTC
    local = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert rotated_name("api", local) == "api.20260102T030405.678901Z.jsonl"


def test_rotated_name_now_parses_back() -> None:
    parsed = parse_log_file_name(rotated_name("api.v2"))
    assert parsed is not None and parsed.app == "api.v2" and parsed.rotated and not parsed.compressed


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api.jsonl", LogFileName("api", None, False)),
        ("api.v2.jsonl", LogFileName("api.v2", None, False)),
        ("api.20260102T030405.678901Z.jsonl", LogFileName("api", "20260102T030405.678901Z", False)),
        ("api.v2.20260102T030405.678901Z.jsonl.gz", LogFileName("api.v2", "20260102T030405.678901Z", True)),
        ("api.jsonl.gz", LogFileName("api", None, True)),
        (".api.20260102T030405.678901Z.jsonl.gz.partial", None),
        (".hidden.jsonl", None),
        ("api.log", None),
        ("a b.jsonl", None),
        ("api.jsonl.tmp", None),
    ],
)
def test_parse_log_file_name(name: str, expected: LogFileName | None) -> None:
    assert parse_log_file_name(name) == expected


def test_rotated_pattern_matches_only_that_apps_rotated_files() -> None:
    pattern = rotated_pattern("api")
    name = rotated_name("api", WHEN)
    match = pattern.match(name)
    assert match is not None and match.group(1) == "20260102T030405.678901Z" and match.group(2) is None
    gz = pattern.match(name + ".gz")
    assert gz is not None and gz.group(2) == ".gz"
    assert pattern.match("api.jsonl") is None
    assert pattern.match(rotated_name("api2", WHEN)) is None
    assert files.rotated_pattern is rotated_pattern


def test_users_of_the_rule_agree() -> None:
    name = rotated_name("billing-svc", WHEN)
    assert parse_name(name) == ("billing-svc", True, False)
    assert parse_name(name + ".gz") == ("billing-svc", True, True)
    assert files.SUFFIX == ".jsonl"


def test_no_stem_looks_rotated() -> None:
    stamp_like = rotated_name("x", WHEN)[1 : -len(".jsonl")]  # ".<stamp>"
    assert _ROTATED_SUFFIX.search(stamp_like)
    stem = safe_app_name("api" + stamp_like)
    parsed = parse_log_file_name(rotated_name(stem, WHEN))
    assert parsed is not None and parsed.app == stem
    live = parse_log_file_name(stem + ".jsonl")
    assert live is not None and not live.rotated
