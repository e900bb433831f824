"""Moved to ``otel_logging.sinks.queue``; this import path stays for existing code (it is the same module)."""

import sys

import otel_logging.sinks.queue as _moved
from otel_logging.sinks.queue import *  # noqa: F403

sys.modules[__name__] = _moved
