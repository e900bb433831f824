"""Progress of an aggregation: a one-line bar on a terminal (files, bytes, records/s, ETA), else nothing."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts what was done; draws at most a few times a second when ``stream`` is a terminal."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        interval_s: float = 0.2,
        counts_records: bool = True,
        delay_s: float = 0.0,
    ) -> None:
        """``counts_records=False``: the work is told in bytes only, and the bar shows bytes per second.
        ``delay_s``: nothing is drawn before the work has taken that long (work done sooner leaves no line)."""
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval_s = interval_s
        self.total_files = 0
        self.total_bytes = 0
        self.files_done = 0
        self.bytes_done = 0
        self.records = 0
        self.counts_records = counts_records
        self.started = time.monotonic()
        self._drawn = 0.0
        self._quiet_until = self.started + delay_s
        self._shown = False  # drawn at least once

    def plan(self, files: int, total_bytes: int) -> None:
        self.total_files = files
        self.total_bytes = total_bytes

    def advance(self, nbytes: int, records: int) -> None:
        self.bytes_done += nbytes
        self.records += records
        if self.enabled:
            now = time.monotonic()
            if now - self._drawn >= self.interval_s and now >= self._quiet_until:
                self._drawn = now
                self._draw(now)

    def file_done(self) -> None:
        self.files_done += 1
        if self.enabled and time.monotonic() >= self._quiet_until:
            self._draw(time.monotonic())

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.records / elapsed
        byte_rate = self.bytes_done / elapsed
        if self.total_bytes and byte_rate > 0:
            remaining = max(self.total_bytes - self.bytes_done, 0) / byte_rate
            eta = _duration(remaining)
            share = min(self.bytes_done / self.total_bytes, 1.0)
        else:
            eta, share = "-:--:--", 0.0
        filled = int(share * 20)
        bar = "#" * filled + "." * (20 - filled)
        speed = f"{self.records:,} records  {rate:,.0f}/s" if self.counts_records else f"{_size(byte_rate)}/s"
        return (
            f"[{bar}] files {self.files_done}/{self.total_files}  {_size(self.bytes_done)}/{_size(self.total_bytes)}"
            f"  {speed}  ETA {eta}"
        )

    def _draw(self, now: float) -> None:
        self._shown = True
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and (self._shown or time.monotonic() >= self._quiet_until):
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
