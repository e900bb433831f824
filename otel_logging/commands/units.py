"""Parsing sizes (``100MB``) and durations (``7d``) given on the command line."""

from __future__ import annotations

import argparse
import re

from otel_logging.durations import seconds

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``1048576``, ``100MB``, ``1GiB`` -> bytes (binary multiples)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 100MB")
    unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(match.group(1)) * _SIZE_UNITS[unit]


def parse_duration(text: str) -> int:
    """``3600``, ``90s``, ``15m``, ``1h``, ``7d`` -> whole seconds (``otel_logging/durations.py``)."""
    try:
        value = seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 1h or 7d") from None
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    return int(value)
