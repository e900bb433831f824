"""Durations as people write them (``30``, ``90s``, ``5m``, ``1h``, ``7d``, ``2w``, ``500ms``), in seconds: one
parser for the command line (``commands/units.py``) and the alert rules (``alerts/rules.py``)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def seconds(value: object) -> float:
    """A number (seconds) or a string such as ``"5m"`` -> seconds (>= 0); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
