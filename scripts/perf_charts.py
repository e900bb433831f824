"""Draw docs/img/perf-<bench>.png from each benchmark's JSON output in docs/perf/<bench>.json.

Every benchmark under bench/ that takes ``--json PATH`` writes one object: its name, the metric, whether higher
is better, the sides (ours first, then the baselines measured in the same run), one value per side per round,
and the ratio per round with its target. This script draws one chart per file: a bar per side per round, the
ratio and the target in the title. Run it after committing a new run's JSON:

    .venv/bin/python scripts/perf_charts.py            # every docs/perf/*.json
    .venv/bin/python scripts/perf_charts.py docs/perf/aggregate.json

It uses Altair (installed with Streamlit) and vl-convert (the test extra) to write PNG files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PERF = REPO / "docs" / "perf"
IMG = REPO / "docs" / "img"
REQUIRED = ("bench", "metric", "higher_is_better", "sides", "rounds", "ratio")


class BenchJsonError(ValueError):
    pass


def load(path: Path) -> dict[str, Any]:
    """One benchmark's JSON, checked: a clear error names the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchJsonError(f"{path}: {exc}") from exc
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BenchJsonError(f"{path}: missing {', '.join(missing)}")
    sides = data["sides"]
    for i, values in enumerate(data["rounds"], 1):
        if set(values) != set(sides):
            raise BenchJsonError(f"{path}: round {i} has sides {sorted(values)}, expected {sorted(sides)}")
    return data


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (round, side): what the chart draws."""
    return [
        {"round": f"round {i}", "side": side, "value": float(values[side])}
        for i, values in enumerate(data["rounds"], 1)
        for side in data["sides"]
    ]


def title(data: dict[str, Any]) -> list[str]:
    ratio = data["ratio"]
    per_round = ", ".join(f"{r:.2f}" for r in ratio.get("per_round", []))
    target = f"; target {ratio['target']}" if ratio.get("target") is not None else ""
    better = "higher" if data["higher_is_better"] else "lower"
    return [f"{data['bench']}: {data['metric']} ({better} is better)", f"{ratio['name']}: {per_round}{target}"]


def draw(data: dict[str, Any], out: Path) -> None:
    import altair as alt

    chart = (
        alt.Chart(alt.Data(values=rows(data)))
        .mark_bar()
        .encode(
            x=alt.X("round:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("side:N", sort=data["sides"]),
            y=alt.Y("value:Q", title=data["metric"]),
            color=alt.Color("side:N", sort=data["sides"], legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["round:N", "side:N", "value:Q"],
        )
        .properties(width=560, height=260, title=alt.Title(title(data), anchor="start"))
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    chart.save(str(out), scale_factor=1.5)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(PERF.glob("*.json"))
    if not paths:
        print(f"perf_charts: no benchmark JSON in {PERF}", file=sys.stderr)
        return 1
    for path in paths:
        try:
            data = load(path)
        except BenchJsonError as exc:
            print(f"perf_charts: {exc}", file=sys.stderr)
            return 1
        out = IMG / f"perf-{data['bench']}.png"
        draw(data, out)
        print(f"{path} -> {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
