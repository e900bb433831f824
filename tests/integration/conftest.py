"""Fixtures shared by the integration tests."""

from tests.integration.es_fixtures import es_node  # noqa: F401 - a real Elasticsearch node, used by name
