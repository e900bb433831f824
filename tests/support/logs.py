"""Records of one logger, taken by a handler on that logger itself.

``caplog`` listens on the root logger: an earlier test in the same process may have disabled a logger of the
project, or stopped ``otel_logging`` from propagating to the root, and then ``caplog`` sees nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def logger_records(name: str, level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """The records ``name`` logs at ``level`` or above while the block runs (the logger enabled meanwhile)."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger(name)
    handler = logging.Handler(level)
    handler.emit = records.append  # type: ignore[method-assign]
    disabled, old_level = logger.disabled, logger.level
    logger.disabled = False
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.disabled = disabled
