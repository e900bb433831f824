"""Regression guards of aggregation's fast paths (issue 18, target 4): the benchmark's lines take them.

- The JSON lines of ``bench/aggregate.py`` (python-json-logger and structlog) are read by the native JSON-lines
  reader: ``JsonLinesParser.parse`` (the Python path) is not called once.
- Its stdlib lines, tracebacks included, are read by the native stdlib reader: ``StdlibParser.parse`` is not called.
- Its seed lines (``SEED_REGEX``, an app name of their own) are read by the same reader for the seed format:
  ``RegexParser.parse`` is not called.
- A file of more than one chunk is shipped by a ``Shipper`` thread (writes overlap the next read), and the per-app
  file and the checkpoint are the same as when every batch is shipped from the reading thread; a batch the thread
  has refused ends the run, and nothing queued behind it is delivered or committed (the next run sends it all).
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from otel_logging.ingest import engine as engine_module
from otel_logging.ingest import formats
from otel_logging.ingest import source as source_module
from otel_logging.ingest.engine import IngestOptions, Ingestor
from otel_logging.record import native
from otel_logging.sinks import SinkError
from otel_logging.sinks.files import FileSink

REPO = Path(__file__).resolve().parents[3]


def bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_aggregate", REPO / "bench" / "aggregate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_file(path: Path, kind: str, count: int) -> None:
    bench = bench_module()
    makers = {"pyjson": bench._python_json, "structlog": bench._structlog, "stdlib": bench._stdlib, "seed": bench._seed}
    maker = makers[kind]
    rng = random.Random(7)
    path.write_text("".join(maker(rng, i, 1_709_280_000.0 + i * 0.0137) for i in range(count)))


def run(src: Path, out: Path) -> int:
    ingestor = Ingestor([FileSink(out)], IngestOptions(service="bench", checkpoint_path=out / "ck.json", redact=False))
    summary = ingestor.run([str(src)])
    ingestor.close()
    assert summary.ok, summary.to_dict()
    return summary.records


def count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[int]:
    calls = [0]
    original = getattr(cls, name)

    def counted(self: Any, *args: Any) -> Any:
        calls[0] += 1
        return original(self, *args)

    monkeypatch.setattr(cls, name, counted)
    return calls


@pytest.mark.skipif(not native.JSONL_AVAILABLE, reason=native.JSONL_UNAVAILABLE_REASON)
@pytest.mark.parametrize("kind", ["pyjson", "structlog"])
def test_the_benchmark_json_lines_take_the_native_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bench_file(src / f"{kind}.log", kind, 5000)
    calls = count_calls(monkeypatch, formats.JsonLinesParser, "parse")
    assert run(src, tmp_path / "out") == 5000
    assert calls[0] == 0, "JSON lines of the benchmark went through the Python path"
    # and the check above can fail: the same file without the native reader is parsed line by line in Python
    monkeypatch.setattr(native, "_jsonl_reader", None)
    assert run(src, tmp_path / "out-python") == 5000
    assert calls[0] == 5000


@pytest.mark.skipif(not native.STDLIB_AVAILABLE, reason=native.STDLIB_UNAVAILABLE_REASON)
def test_the_benchmark_stdlib_lines_take_the_native_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bench_file(src / "stdlib.log", "stdlib", 5000)  # a traceback every 200 entries
    calls = count_calls(monkeypatch, formats.StdlibParser, "parse")
    assert run(src, tmp_path / "out") == 5000
    assert calls[0] == 0, "stdlib lines of the benchmark went through the Python path"


@pytest.mark.skipif(not native.STDLIB_AVAILABLE, reason=native.STDLIB_UNAVAILABLE_REASON)
def test_the_benchmark_seed_lines_take_the_native_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bench_file(src / "seed.log", "seed", 5000)
    calls = count_calls(monkeypatch, formats.RegexParser, "parse")
    assert run(src, tmp_path / "out") == 5000
    assert calls[0] == 0, "seed lines of the benchmark went through the Python path"
    assert (tmp_path / "out" / "legacy-app.jsonl").read_bytes().count(b"\n") == 5000  # the app the lines name
    # and the check above can fail: without the native reader, each line is parsed in Python
    monkeypatch.setattr(native, "_stdlib_reader", None)
    assert run(src, tmp_path / "out-python") == 5000
    assert calls[0] == 5000
    assert (tmp_path / "out-python" / "legacy-app.jsonl").read_bytes().count(b"\n") == 5000


def test_a_file_of_many_chunks_is_shipped_by_a_thread_with_the_same_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bench_file(src / "a.log", "pyjson", 3000)
    bench_file(src / "b.log", "stdlib", 3000)
    monkeypatch.setattr(source_module, "CHUNK_BYTES", 4096)
    started = [0]

    class CountedShipper(engine_module.Shipper):
        def __init__(self, ingestor: Ingestor) -> None:
            started[0] += 1
            super().__init__(ingestor)

    monkeypatch.setattr(engine_module, "Shipper", CountedShipper)
    assert run(src, tmp_path / "threaded") == 6000
    assert started[0] == 2  # one per file, started at its second chunk

    class NoShipper(engine_module.Shipper):  # the reading thread ships every batch itself
        def __init__(self, ingestor: Ingestor) -> None:
            self._ingestor = ingestor
            self._error = None

        def put(self, shipment: Any) -> None:
            self._ingestor.send(shipment)

        def close(self) -> None:
            pass

    monkeypatch.setattr(engine_module, "Shipper", NoShipper)
    assert run(src, tmp_path / "inline") == 6000
    threaded = (tmp_path / "threaded" / "bench.jsonl").read_bytes().splitlines()
    inline = (tmp_path / "inline" / "bench.jsonl").read_bytes().splitlines()
    assert len(threaded) == len(inline) == 6000

    def without_observed(line: bytes) -> dict[str, Any]:  # the time of reading differs between the two runs
        record = orjson.loads(line)
        record.pop("observed_timestamp")
        return record

    assert [without_observed(x) for x in threaded] == [without_observed(x) for x in inline]
    offsets = [
        sorted(state["offset"] for state in orjson.loads((tmp_path / d / "ck.json").read_bytes())["files"])
        for d in ("threaded", "inline")
    ]
    assert offsets[0] == offsets[1] == sorted(p.stat().st_size for p in src.iterdir())


class RefuseOnce:
    """A remote destination that refuses its ``refuse_at``-th batch (1-based) and takes every other one."""

    name = "remote"

    def __init__(self, refuse_at: int) -> None:
        self.refuse_at = refuse_at
        self.writes = 0
        self.bodies: list[str] = []

    def write(self, batch: Any) -> None:
        self.writes += 1
        if self.writes == self.refuse_at:
            raise SinkError("down for a moment")
        self.bodies.extend(orjson.loads(line)["body"] for line in bytes(batch.lines("app")).splitlines())

    def close(self) -> None:
        pass


def test_a_refusal_on_the_shipper_thread_ends_the_run_and_nothing_after_it_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    lines = [orjson.dumps({"levelname": "INFO", "name": "t", "message": f"m{i}"}) + b"\n" for i in range(3000)]
    (src / "a.log").write_bytes(b"".join(lines))
    monkeypatch.setattr(source_module, "CHUNK_BYTES", 4096)  # ~75 batches: the 2nd on are shipped by the thread
    out, checkpoint = tmp_path / "out", tmp_path / "ck.json"

    def ingest(remote: RefuseOnce) -> Any:
        options = IngestOptions(service="app", checkpoint_path=checkpoint, redact=False, retry_for_s=0)
        ingestor = Ingestor([remote, FileSink(out)], options)
        summary = ingestor.run([str(src)])
        ingestor.close()
        return summary

    first = RefuseOnce(refuse_at=5)  # a batch the Shipper delivers, with more queued and read after it
    summary = ingest(first)
    assert "'remote' refused" in summary.delivery_error
    assert len(first.bodies) == summary.records > 0  # the four batches before the refusal
    delivered = len(first.bodies)
    assert first.bodies == [f"m{i}" for i in range(delivered)]
    (state,) = orjson.loads(checkpoint.read_bytes())["files"]
    assert state["offset"] == sum(len(line) for line in lines[:delivered])  # committed up to the refused batch only
    assert (out / "app.jsonl").read_bytes().count(b"\n") == delivered  # the files did not take it either

    second = RefuseOnce(refuse_at=0)
    assert ingest(second).ok
    assert first.bodies + second.bodies == [f"m{i}" for i in range(3000)]  # no gap, no duplicate
    assert (out / "app.jsonl").read_bytes().count(b"\n") == 3000
