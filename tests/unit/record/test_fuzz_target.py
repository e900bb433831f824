"""The atheris fuzz target (fuzz/fuzz_export.py) runs here over a small corpus, so that it cannot rot."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

import pytest

from otel_logging.record import convert_request, decode_json, parse_protobuf

TARGET = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_export.py"


def load_target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_export", TARGET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(seeds: dict[str, bytes]) -> list[bytes]:
    """The seeds, every prefix of each, and byte flips: 3,000-odd inputs, the same on every run."""
    rng = random.Random(8)
    inputs: list[bytes] = []
    for seed in seeds.values():
        inputs.extend(seed[:cut] for cut in range(len(seed) + 1))
        for _ in range(200):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            inputs.append(bytes(data))
    return inputs


def test_the_fuzz_target_holds_over_its_seed_corpus_and_mutations() -> None:
    target = load_target()
    seeds = target.seed_corpus()
    assert convert_request(parse_protobuf(seeds["protobuf-valid"][1:])).count == 1
    assert convert_request(decode_json(seeds["json-valid"][1:]).request).count == 1
    assert decode_json(seeds["json-bad-trace-id"][1:]).rejected == 1
    inputs = corpus(seeds)
    assert len(inputs) > 2_000
    for data in inputs:
        target.test_one_input(data)


def test_the_fuzz_target_reports_anything_but_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    target = load_target()

    def broken(payload: bytes) -> None:
        raise KeyError("a decoder bug")

    monkeypatch.setattr(target, "parse_protobuf", broken)
    with pytest.raises(KeyError):
        target.test_one_input(target.seed_corpus()["protobuf-valid"])


def test_seeds_are_written_for_the_fuzzer(tmp_path: Path) -> None:
    target = load_target()
    target.main(["fuzz_export.py", "--write-seeds", str(tmp_path / "corpus")])
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == sorted(f"seed-{n}" for n in target.seed_corpus())
