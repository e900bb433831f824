"""Offered load for the overload test: many gRPC senders, open loop or back to back, retrying refusals."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import grpc

from tests.support.faults import BatchTemplate

RETRYABLE = {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}


class LoadStats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[int] = []  # batch numbers acknowledged
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.behind_s = 0.0  # how far the senders ended up behind their schedule


def drive(
    call: grpc.UnaryUnaryMultiCallable,
    template: BatchTemplate,
    *,
    senders: int,
    seconds: float,
    requests_per_s: float | None,
    first_batch: int,
) -> LoadStats:
    """``senders`` threads; each sends on its own schedule (open loop) or back to back (``requests_per_s=None``).

    A refused batch (RESOURCE_EXHAUSTED, UNAVAILABLE) is retried after a growing pause, as OTLP clients do.
    """
    stats = LoadStats()
    batches = itertools.count(first_batch)
    start = time.monotonic()
    end = start + seconds
    interval = senders / requests_per_s if requests_per_s else 0.0

    def sender(index: int) -> None:
        due = start + index * interval / senders
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if interval and due > now:
                time.sleep(due - now)  # the client's own pace (open loop), not synchronisation
            due += interval
            batch = next(batches)
            payload = template.request(batch)
            pause = 0.05
            while True:
                sent_at = time.monotonic()
                try:
                    call(payload, timeout=60)
                    status = "OK"
                except grpc.RpcError as exc:
                    status = exc.code().name
                with stats.lock:
                    stats.statuses[status] += 1
                    if status == "OK":
                        stats.acked.append(batch)
                        stats.latencies.append(time.monotonic() - sent_at)
                if status not in RETRYABLE:
                    break
                time.sleep(pause)  # retry backoff of the client
                pause = min(pause * 2, 1.0)
        with stats.lock:
            stats.behind_s = max(stats.behind_s, time.monotonic() - due) if interval else 0.0

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")
