"""The performance page's charts: every benchmark JSON in docs/perf/ is well formed, drawn, and shown."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("perf_charts", REPO / "scripts" / "perf_charts.py")
assert spec is not None and spec.loader is not None
perf_charts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perf_charts)

RUNS = sorted((REPO / "docs" / "perf").glob("*.json"))


@pytest.mark.parametrize("path", RUNS, ids=[p.stem for p in RUNS])
def test_each_benchmark_run_is_drawn_and_on_the_performance_page(path: Path) -> None:
    data = perf_charts.load(path)
    assert data["bench"] == path.stem and (REPO / "bench" / f"{path.stem}.py").exists()
    assert len(perf_charts.rows(data)) == len(data["rounds"]) * len(data["sides"])
    image = REPO / "docs" / "img" / f"perf-{path.stem}.png"
    assert image.exists(), f"run scripts/perf_charts.py {path.relative_to(REPO)}"
    assert f"img/perf-{path.stem}.png" in (REPO / "docs" / "performance.md").read_text()


def test_a_malformed_run_is_refused_naming_the_file_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"bench": "x", "metric": "m", "higher_is_better": True, "sides": ["a", "b"]}))
    with pytest.raises(perf_charts.BenchJsonError, match=r"x\.json: missing rounds, ratio"):
        perf_charts.load(bad)
    bad.write_text(
        json.dumps(
            {
                "bench": "x",
                "metric": "m",
                "higher_is_better": True,
                "sides": ["a", "b"],
                "rounds": [{"a": 1}],
                "ratio": {"name": "a/b", "per_round": [1.0]},
            }
        )
    )
    with pytest.raises(perf_charts.BenchJsonError, match=r"round 1 has sides \['a'\], expected \['a', 'b'\]"):
        perf_charts.load(bad)
