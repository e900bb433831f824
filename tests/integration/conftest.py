"""Fixtures shared by the integration tests."""

from tests.integration.dashboard_browser import chromium  # noqa: F401 - headless Chromium, used by name
from tests.support.es_fixtures import es_node, es_node_9, es_node_each  # noqa: F401 - real Elasticsearch nodes, used by name
