"""The older design's API, kept working as thin layers over the core; each entry point is deprecated.

- ``centralized_logging``: ``configure_centralized_logging``, ``get_centralized_logger`` -> ``otel_logging.setup()``
- ``handlers`` (``ElasticsearchHandler``), ``handlers_logstash`` (``LogstashHandler``), ``handlers_base``
  -> ``otel_logging.setup()`` and ``otel-logging serve --es-url`` / ``--logstash`` (a durable queue)
- ``aggregation`` (``LogAggregator``, ``configure_log_aggregation``), ``aggregation_handlers``
  (``FileRotatingHandler``, adapters to the ``Sink`` protocol) -> ``otel-logging aggregate`` / ``otel_logging.ingest``

Calling an entry point emits a ``DeprecationWarning`` naming its replacement, attributed to the caller's line.
The old module paths (``otel_logging.centralized_logging``, ``otel_logging.handlers``, ...) are these modules.
Nothing else in ``otel_logging`` imports this package.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from contextvars import ContextVar

_INTERNAL: ContextVar[bool] = ContextVar("otel_logging_compat_internal", default=False)


def warn_deprecated(entry_point: str, replacement: str, *, stacklevel: int = 3) -> None:
    """``entry_point`` is deprecated: use ``replacement``. ``stacklevel`` 3: the caller of the entry point."""
    if _INTERNAL.get():
        return
    warnings.warn(
        f"{entry_point} is deprecated: {replacement} (see docs/migrating.md)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


@contextlib.contextmanager
def internal_use() -> Iterator[None]:
    """An entry point used by another one (``configure_log_aggregation`` makes a ``LogAggregator``): one warning."""
    token = _INTERNAL.set(True)
    try:
        yield
    finally:
        _INTERNAL.reset(token)
