"""The ``captured_logs`` fixture of otel_logging.testing, used as docs/libraries.md tells users to."""

from otel_logging.testing import captured_logs  # noqa: F401 - a fixture, used by name
