"""Redaction cost: what masking adds to each record on the app side, with and without secrets.

Three sets of messages, logged as ``log.info("... %s ...", arg, extra={...})`` would build them:
``plain`` (no trigger word: the pre-filter's search alone), ``clean`` (ordinary lines with trigger-like
words: tokens used, password reset, URLs, long digit runs) and
``secrets`` (one secret in each: a password in free text, a GitHub token, a URL with credentials, ...).
For each set, in the same run and alternating sides every round:

    redaction alone   Redactor.text(message) + Redactor.mapping(attributes), per record
    handler, on       the handler turning a LogRecord into the entry it queues, redaction on
    handler, off      the same, redaction off (the ratio's baseline)

Usage: python bench/redaction.py [--records 20000] [--rounds 5]
Last line: redaction: plain A, clean B, secrets C ns/rec (redaction alone); handler ratio on/off plain D, ...
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402

from otel_logging.client.handler import OtelLoggingHandler  # noqa: E402
from otel_logging.record.redaction import Redactor  # noqa: E402

PLAIN = [  # no trigger word at all: the pre-filter's search and nothing else
    ("user %s did %s", ("alice", "checkout"), {"k": 1}),
    ("cache warmed in %s ms", (12,), {}),
    ("job %s finished: %s", ("nightly-export", "ok"), {"user": "bob"}),
    ("GET /api/v1/orders/%s 200", (1234,), {}),
]
CLEAN = [
    ("user %s did %s", ("alice", "checkout"), {"k": 1}),
    ("GET /api/v1/orders/%s 200 in %s ms", (12345, 12), {"http.route": "/api/v1/orders/{id}"}),
    ("request %s handled", ("550e8400-e29b-41d4-a716-446655440000",), {"user": "bob", "region": "eu-west-1"}),
    ("tokens used: %s of %s", (4096, 8192), {"model": "small"}),
    ("password reset email sent to user %s", (42,), {"tenant": "acme"}),
    ("deployed commit %s to prod", ("3f2a9c1b7d5e4f60718293a4b5c6d7e8f9012345",), {}),
    ("fetched https://cdn.example.com/img/%s.png", ("5d41402abc4b2a76b9719d911017c592",), {"bytes": 10240}),
    ("processing batch of %s records from topic orders.v2 partition %s", (500, 3), {"offset": 128734}),
]
SECRETS = [
    ("User %s logged in with password %s", (42, "hunter2"), {"k": 1}),
    ("cloning with token %s", ("ghp_0123456789abcdefghijABCDEFGHIJ012345",), {}),
    ("connecting to %s", ("postgres://shop:Xk9pLm2qRt@db.internal:5432/shop",), {"pool": 5}),
    ("api key %s", ("sk_live_51Habc123XYZabc123XYZ",), {}),
    ("login ok", (), {"password": "hunter2", "user": "ann"}),
    ("header Authorization: Bearer %s", ("9a8b7c6d5e4f3a2b1c0d",), {}),
    ("charged card %s", ("4111 1111 1111 1111",), {"amount": 12}),
    ("%s loaded", ("AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",), {}),
]


def make_records(kind: list[tuple[str, tuple, dict]], n: int) -> list[logging.LogRecord]:
    log = logging.getLogger("bench")
    return [
        log.makeRecord("bench", logging.INFO, __file__, 1, msg, args, None, extra=extra)
        for msg, args, extra in (kind[i % len(kind)] for i in range(n))
    ]


def per_record_ns(fn, records: list[logging.LogRecord]) -> float:
    start = time.perf_counter_ns()
    for record in records:
        fn(record)
    return (time.perf_counter_ns() - start) / len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    redactor = Redactor()
    provider = LoggerProvider()
    on = OtelLoggingHandler(logger_provider=provider, redactor=redactor)
    off = OtelLoggingHandler(logger_provider=provider, redactor=None)

    def alone(record: logging.LogRecord) -> None:
        redactor.text(record.getMessage())
        extra = {k: v for k, v in record.__dict__.items() if k in ("k", "user", "password", "pool", "amount")}
        if extra:
            redactor.mapping(extra)

    def baseline(record: logging.LogRecord) -> None:  # the same work without the redactor calls
        record.getMessage()
        {k: v for k, v in record.__dict__.items() if k in ("k", "user", "password", "pool", "amount")}

    results: dict[str, dict[str, list[float]]] = {}
    for name, kind in (("plain", PLAIN), ("clean", CLEAN), ("secrets", SECRETS)):
        records = make_records(kind, args.records)
        for fn in (alone, baseline, on._entry, off._entry):  # warm up (caches, compiled patterns)
            per_record_ns(fn, records[:500])
        samples: dict[str, list[float]] = {"alone": [], "base": [], "on": [], "off": []}
        for round_ in range(args.rounds):
            order = [("alone", alone), ("base", baseline), ("on", on._entry), ("off", off._entry)]
            if round_ % 2:
                order.reverse()  # alternate the sides across rounds
            for label, fn in order:
                samples[label].append(per_record_ns(fn, records))
        results[name] = samples
        med = {label: statistics.median(values) for label, values in samples.items()}
        print(
            f"{name:8s} redaction alone {med['alone'] - med['base']:7.0f} ns/rec "
            f"(text+mapping {med['alone']:.0f}, the same without redaction {med['base']:.0f}); "
            f"handler entry on {med['on']:.0f} / off {med['off']:.0f} ns/rec = {med['on'] / med['off']:.2f}x "
            f"(median of {args.rounds} rounds, {args.records} records)"
        )
    p, c, s = ({k: statistics.median(v) for k, v in results[n].items()} for n in ("plain", "clean", "secrets"))
    print(
        f"redaction: plain {p['alone'] - p['base']:.0f}, clean {c['alone'] - c['base']:.0f}, "
        f"secrets {s['alone'] - s['base']:.0f} ns/rec (redaction alone); handler ratio on/off "
        f"plain {p['on'] / p['off']:.2f}, clean {c['on'] / c['off']:.2f}, secrets {s['on'] / s['off']:.2f}"
    )


if __name__ == "__main__":
    main()
