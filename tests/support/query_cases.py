"""One data set and a table of queries with the records each must return, for the query language's tests.

Each record carries ``attributes.id``; ``CASES`` maps a query to the ids it matches. The unit test runs the
table on the files source, the integration test on the files source and Elasticsearch over the same records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from otel_logging.record import Record
from tests.support.generated_logs import make_record

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TRACE = "a3ce929d0e0e47364bf92f3577b34da6"


def query_records() -> list[Record]:
    """Twelve records; record ``i`` is at ``T0 + i`` minutes."""

    def rec(i: int, service: str, body: object, **kw: object) -> Record:
        attributes = {"id": i, **kw.pop("attributes", {})}  # type: ignore[dict-item]
        resource = kw.pop("resource", None)
        event_name = kw.pop("event_name", None)
        record = make_record(service, T0 + timedelta(minutes=i), body=body, attributes=attributes, **kw)  # type: ignore[arg-type]
        if resource:
            record["resource"] = resource
        if event_name:
            record["event_name"] = event_name
        return record

    api = {"service.name": "api", "host": {"name": "api-1"}}
    return [
        rec(1, "shop", "cart 1 created", logger="shop.cart", attributes={"user": "ann", "duration_ms": 12}),
        rec(
            2,
            "shop",
            "Payment FAILED for order 9",
            level=("ERROR", 17),
            logger="shop.pay",
            attributes={"user": "bob", "duration_ms": 1500, "http": {"status_code": 502}},
        ),
        rec(
            3,
            "shop",
            "payment failed for order 10",
            level=("ERROR", 17),
            trace_id=TRACE,
            attributes={"http.status_code": 500, "duration_ms": 250.5},
        ),
        rec(
            4,
            "shop",
            "stock low: 3 left",
            level=("WARN", 13),
            logger="shop.stock",
            attributes={"duration_ms": -3, "retry": True},
        ),
        rec(5, "shop", {"event": "cart", "items": 3}, level=("DEBUG", 5), logger="shop.cart"),
        rec(6, "mail", "receipt queued", logger="mail.out", trace_id=TRACE, attributes={"user": "ann"}),
        rec(7, "mail", "receipt sent to ann@example.com", logger="mail.out", attributes={"user": "Ann", "n": 2}),
        rec(8, "mail", "relay slow: 2 s", level=("WARN", 13), logger="mail.relay", attributes={"duration_ms": 2000.25}),
        rec(
            9,
            "mail",
            "disk full (/var/spool)",
            level=("FATAL", 21),
            logger="mail.spool",
            attributes={"path": "/var/spool/mail"},
        ),
        rec(
            10,
            "api",
            "GET /api/v2/users 200",
            logger="api.http",
            resource=api,
            attributes={"http.route": "/api/v2/users", "duration_ms": 0.5},
        ),
        rec(11, "api", "deprecated call", level=("WARNING", 0), resource=api, attributes={"duration_ms": 100}),
        rec(
            12,
            "api",
            "timeout after 30s: upstream",
            level=("ERROR", 17),
            resource=api,
            event_name="upstream.timeout",
            attributes={"duration_ms": 30000},
        ),
    ]


ALL = frozenset(range(1, 13))

# query -> ids of the records it matches (every element of the syntax at least once).
CASES: list[tuple[str, frozenset[int]]] = [
    ("payment", frozenset({2, 3})),
    ('"payment failed"', frozenset({2, 3})),
    ("receipt ann", frozenset({7})),
    ("service:mail", frozenset({6, 7, 8, 9})),
    ("service = mail", frozenset({6, 7, 8, 9})),
    ("level:error", frozenset({2, 3, 12})),
    ("level:WARN", frozenset({4, 8, 11})),
    ("level >= warn", frozenset({2, 3, 4, 8, 9, 11, 12})),
    ("service:shop AND NOT level:error", frozenset({1, 4, 5})),
    ("service:shop -level:error", frozenset({1, 4, 5})),
    ("level:error OR level:fatal", frozenset({2, 3, 9, 12})),
    ("service:api OR service:mail level:warn", frozenset({8, 10, 11, 12})),
    ("(service:api OR service:mail) level:warn", frozenset({8, 11})),
    ("NOT (service:shop OR service:mail)", frozenset({10, 11, 12})),
    ("level:(error OR fatal)", frozenset({2, 3, 9, 12})),
    ("user:(ann OR bob)", frozenset({1, 2, 6})),
    ('service:(api OR "mail") -user:ann', frozenset({7, 8, 9, 10, 11, 12})),
    ("logger:(shop.* -shop.cart)", frozenset({2, 4})),
    ("logger:shop.*", frozenset({1, 2, 4, 5})),
    ("logger:mail.?ut", frozenset({6, 7})),
    ("logger:/mail\\.(out|relay)/", frozenset({6, 7, 8})),
    ("/order [0-9]+$/", frozenset({2, 3})),
    ("/ann@example\\.com/", frozenset({7})),
    ("ann@example.com", frozenset({7})),
    ("message:receipt", frozenset({6, 7})),
    ("body:receipt*sent", frozenset({7})),
    ("items", frozenset({5})),
    ('"disk full (/var"', frozenset({9})),
    ("duration_ms > 100", frozenset({2, 3, 8, 12})),
    ("duration_ms >= 100", frozenset({2, 3, 8, 11, 12})),
    ("duration_ms < 1", frozenset({4, 10})),
    ("attributes.duration_ms <= -3", frozenset({4})),
    ("duration_ms > 250.25 AND duration_ms < 2000.5", frozenset({2, 3, 8})),
    ("user:ann", frozenset({1, 6})),
    ("attributes.user:ann", frozenset({1, 6})),
    ("user:*", frozenset({1, 2, 6, 7})),
    ("user:a*", frozenset({1, 6})),
    ("user:/[aA]nn/", frozenset({1, 6, 7})),
    ("user != ann", ALL - {1, 6}),
    ("NOT duration_ms > 100", ALL - {2, 3, 8, 12}),
    ("NOT (user:ann OR duration_ms > 100)", ALL - {1, 2, 3, 6, 8, 12}),
    (f"NOT (trace_id:{TRACE} AND level:error)", ALL - {3}),
    ("NOT NOT user:*", frozenset({1, 2, 6, 7})),
    ("http.status_code:502", frozenset({2})),
    ("http.status_code:500", frozenset({3})),
    ("http.status_code >= 500", frozenset({2, 3})),
    ('path:"/var/spool/mail"', frozenset({9})),
    ("retry:true", frozenset({4})),
    ("resource.host.name:api-1", frozenset({10, 11, 12})),
    ("resource.service.name:api", frozenset({10, 11, 12})),
    (f"trace_id:{TRACE.upper()}", frozenset({3, 6})),
    ("severity_number >= 17", frozenset({2, 3, 9, 12})),
    ("severity_text:WARNING", frozenset({11})),
    ("event_name:upstream.*", frozenset({12})),
    ("@timestamp >= 2026-06-01T08:09", frozenset({9, 10, 11, 12})),
    ("@timestamp < 2026-06-01T10:02+02:00", frozenset({1})),
    ("@timestamp:2026-06-01T08:03", frozenset({3})),
    ("@timestamp:2026-06-01", ALL),
    ("", ALL),
]
