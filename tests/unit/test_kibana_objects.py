"""The Kibana saved objects in dashboards/kibana/: structure, references, and that they are current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NDJSON = REPO / "dashboards" / "kibana" / "otel-logging.ndjson"

REQUIRED = {
    "index-pattern": ["title", "timeFieldName"],
    "search": ["title", "columns", "sort", "kibanaSavedObjectMeta"],
    "lens": ["title", "visualizationType", "state"],
    "dashboard": ["title", "panelsJSON", "kibanaSavedObjectMeta"],
}
RECORD_FIELDS = {"@timestamp", "severity_text", "severity_number", "service", "logger", "body", "trace_id", "span_id"}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def test_ids_are_unique(objects: list[dict[str, Any]]) -> None:
    keys = [(o["type"], o["id"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert len({o["id"] for o in objects}) == len(objects)


def test_required_attributes_present(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert obj["type"] in REQUIRED, obj["type"]
        for name in REQUIRED[obj["type"]]:
            assert obj["attributes"].get(name) not in (None, "", []), f"{obj['id']}: missing {name}"


def test_references_resolve(objects: list[dict[str, Any]]) -> None:
    present = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} refers to missing {ref}"


def test_data_view_is_logs_star_on_timestamp(objects: list[dict[str, Any]]) -> None:
    (view,) = by_type(objects, "index-pattern")
    assert view["attributes"]["title"] == "logs-*"
    assert view["attributes"]["timeFieldName"] == "@timestamp"


def test_searches_name_their_data_view_and_record_fields(objects: list[dict[str, Any]]) -> None:
    searches = by_type(objects, "search")
    assert searches
    for search in searches:
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        ref_names = {ref["name"] for ref in search["references"]}
        assert source["indexRefName"] in ref_names
        assert set(search["attributes"]["columns"]) <= RECORD_FIELDS
        assert search["attributes"]["sort"][0][0] == "@timestamp"


def test_lens_columns_use_record_fields_and_layers_are_referenced(objects: list[dict[str, Any]]) -> None:
    charts = by_type(objects, "lens")
    assert len(charts) == 3
    for chart in charts:
        layers = chart["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        ref_names = {ref["name"] for ref in chart["references"]}
        for layer_id, layer in layers.items():
            assert f"indexpattern-datasource-layer-{layer_id}" in ref_names
            assert layer["columnOrder"] and set(layer["columnOrder"]) == set(layer["columns"])
            for column in layer["columns"].values():
                if column["operationType"] != "count":
                    assert column["sourceField"] in RECORD_FIELDS
        for vis_layer in chart["attributes"]["state"]["visualization"]["layers"]:
            columns = layers[vis_layer["layerId"]]["columns"]
            for accessor in [vis_layer["xAccessor"], *vis_layer["accessors"], vis_layer.get("splitAccessor")]:
                assert accessor is None or accessor in columns


def test_dashboard_panels_resolve(objects: list[dict[str, Any]]) -> None:
    (board,) = by_type(objects, "dashboard")
    panels = json.loads(board["attributes"]["panelsJSON"])
    refs = {ref["name"]: ref for ref in board["references"]}
    assert len(panels) == 4
    indexes = [p["panelIndex"] for p in panels]
    assert len(indexes) == len(set(indexes))
    kinds = set()
    for panel in panels:
        ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert ref["type"] == panel["type"]
        assert panel["gridData"]["i"] == panel["panelIndex"]
        assert panel["gridData"]["x"] >= 0 and panel["gridData"]["x"] + panel["gridData"]["w"] <= 48
        kinds.add(ref["id"])
    assert {"otel-logging-volume-by-level", "otel-logging-top-services", "otel-logging-top-loggers"} <= kinds
    assert "otel-logging-errors" in kinds


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_objects_import_into_kibana_8_19_and_9(objects: list[dict[str, Any]]) -> None:
    """Kibana refuses an object stamped with a version newer than itself and migrates older or unstamped ones
    (all their migrations run on import). So the file carries no version newer than the oldest Kibana
    supported (8.19.0): it then imports into 8.19.x and, migrated forward, into 9.x."""
    oldest = _version("8.19.0")
    for obj in objects:
        core = obj.get("coreMigrationVersion")
        assert core is None or _version(core) <= oldest, obj["id"]
        type_version = obj.get("typeMigrationVersion") or (obj.get("migrationVersion") or {}).get(obj["type"])
        assert type_version is None or _version(type_version) <= oldest, obj["id"]
        assert obj.get("managed") in (None, False), obj["id"]
    for dashboard in by_type(objects, "dashboard"):
        for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
            assert _version(panel["version"]) <= oldest, panel


def test_committed_file_matches_the_generator() -> None:
    spec = importlib.util.spec_from_file_location("build_kibana_objects", REPO / "scripts" / "build_kibana_objects.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert NDJSON.read_text() == module.render(), "run: python scripts/build_kibana_objects.py"
