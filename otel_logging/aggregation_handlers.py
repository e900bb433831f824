"""Moved to ``otel_logging.compat.aggregation_handlers`` (the older API, deprecated);
this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.compat.aggregation_handlers as _moved
from otel_logging.compat.aggregation_handlers import *  # noqa: F403

sys.modules[__name__] = _moved
