"""Moved to ``otel_logging.record.severity``; this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.record.severity as _moved
from otel_logging.record.severity import *  # noqa: F403

sys.modules[__name__] = _moved
