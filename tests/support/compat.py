"""The older API's deprecation warnings in tests: asserted once (tests/unit/compat/test_compat.py), filtered elsewhere.

``older_api`` marks a test (or, as ``pytestmark``, a module) that uses the older API on purpose; it ignores only
the warnings of ``otel_logging.compat`` (their text ends with a pointer to docs/migrating.md), nothing else.
"""

from __future__ import annotations

import pytest

OLDER_API_WARNING = r"ignore:.+ is deprecated.+see docs/migrating\.md:DeprecationWarning"

older_api = pytest.mark.filterwarnings(OLDER_API_WARNING)
