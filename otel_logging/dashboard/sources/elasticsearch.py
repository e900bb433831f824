"""The Elasticsearch source: the same queries through the query DSL over ``logs-*``.

Field names are the canonical record's (the Elasticsearch sink indexes records as they are):
``service``/``logger``/``trace_id``/``severity_text`` keywords, ``severity_number`` integer,
``@timestamp`` date(_nanos), ``body`` text with a ``body.keyword`` sub-field (a structured body is
its JSON text, the map itself in ``body_structured``), ``attributes``/``resource`` flattened.

The query builders are plain functions of a ``LogFilter`` (unit-tested on their own); the class
only sends them. What records to show is the filter's query, which ``querylang.to_es`` turns into
query DSL; here are only the apps, the time range and the snapshot around it.

Order: ``@timestamp``, ties broken by ``observed_timestamp``, then the backing index and the document's
``_seq_no`` (the sink's ids are hashes, and sorting on ``_id`` is disabled in 8.x), so pages and the
context view have one stable order.

Snapshots (``snapshot`` / ``LogFilter.until`` / ``newer_than``): Elasticsearch has no arrival order
across shards, but inside one shard ``_seq_no`` is exactly that, and it can be searched and aggregated.
A snapshot asks (one aggregation, no server-side state) for the highest ``_seq_no`` searchable in each
backing index and keeps that map here, under the token it returns; ``until=token`` then matches
``_index = X AND _seq_no <= max(X)`` for the indices known at the snapshot, and nothing of indices
created since (a rollover, a new service). Exact for the one-shard indices the sink creates; the
approximations: an index of several shards is judged by the highest ``_seq_no`` over its shards (a
shard behind the others may show a few newer records); a document indexed but not yet refreshed with a
lower ``_seq_no`` than one already searchable (concurrent bulk requests) counts as known. A token this
source did not hand out (another process, or evicted after ``MAX_SNAPSHOTS`` newer ones) falls back to
``@timestamp <= token`` (the token is the epoch milliseconds of the call), which misses late arrivals.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from otel_logging.dashboard.export import export_chunks
from otel_logging.dashboard.filters import (
    LEVELS,
    TOP_LEVEL_FIELDS,
    UNSET_LEVEL,
    FieldRef,
    LogFilter,
    level_of,
)
from otel_logging.dashboard.patterns import template_of
from otel_logging.dashboard.query import (
    AppFiles,
    ExportFormat,
    Hit,
    Page,
    PatternGroup,
    QueryError,
    SourceStatus,
    ValueCount,
    Volume,
    VolumeBucket,
)
from otel_logging.dashboard.querylang import parse, to_es, zone_named
from otel_logging.dashboard.querylang.to_es import Expand, iso_time, level_query, missing_field

INDEX_PATTERN = "logs-*"
MAX_WINDOW = 10_000  # Elasticsearch's default index.max_result_window
PATTERN_SAMPLE = 5_000
MAX_SNAPSHOTS = 4_096  # snapshot tokens remembered (each a map of backing index -> highest _seq_no)
MAX_SNAPSHOT_INDICES = 10_000  # backing indices a snapshot can name
# Distinct values of an attribute a pattern or a comparison may match (an Elasticsearch terms query takes
# at most 65,536 by default): more is an error that says to narrow the query.
MAX_EXPANSION = 10_000
# A total order (see the module docstring); a record without observed_timestamp sorts as the oldest of its time.
_SORT_NEWEST: list[dict[str, Any]] = [
    {"@timestamp": {"order": "desc"}},
    {"observed_timestamp": {"order": "desc", "missing": "_last", "unmapped_type": "date_nanos"}},
    {"_index": {"order": "desc"}},
    {"_seq_no": {"order": "desc"}},
]
_SORT_OLDEST: list[dict[str, Any]] = [
    {"@timestamp": {"order": "asc"}},
    {"observed_timestamp": {"order": "asc", "missing": "_first", "unmapped_type": "date_nanos"}},
    {"_index": {"order": "asc"}},
    {"_seq_no": {"order": "asc"}},
]
_FIELD_PATHS = {"message": "body.keyword", "level": "severity_number"}


def field_path(fld: FieldRef) -> str:
    if fld.key:
        return f"{fld.column}.{fld.key}"
    if fld.column not in TOP_LEVEL_FIELDS:
        raise QueryError(f"unknown field {fld.column!r}")
    return _FIELD_PATHS.get(fld.column, fld.column)


def until_query(token: int, known: Mapping[str, int] | None) -> dict[str, Any]:
    """Records known at the snapshot ``token``: ``known`` maps each backing index then searchable to its
    highest ``_seq_no``; without it (a token not handed out by this source), ``@timestamp <= token`` (ms)."""
    if known is None:
        return {"range": {"@timestamp": {"lte": int(token), "format": "epoch_millis"}}}
    if not known:
        return {"match_none": {}}  # (a bool of no clauses would match everything)
    per_index = [
        {"bool": {"filter": [{"term": {"_index": index}}, {"range": {"_seq_no": {"lte": int(seq_no)}}}]}}
        for index, seq_no in sorted(known.items())
    ]
    return {"bool": {"should": per_index, "minimum_should_match": 1}}


def _no_expand(path: str, regex: str) -> list[str]:
    raise QueryError(f"matching a pattern or comparing numbers on {path} needs the Elasticsearch source")


def build_query(flt: LogFilter, known: Mapping[str, int] | None = None, expand: Expand = _no_expand) -> dict[str, Any]:
    """The ``query`` of a search for ``flt``; ``known`` is the snapshot named by ``flt.until`` (see ``until_query``);
    ``expand`` lists the values of a flattened key matching a regular expression (see ``querylang.to_es``)."""
    clauses: list[dict[str, Any]] = []
    if flt.apps:
        clauses.append({"terms": {"service": list(flt.apps)}})
    if flt.start_utc or flt.end_utc:
        bounds: dict[str, str] = {}
        if flt.start_utc:
            bounds["gte"] = iso_time(flt.start_utc)
        if flt.end_utc:
            bounds["lt"] = iso_time(flt.end_utc)
        clauses.append({"range": {"@timestamp": bounds}})
    if flt.query.strip():
        clauses.append(to_es(parse(flt.query, zone_named(flt.query_zone)), expand))
    if flt.until is not None:
        clauses.append(until_query(flt.until, known))
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def level_filters() -> dict[str, Any]:
    """A ``filters`` aggregation with one bucket per level."""
    return {"filters": {"filters": {level: level_query((level,)) for level in (*LEVELS, UNSET_LEVEL)}}}


def volume_aggs(bucket_seconds: int) -> dict[str, Any]:
    return {
        "volume": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": f"{int(bucket_seconds)}s", "min_doc_count": 1},
            "aggs": {"levels": level_filters()},
        }
    }


def top_values_aggs(fld: FieldRef, limit: int) -> dict[str, Any]:
    if fld.column == "level" and not fld.key:
        return {"top": level_filters()}
    return {"top": {"terms": {"field": field_path(fld), "size": int(limit)}}}


def hit_from_source(index: str, doc_id: str, source: dict[str, Any]) -> Hit:
    """The canonical record of a document (a structured body restored from ``body_structured``)."""
    record = dict(source)
    structured = record.pop("body_structured", None)
    if structured is not None:
        record["body"] = structured
    level = level_of(record.get("severity_number"), record.get("severity_text"))
    return Hit(record, level, f"{index}/{doc_id}")


class ElasticsearchSource:
    """Canonical records in the data streams ``logs-*`` of one Elasticsearch cluster."""

    def __init__(
        self,
        url: str,
        *,
        index: str = INDEX_PATTERN,
        client: Any = None,
        request_timeout: float = 30,
        max_window: int = MAX_WINDOW,
    ) -> None:
        if client is None:
            from elasticsearch import Elasticsearch

            client = Elasticsearch(url, request_timeout=request_timeout)
        self.url = url
        self.index = index
        self.max_window = max_window  # the cluster's index.max_result_window: deeper pages use search_after
        self._client = client
        self._status = SourceStatus(description=f"Elasticsearch {url} ({index})")
        self._snapshots: OrderedDict[int, dict[str, int]] = OrderedDict()  # token -> backing index -> _seq_no
        self._snapshots_lock = threading.Lock()
        self._last_token = 0
        self._expansions: dict[tuple[str, str], list[str]] = {}  # (key, regex) -> values; emptied by refresh()

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from elasticsearch import ApiError, TransportError

        try:
            response = fn(**kwargs)
        except TransportError as exc:
            raise QueryError(f"Elasticsearch at {self.url} is unreachable ({what}): {exc}") from exc
        except ApiError as exc:
            raise QueryError(f"Elasticsearch at {self.url} refused the {what} query: {exc}") from exc
        return response.body if hasattr(response, "body") else response

    def _search(self, what: str, **body: Any) -> dict[str, Any]:
        return self._call(what, self._client.search, index=self.index, ignore_unavailable=True, **body)

    def _known(self, token: int) -> dict[str, int] | None:
        with self._snapshots_lock:
            return self._snapshots.get(token)

    def _query(self, flt: LogFilter) -> dict[str, Any]:
        query = build_query(flt, None if flt.until is None else self._known(flt.until), self._expand)
        if flt.after is None:
            return query
        return {"bool": {"filter": [query], "must_not": [until_query(flt.after, self._known(flt.after))]}}

    def _expand(self, path: str, regex: str) -> list[str]:
        """The distinct values of the flattened key ``path`` that match ``regex`` (whole value, Lucene syntax).

        Asked once per refresh: a page builds the same query for its rows, counts, chart and pickers."""
        cached = self._expansions.get((path, regex))
        if cached is not None:
            return cached
        aggs = {"values": {"terms": {"field": path, "include": regex, "size": MAX_EXPANSION + 1}}}
        body = self._search("values", size=0, aggs=aggs)
        values = [str(b["key"]) for b in body.get("aggregations", {}).get("values", {}).get("buckets", [])]
        if len(values) > MAX_EXPANSION:
            raise QueryError(
                f"more than {MAX_EXPANSION:,} distinct values of {path} match this pattern or comparison in "
                "Elasticsearch (attributes are kept as text there): narrow the query"
            )
        self._expansions[(path, regex)] = values
        return values

    def refresh(self, force: bool = False, progress: Callable[[int, int], None] | None = None) -> SourceStatus:
        self._expansions = {}  # values written since may match a pattern now
        try:
            count = self._call("count", self._client.count, index=self.index, ignore_unavailable=True)
            self._status = SourceStatus(
                description=self._status.description, records=int(count.get("count", 0)), last_updated=datetime.now(UTC)
            )
        except QueryError as exc:
            self._status = SourceStatus(description=self._status.description, problems=[str(exc)])
        return self._status

    def status(self) -> SourceStatus:
        return self._status

    def apps(self) -> list[AppFiles]:
        body = self._search("services", size=0, aggs={"services": {"terms": {"field": "service", "size": 1000}}})
        return [AppFiles(b["key"], []) for b in body.get("aggregations", {}).get("services", {}).get("buckets", [])]

    def count(self, flt: LogFilter) -> int:
        return int(self._call("count", self._client.count, index=self.index, query=self._query(flt)).get("count", 0))

    def time_bounds(self, flt: LogFilter) -> tuple[datetime | None, datetime | None]:
        aggs = {"low": {"min": {"field": "@timestamp"}}, "high": {"max": {"field": "@timestamp"}}}
        body = self._search("time bounds", size=0, query=self._query(flt), aggs=aggs)
        values = body.get("aggregations", {})

        def when(name: str) -> datetime | None:
            ms = (values.get(name) or {}).get("value")
            return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None

        return when("low"), when("high")

    def page(self, flt: LogFilter, offset: int = 0, limit: int = 100) -> Page:
        query = self._query(flt)
        if offset + limit <= self.max_window:
            body = self._search("page", query=query, sort=_SORT_NEWEST, from_=offset, size=limit, track_total_hits=True)
            hits = [hit_from_source(h["_index"], h["_id"], h["_source"]) for h in body["hits"]["hits"]]
            return Page(hits, int(body["hits"]["total"]["value"]), offset, limit)
        skipped = 0
        after: list[Any] | None = None
        total = self.count(flt)
        while skipped < offset:  # deep pages: walk with search_after
            size = min(self.max_window, offset - skipped)
            batch = self._search("page", query=query, sort=_SORT_NEWEST, size=size, search_after=after)["hits"]["hits"]
            if not batch:
                return Page([], total, offset, limit)
            skipped += len(batch)
            after = batch[-1]["sort"]
        body = self._search("page", query=query, sort=_SORT_NEWEST, size=limit, search_after=after)
        hits = [hit_from_source(h["_index"], h["_id"], h["_source"]) for h in body["hits"]["hits"]]
        return Page(hits, total, offset, limit)

    def volume(self, flt: LogFilter, bucket_seconds: int) -> Volume:
        body = self._search("volume", size=0, query=self._query(flt), aggs=volume_aggs(bucket_seconds))
        buckets: list[VolumeBucket] = []
        for bucket in body.get("aggregations", {}).get("volume", {}).get("buckets", []):
            start = datetime.fromtimestamp(bucket["key"] / 1000, UTC)
            for level, item in bucket["levels"]["buckets"].items():
                if item["doc_count"]:
                    buckets.append(VolumeBucket(start, level, int(item["doc_count"])))
        return Volume(bucket_seconds, buckets)

    def top_values(self, flt: LogFilter, fld: FieldRef, limit: int = 10) -> list[ValueCount]:
        body = self._search("top values", size=0, query=self._query(flt), aggs=top_values_aggs(fld, limit))
        top = body.get("aggregations", {}).get("top", {})
        buckets = top.get("buckets", [])
        if isinstance(buckets, dict):  # the level filters
            pairs = [(k, v["doc_count"]) for k, v in buckets.items() if v["doc_count"]]
        else:
            pairs = [(b.get("key_as_string", b["key"]), b["doc_count"]) for b in buckets]
        pairs.sort(key=lambda p: (-p[1], str(p[0])))
        return [ValueCount(str(k), int(n)) for k, n in pairs[:limit]]

    def field_names(self, flt: LogFilter) -> list[str]:
        body = self._search("fields", query=self._query(flt), size=200, _source=["attributes", "resource"])
        keys: set[str] = set()
        for hit in body["hits"]["hits"]:
            for column in ("attributes", "resource"):
                keys.update(f"{column}.{k}" for k in (hit["_source"].get(column) or {}))
        return [*TOP_LEVEL_FIELDS, *sorted(keys)]

    def patterns(self, flt: LogFilter, limit: int = 50) -> list[PatternGroup]:
        """Templates of the newest ``PATTERN_SAMPLE`` matching records (grouped here, not in the cluster)."""
        body = self._search(
            "patterns",
            query=self._query(flt),
            sort=_SORT_NEWEST,
            size=PATTERN_SAMPLE,
            _source=["@timestamp", "body"],
        )
        hits = body["hits"]["hits"]
        times = [datetime.fromisoformat(h["_source"]["@timestamp"]) for h in hits if h["_source"].get("@timestamp")]
        if not times:
            return []
        low, high = flt.start_utc or min(times), flt.end_utc or max(times)
        middle = low + (high - low) / 2
        groups: dict[str, list[Any]] = {}
        for hit in hits:
            message = hit["_source"].get("body")
            text = message if isinstance(message, str) else str(message)
            when = datetime.fromisoformat(hit["_source"]["@timestamp"])
            group = groups.setdefault(template_of(text), [0, when, when, 0, text])
            group[0] += 1
            group[1], group[2] = min(group[1], when), max(group[2], when)
            group[3] += 1 if when >= middle else -1
        ordered = sorted(groups.items(), key=lambda kv: (-kv[1][3], -kv[1][0], kv[0]))
        return [PatternGroup(t, n, first, last, growth, ex) for t, (n, first, last, growth, ex) in ordered[:limit]]

    def trace(self, trace_id: str, limit: int = 10_000) -> list[Hit]:
        body = self._search(
            "trace",
            query={"term": {"trace_id": trace_id.strip().lower()}},
            sort=_SORT_OLDEST,
            size=min(limit, self.max_window),
        )
        return [hit_from_source(h["_index"], h["_id"], h["_source"]) for h in body["hits"]["hits"]]

    def _lookup(self, what: str, ref: str) -> dict[str, Any] | None:
        """The search hit (with its ``_SORT_OLDEST`` sort values) of ``<index>/<id>`` under ``self.index``, or None."""
        index, sep, doc_id = ref.partition("/")
        if not sep or not index or not doc_id:
            raise QueryError(f"{ref!r} is not a record reference (<index>/<id>)")
        query = {"bool": {"filter": [{"ids": {"values": [doc_id]}}, {"term": {"_index": index}}]}}
        found = self._search(what, query=query, sort=_SORT_OLDEST, size=1)["hits"]["hits"]
        return found[0] if found else None

    def hit(self, ref: str) -> Hit | None:
        found = self._lookup("record", ref)
        return hit_from_source(found["_index"], found["_id"], found["_source"]) if found else None

    def context(self, ref: str, before: int = 10, after: int = 10, same_service: bool = False) -> list[Hit]:
        """Every service's records (or the record's own service's) around it in the sort order of the module."""
        target = self._lookup("context", ref)
        if target is None:
            raise QueryError(f"no record {ref!r} in Elasticsearch")
        query: dict[str, Any] = {"match_all": {}}
        if same_service:
            service = target["_source"].get("service")
            query = {"term": {"service": service}} if service is not None else missing_field("service")
        older: list[dict[str, Any]] = []
        newer: list[dict[str, Any]] = []
        if before > 0:  # search_after the record's own sort values: strictly older / newer, the record excluded
            older = self._search(
                "context", query=query, sort=_SORT_NEWEST, size=int(before), search_after=target["sort"]
            )["hits"]["hits"]
        if after > 0:
            newer = self._search(
                "context", query=query, sort=_SORT_OLDEST, size=int(after), search_after=target["sort"]
            )["hits"]["hits"]
        ordered = [*reversed(older), target, *newer]
        return [hit_from_source(h["_index"], h["_id"], h["_source"]) for h in ordered]

    def snapshot(self) -> int:
        """A token (epoch ms of the call, strictly increasing) naming the highest ``_seq_no`` of each backing index."""
        aggs = {
            "indices": {
                "terms": {"field": "_index", "size": MAX_SNAPSHOT_INDICES},
                "aggs": {"seq_no": {"max": {"field": "_seq_no"}}},
            }
        }
        body = self._search("snapshot", size=0, aggs=aggs)
        buckets = body.get("aggregations", {}).get("indices", {}).get("buckets", [])
        known = {b["key"]: int(b["seq_no"]["value"]) for b in buckets if b["seq_no"].get("value") is not None}
        with self._snapshots_lock:
            token = max(int(time.time() * 1000), self._last_token + 1)
            self._last_token = token
            self._snapshots[token] = known
            while len(self._snapshots) > MAX_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        return token

    def newer_than(self, flt: LogFilter, token: int) -> int:
        return self.count(replace(flt, until=None, after=token))

    def export(self, flt: LogFilter, fmt: ExportFormat) -> Iterator[bytes]:
        yield from export_chunks(self.all_hits(flt), fmt)

    def all_hits(self, flt: LogFilter, *, oldest_first: bool = False, batch: int = 2000) -> Iterator[list[Hit]]:
        query = self._query(flt)
        sort = _SORT_OLDEST if oldest_first else _SORT_NEWEST
        after: list[Any] | None = None
        while True:
            hits = self._search("export", query=query, sort=sort, size=batch, search_after=after)["hits"]["hits"]
            if not hits:
                return
            yield [hit_from_source(h["_index"], h["_id"], h["_source"]) for h in hits]
            after = hits[-1]["sort"]

    def close(self) -> None:
        self._client.close()
