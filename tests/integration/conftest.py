"""Fixtures shared by the integration tests."""

from tests.integration.dashboard_browser import chromium  # noqa: F401 - headless Chromium, used by name
from tests.support.es_fixtures import es_node  # noqa: F401 - a real Elasticsearch node, used by name
