"""Records at chosen times in per-app files, a real files source over them, and a clock the test moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)


def write_records(log_dir: Path, app: str, items: list[tuple[datetime, str, str]]) -> None:
    """Append (time, level, message) records to ``<log_dir>/<app>.jsonl``."""
    numbers = {"INFO": 9, "WARN": 13, "ERROR": 17}
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{app}.jsonl", "a", encoding="utf-8") as f:
        for when, level, message in items:
            stamp = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
            record = {
                "@timestamp": stamp,
                "observed_timestamp": stamp,
                "severity_text": level,
                "severity_number": numbers[level],
                "body": message,
                "logger": "app",
                "service": app,
                "attributes": {},
                "resource": {"service.name": app},
            }
            f.write(json.dumps(record) + "\n")


def burst(start: datetime, n: int, level: str = "ERROR", message: str = "payment failed for order {i}") -> list:
    return [(start + timedelta(milliseconds=10 * i), level, message.format(i=i)) for i in range(n)]


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
