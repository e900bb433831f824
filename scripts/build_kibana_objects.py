#!/usr/bin/env python3
"""Write dashboards/kibana/otel-logging.ndjson: the Kibana saved objects of otel-logging.

Kibana keeps nested state as JSON strings inside JSON; writing that by hand is error-prone,
so the objects are built here and the .ndjson is committed. After editing, run
``python scripts/build_kibana_objects.py`` (a test checks that the committed file is current).

Objects: the data view ``logs-*`` (time field ``@timestamp``), the saved searches "all logs"
and "errors", three Lens charts (volume by level over time, top services, top loggers) and
the "otel-logging overview" dashboard holding them. Field names are those of the canonical
record (see the README); severity_text, service and logger are keyword fields in the
index template.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "dashboards" / "kibana" / "otel-logging.ndjson"

DATA_VIEW_ID = "otel-logging-logs"
KIBANA_VERSION = "8.19.0"  # the panel format version; Kibana migrates older objects on import
LOG_COLUMNS = ["service", "severity_text", "logger", "body", "trace_id"]
ERROR_QUERY = "severity_number >= 17"  # OpenTelemetry: 17..20 ERROR, 21..24 FATAL


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def data_view() -> dict[str, Any]:
    return {
        "id": DATA_VIEW_ID,
        "type": "index-pattern",
        "attributes": {
            "title": "logs-*",
            "name": "otel-logging logs",
            "timeFieldName": "@timestamp",
        },
        "references": [],
    }


def saved_search(object_id: str, title: str, query: str) -> dict[str, Any]:
    source = {
        "query": {"query": query, "language": "kuery"},
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return {
        "id": object_id,
        "type": "search",
        "attributes": {
            "title": title,
            "description": "",
            "columns": LOG_COLUMNS,
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
        },
        "references": [
            {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": DATA_VIEW_ID}
        ],
    }


def _count_column() -> dict[str, Any]:
    return {
        "label": "Records",
        "dataType": "number",
        "operationType": "count",
        "isBucketed": False,
        "scale": "ratio",
        "sourceField": "___records___",
    }


def _terms_column(field: str, label: str, size: int) -> dict[str, Any]:
    return {
        "label": label,
        "dataType": "string",
        "operationType": "terms",
        "isBucketed": True,
        "scale": "ordinal",
        "sourceField": field,
        "params": {
            "size": size,
            "orderBy": {"type": "column", "columnId": "count"},
            "orderDirection": "desc",
            "otherBucket": True,
            "missingBucket": False,
        },
    }


def lens_xy(object_id: str, title: str, columns: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    layer_id = "layer1"
    return {
        "id": object_id,
        "type": "lens",
        "attributes": {
            "title": title,
            "description": "",
            "visualizationType": "lnsXY",
            "state": {
                "datasourceStates": {
                    "formBased": {
                        "layers": {
                            layer_id: {"columns": columns, "columnOrder": list(columns), "incompleteColumns": {}}
                        }
                    }
                },
                "visualization": {
                    "legend": {"isVisible": True, "position": "right"},
                    "valueLabels": "hide",
                    "preferredSeriesType": layer["seriesType"],
                    "layers": [{"layerId": layer_id, "layerType": "data", **layer}],
                },
                "query": {"query": "", "language": "kuery"},
                "filters": [],
            },
        },
        "references": [
            {"type": "index-pattern", "id": DATA_VIEW_ID, "name": f"indexpattern-datasource-layer-{layer_id}"}
        ],
    }


def volume_by_level() -> dict[str, Any]:
    columns = {
        "time": {
            "label": "@timestamp",
            "dataType": "date",
            "operationType": "date_histogram",
            "isBucketed": True,
            "scale": "interval",
            "sourceField": "@timestamp",
            "params": {"interval": "auto"},
        },
        "level": _terms_column("severity_text", "Level", 10),
        "count": _count_column(),
    }
    return lens_xy(
        "otel-logging-volume-by-level",
        "otel-logging: log volume by level",
        columns,
        {"seriesType": "bar_stacked", "xAccessor": "time", "splitAccessor": "level", "accessors": ["count"]},
    )


def top_by(field: str, label: str) -> dict[str, Any]:
    columns = {"key": _terms_column(field, label, 10), "count": _count_column()}
    columns["key"]["params"]["otherBucket"] = False
    return lens_xy(
        f"otel-logging-top-{field}s",
        f"otel-logging: top {label.lower()}s",
        columns,
        {"seriesType": "bar_horizontal", "xAccessor": "key", "accessors": ["count"]},
    )


def dashboard(panels: list[tuple[dict[str, Any], dict[str, int]]]) -> dict[str, Any]:
    panel_entries = []
    references = []
    for index, (target, grid) in enumerate(panels, start=1):
        panel_index = str(index)
        panel_entries.append(
            {
                "version": KIBANA_VERSION,
                "type": target["type"],
                "gridData": {**grid, "i": panel_index},
                "panelIndex": panel_index,
                "embeddableConfig": {},
                "panelRefName": f"panel_{panel_index}",
            }
        )
        references.append({"name": f"{panel_index}:panel_{panel_index}", "type": target["type"], "id": target["id"]})
    return {
        "id": "otel-logging-overview",
        "type": "dashboard",
        "attributes": {
            "title": "otel-logging overview",
            "description": "Log volume by level, top services and loggers, recent errors (data view logs-*).",
            "timeRestore": True,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 30000},
            "optionsJSON": _json({"useMargins": True, "syncColors": False, "hidePanelTitles": False}),
            "panelsJSON": _json(panel_entries),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json({"query": {"query": "", "language": "kuery"}})},
        },
        "references": references,
    }


def build() -> list[dict[str, Any]]:
    all_logs = saved_search("otel-logging-all-logs", "otel-logging: all logs", "")
    errors = saved_search("otel-logging-errors", "otel-logging: errors", ERROR_QUERY)
    volume = volume_by_level()
    services = top_by("service", "Service")
    loggers = top_by("logger", "Logger")
    board = dashboard(
        [
            (volume, {"x": 0, "y": 0, "w": 48, "h": 12}),
            (services, {"x": 0, "y": 12, "w": 24, "h": 12}),
            (loggers, {"x": 24, "y": 12, "w": 24, "h": 12}),
            (errors, {"x": 0, "y": 24, "w": 48, "h": 16}),
        ]
    )
    return [data_view(), all_logs, errors, volume, services, loggers, board]


def render() -> str:
    return "".join(_json(obj) + "\n" for obj in build())


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
