"""Moved to ``otel_logging.record.lines``; this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.record.lines as _moved
from otel_logging.record.lines import *  # noqa: F403

sys.modules[__name__] = _moved
