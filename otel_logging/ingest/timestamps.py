"""Timestamps found in log files -> nanoseconds since the epoch.

ISO 8601 / RFC 3339 (``T`` or space, ``.`` or ``,`` fraction, ``Z`` or ``+hh:mm`` or ``+hhmm``) and
Unix epoch numbers (seconds, milliseconds, microseconds or nanoseconds). A timestamp that names its
zone keeps it; a naive one is read in the configured zone (UTC unless told otherwise), daylight
saving included. Conversions are cached per second, since log lines share their seconds.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ISO = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9})\d*)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


class TimestampError(ValueError):
    """A timestamp that cannot be read."""


def load_zone(name: str) -> ZoneInfo | None:
    """The zone used for naive timestamps; ``None`` for UTC (the fast path)."""
    if name.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'") from exc


class TimestampParser:
    """Parse timestamps to Unix nanoseconds; naive ones are in ``zone`` (``None`` = UTC)."""

    def __init__(self, zone: ZoneInfo | None = None) -> None:
        self.zone = zone
        self._cache: dict[tuple[str, ...], int] = {}

    def parse(self, text: str) -> int:
        match = _ISO.match(text)
        if match is None:
            return self._parse_other(text)
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        key = (year, month, day, hour, minute, second or "0", offset or "")
        seconds = self._cache.get(key)
        if seconds is None:
            seconds = self._seconds(key)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = seconds
        nanos = int(fraction.ljust(9, "0")) if fraction else 0
        return seconds * 1_000_000_000 + nanos

    def _seconds(self, key: tuple[str, ...]) -> int:
        year, month, day, hour, minute, second, offset = key
        try:
            fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
            if offset:
                utc = calendar.timegm((*fields, 0, 0, 0))
                return utc - _offset_seconds(offset)
            if self.zone is None:
                datetime(*fields)  # validates the calendar date
                return calendar.timegm((*fields, 0, 0, 0))
            return int(datetime(*fields, tzinfo=self.zone).timestamp())
        except ValueError as exc:
            raise TimestampError(f"invalid date {'-'.join(key[:3])}: {exc}") from None

    def _parse_other(self, text: str) -> int:
        try:
            number = float(text)
        except ValueError:
            raise TimestampError(f"unrecognised timestamp {text[:40]!r}") from None
        return self.from_epoch(number)

    @staticmethod
    def from_epoch(number: float) -> int:
        """An epoch number in s, ms, us or ns (guessed by magnitude) to nanoseconds."""
        magnitude = abs(number)
        if magnitude < 1e11:
            return round(number * 1e6) * 1000  # float seconds carry microseconds at best
        if magnitude < 1e14:
            return round(number * 1e6)
        if magnitude < 1e17:
            return round(number * 1e3)
        return int(number)


def _offset_seconds(offset: str) -> int:
    if offset in ("Z", "z", "UTC"):
        return 0
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    return sign * (hours * 3600 + minutes * 60)
