"""The dashboard's query language: ``service:checkout AND level:error AND duration_ms > 500``.

``parse`` reads a query into a typed tree (``ast``) or raises ``QuerySyntaxError`` with the position
of the mistake; ``to_sql`` turns the tree into a WHERE fragment for the files source and ``to_es``
into Elasticsearch query DSL, with the same answers over the same records. The syntax is documented
in docs/query-language.md.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_logging.dashboard.querylang.ast import Node
from otel_logging.dashboard.querylang.errors import QuerySyntaxError
from otel_logging.dashboard.querylang.parser import parse
from otel_logging.dashboard.querylang.to_es import to_es
from otel_logging.dashboard.querylang.to_sql import to_sql


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``LogFilter.query_zone``); an unknown one is a QueryError."""
    from otel_logging.dashboard.query import QueryError

    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise QueryError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris") from exc


__all__ = ["Node", "QuerySyntaxError", "parse", "to_es", "to_sql", "zone_named"]
