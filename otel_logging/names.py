"""Moved to ``otel_logging.record.names``; this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.record.names as _moved
from otel_logging.record.names import *  # noqa: F403

sys.modules[__name__] = _moved
