"""The one "last complete line" rule for JSON-lines files that may end in a torn (partly written) line."""

from __future__ import annotations

import os

BLOCK = 1 << 16


def last_line_end(fd: int, start: int, size: int, block: int = BLOCK) -> int:
    """The offset just after the last newline in bytes ``[start, size)`` of the open file ``fd``, or ``start``
    if there is none. Reads backwards in blocks with ``os.pread`` (the file position is not moved)."""
    end = size
    while end > start:
        low = max(start, end - block)
        chunk = os.pread(fd, end - low, low)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return low + newline + 1
        end = low
    return start
