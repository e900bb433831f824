"""Moved to ``otel_logging.compat.aggregation`` (the older API, deprecated);
this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.compat.aggregation as _moved
from otel_logging.compat.aggregation import *  # noqa: F403

sys.modules[__name__] = _moved
