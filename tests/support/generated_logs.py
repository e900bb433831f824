"""Generated per-app log files in the canonical record shape, for dashboard tests and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from otel_logging.record import Record, rfc3339_nanos, to_json_lines

LEVELS = (("DEBUG", 5), ("INFO", 9), ("INFO", 9), ("INFO", 9), ("WARN", 13), ("ERROR", 17))
MESSAGES = (
    "order {n} placed by user {u}",
    "payment {n} declined: card 'visa-{u}'",
    "cache miss for key {hex}",
    "request {uuid} took {ms} ms",
    'user "{name}" logged in from 10.0.{u}.{n}',
)
NAMES = ("alice", "bob", "carol", "dave")


def make_record(
    service: str,
    when: datetime,
    *,
    level: tuple[str, int] = ("INFO", 9),
    body: object = "hello",
    logger: str = "app.main",
    attributes: dict[str, object] | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> Record:
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    record: Record = {
        "@timestamp": rfc3339_nanos(ns),
        "observed_timestamp": rfc3339_nanos(ns + 1000),
        "severity_text": level[0],
        "severity_number": level[1],
        "body": body,
        "logger": logger,
        "service": service,
        "attributes": attributes or {},
        "resource": {"service.name": service, "host.name": "test-host"},
    }
    if trace_id:
        record["trace_id"] = trace_id
        record["span_id"] = span_id or trace_id[:16]
    return record


@dataclass(frozen=True)
class GeneratedSet:
    apps: list[str]
    records: int
    start: datetime
    end: datetime


def random_records(service: str, count: int, start: datetime, step: timedelta, rng: random.Random) -> Iterator[Record]:
    for i in range(count):
        n, u = rng.randint(1, 99_999), rng.randint(1, 500)
        template = MESSAGES[i % len(MESSAGES)]
        body = template.format(
            n=n,
            u=u,
            hex=f"{rng.getrandbits(64):016x}",
            uuid=f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
            ms=rng.randint(1, 900),
            name=NAMES[u % len(NAMES)],
        )
        yield make_record(
            service,
            start + step * i,
            level=LEVELS[rng.randrange(len(LEVELS))],
            body=body,
            logger=f"{service}.module{i % 7}",
            attributes={"order_id": n, "http.status_code": 200 if u % 10 else 500, "customer": {"tier": "gold"}},
            trace_id=f"{rng.getrandbits(128):032x}",
            span_id=f"{rng.getrandbits(64):016x}",
        )


def write_app_logs(
    log_dir: Path,
    apps: int,
    per_app: int,
    *,
    end: datetime | None = None,
    span: timedelta = timedelta(hours=1),
    seed: int = 7,
) -> GeneratedSet:
    """``apps`` files ``app00.jsonl``... with ``per_app`` records each, evenly spread over ``span`` up to ``end``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    end = end or datetime.now(UTC)
    start = end - span
    step = span / max(per_app, 1)
    rng = random.Random(seed)
    names = [f"app{i:02d}" for i in range(apps)]
    for index, name in enumerate(names):
        path = log_dir / f"{name}.jsonl"
        with open(path, "wb") as f:
            batch: list[Record] = []
            for record in random_records(name, per_app, start + timedelta(microseconds=index), step, rng):
                batch.append(record)
                if len(batch) == 10_000:
                    f.write(to_json_lines(batch))
                    batch.clear()
            f.write(to_json_lines(batch))
    return GeneratedSet(names, apps * per_app, start, end)
