"""The Logstash pipeline names data streams exactly as the Elasticsearch sink does.

Logstash is not available on these machines, so the pipeline's dataset steps (lowercase, then its
``gsub`` rules, in file order) are read from ``logstash/pipeline/otel-logging.conf`` and replayed
here against ``otel_logging.record.names.data_stream_dataset``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_logging.record.names import DEFAULT_SERVICE_NAME, data_stream_dataset

PIPELINE = (Path(__file__).resolve().parents[3] / "logstash" / "pipeline" / "otel-logging.conf").read_text()
_GSUB = re.compile(r'gsub => \["\[@metadata\]\[dataset\]", "((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)"\]')


def pipeline_dataset(service: str | None) -> str:
    assert 'copy => { "service" => "[@metadata][dataset]" }' in PIPELINE
    default = re.search(r'"\[@metadata\]\[dataset\]" => "([^"]+)"', PIPELINE.split("} else {", 1)[1])
    assert default, "the pipeline names a dataset for records without a service"
    value = service if service else default.group(1)
    assert 'lowercase => ["[@metadata][dataset]"]' in PIPELINE
    value = value.lower()
    rules = _GSUB.findall(PIPELINE)
    assert rules, "no gsub rules for the dataset"
    for pattern, replacement in rules:
        value = re.sub(pattern, replacement.replace("\\1", r"\1"), value, flags=re.DOTALL)
    return value


@pytest.mark.parametrize(
    "service",
    ["shop", "Shop-API", "a/b c", "billing.v2", "x" * 150, "Ünïcode-Dienst", "", DEFAULT_SERVICE_NAME, "a" * 99 + "-"],
)
def test_same_dataset_as_the_elasticsearch_sink(service: str) -> None:
    assert pipeline_dataset(service) == data_stream_dataset(service)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_same_dataset_for_any_ascii_service(service: str) -> None:
    assert pipeline_dataset(service) == data_stream_dataset(service)
