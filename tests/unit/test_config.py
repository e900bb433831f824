"""Settings resolve argument > OTEL_* environment variable > default."""

from __future__ import annotations

import logging

import pytest

from otel_logging.config import ConfigError, resolve_client_settings


def test_defaults() -> None:
    s = resolve_client_settings(env={})
    assert s.endpoint == "http://localhost:4317" and s.insecure is True and s.target == "localhost:4317"
    assert s.service_name.startswith("unknown_service")
    assert s.headers == {} and s.compression is None and s.level == logging.INFO


def test_environment_variables_per_the_specification() -> None:
    env = {
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%20b",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://base:1234",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://logs.example:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,x-a=1",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-a=2",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
        "OTEL_BLRP_MAX_QUEUE_SIZE": "77",
        "OTEL_BLRP_EXPORT_TIMEOUT": "1234",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
    }
    s = resolve_client_settings(env=env)
    assert s.service_name == "from-env"
    assert s.resource_attributes == {"deployment.environment": "prod", "team": "a b", "service.name": "from-env"}
    assert s.endpoint == "https://logs.example:4317" and s.insecure is False and s.target == "logs.example:4317"
    assert s.headers == {"authorization": "Bearer abc", "x-a": "2"}
    assert s.compression == "gzip" and s.certificate_file == "/ca.pem"
    assert s.max_queue_size == 77 and s.export_timeout_ms == 1234 and s.timeout_s == 2.5


def test_arguments_win_over_environment() -> None:
    env = {"OTEL_SERVICE_NAME": "env", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:1"}
    s = resolve_client_settings(service_name="arg", endpoint="collector:4317", insecure=True, level="DEBUG", env=env)
    assert s.service_name == "arg" and s.endpoint == "collector:4317" and s.insecure is True
    assert s.level == logging.DEBUG


def test_insecure_variable_applies_without_scheme() -> None:
    assert resolve_client_settings(endpoint="h:1", env={"OTEL_EXPORTER_OTLP_INSECURE": "true"}).insecure is True
    assert resolve_client_settings(endpoint="h:1", env={}).insecure is False


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
        {"OTEL_BLRP_MAX_QUEUE_SIZE": "lots"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://x"},
        {"OTEL_EXPORTER_OTLP_INSECURE": "maybe"},
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"OTEL|compression|endpoint"):
        resolve_client_settings(endpoint="h:1" if "INSECURE" in next(iter(env)) else None, env=env)
