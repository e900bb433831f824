"""Remote destinations for aggregation, built from the project's own sinks.

Elasticsearch and Logstash are shipped by ``otel_logging.sinks.elasticsearch`` and
``otel_logging.sinks.logstash`` (through the durable queue); this module only constructs them
from command-line style settings.
"""

from __future__ import annotations

import importlib
from typing import Any

from otel_logging.sinks import Sink


class DestinationUnavailable(RuntimeError):
    """The sink module for a destination is not part of this installation."""


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"otel_logging.sinks.{name}")
    except ImportError as exc:
        raise DestinationUnavailable(f"the {name} sink is not available in this installation ({exc})") from exc


def elasticsearch_sink(url: str, index: str | None = None) -> Sink:
    """A sink writing to the Elasticsearch at ``url`` (data streams ``logs-<app>-default`` unless ``index``)."""
    module = _module("elasticsearch")
    factory = getattr(module, "sink_from_url", None)
    if factory is None:
        raise DestinationUnavailable("otel_logging.sinks.elasticsearch has no sink_from_url(url, index) yet")
    return factory(url, index)


def logstash_sink(host: str, port: int) -> Sink:
    """A sink sending JSON lines to Logstash's ``tcp`` input at ``host:port``."""
    module = _module("logstash")
    factory = getattr(module, "sink_from_address", None)
    if factory is None:
        raise DestinationUnavailable("otel_logging.sinks.logstash has no sink_from_address(host, port) yet")
    return factory(host, port)
