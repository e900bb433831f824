"""One settings object per side: explicit arguments > OTEL_* environment variables > defaults.

The environment variables mean what the OpenTelemetry specification says:
https://opentelemetry.io/docs/specs/otel/protocol/exporter/ and
https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

DEFAULT_ENDPOINT = "http://localhost:4317"
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


def _env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def parse_key_value_list(text: str, setting: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` (values percent-decoded), the W3C baggage-like OTEL format."""
    result: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{setting}: {item!r} is not key=value")
        result[unquote(key.strip())] = unquote(value.strip())
    return result


def parse_bool(text: str, setting: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{setting}: expected true or false, got {text!r}")


def _parse_int(text: str, setting: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{setting}: expected an integer, got {text!r}") from None
    if value < minimum:
        raise ConfigError(f"{setting}: must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything ``otel_logging.setup()`` needs, already resolved."""

    service_name: str
    endpoint: str
    insecure: bool
    headers: dict[str, str]
    compression: str | None
    certificate_file: str | None
    client_key_file: str | None
    client_certificate_file: str | None
    timeout_s: float
    resource_attributes: dict[str, str]
    level: int
    redact: bool
    max_queue_size: int
    max_export_batch_size: int
    schedule_delay_ms: int
    export_timeout_ms: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """host:port for a gRPC channel."""
        parsed = urlparse(self.endpoint if "://" in self.endpoint else f"//{self.endpoint}")
        host = parsed.hostname or "localhost"
        port = parsed.port or DEFAULT_GRPC_PORT
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{port}"


def resolve_client_settings(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    level: int | str = logging.INFO,
    insecure: bool | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    redact: bool = True,
    compression: str | None = None,
    certificate_file: str | None = None,
    timeout_s: float | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_ms: int | None = None,
    export_timeout_ms: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientSettings:
    """Resolve each setting: argument, then the OTEL_* variable, then the default."""
    env = os.environ if env is None else env

    resource: dict[str, str] = {}
    raw_resource = _env(env, "OTEL_RESOURCE_ATTRIBUTES")
    if raw_resource:
        resource.update(parse_key_value_list(raw_resource, "OTEL_RESOURCE_ATTRIBUTES"))
    if resource_attributes:
        resource.update({str(k): str(v) for k, v in resource_attributes.items()})
    name = service_name or _env(env, "OTEL_SERVICE_NAME") or resource.get("service.name") or default_service_name()
    resource["service.name"] = name

    signal_endpoint = _env(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    base_endpoint = _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    resolved_endpoint = endpoint or signal_endpoint or base_endpoint or DEFAULT_ENDPOINT
    scheme = urlparse(resolved_endpoint).scheme if "://" in resolved_endpoint else ""
    if scheme not in ("", "http", "https"):
        raise ConfigError(f"endpoint {resolved_endpoint!r}: scheme must be http or https")

    if insecure is None:
        raw_insecure = _env(env, "OTEL_EXPORTER_OTLP_LOGS_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")
        if scheme == "http":
            insecure = True
        elif scheme == "https":
            insecure = False
        elif raw_insecure is not None:
            insecure = parse_bool(raw_insecure, "OTEL_EXPORTER_OTLP_INSECURE")
        else:
            insecure = False

    resolved_headers: dict[str, str] = {}
    raw_headers = _env(env, "OTEL_EXPORTER_OTLP_HEADERS")
    if raw_headers:
        resolved_headers.update(parse_key_value_list(raw_headers, "OTEL_EXPORTER_OTLP_HEADERS"))
    raw_headers = _env(env, "OTEL_EXPORTER_OTLP_LOGS_HEADERS")
    if raw_headers:
        resolved_headers.update(parse_key_value_list(raw_headers, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"))
    if headers:
        resolved_headers.update(headers)
    resolved_headers = {k.lower(): v for k, v in resolved_headers.items()}

    resolved_compression = compression or _env(
        env, "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"
    )
    if resolved_compression is not None:
        resolved_compression = resolved_compression.lower()
        if resolved_compression == "none":
            resolved_compression = None
        elif resolved_compression != "gzip":
            raise ConfigError(f"OTLP compression must be gzip or none, got {resolved_compression!r}")

    if timeout_s is None:
        raw_timeout = _env(env, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        timeout_s = _parse_int(raw_timeout, "OTEL_EXPORTER_OTLP_TIMEOUT") / 1000 if raw_timeout else 10.0

    def blrp(value: int | None, name: str, default: int, minimum: int) -> int:
        if value is not None:
            return value
        raw = _env(env, name)
        return _parse_int(raw, name, minimum) if raw else default

    if isinstance(level, str):
        level_value = logging.getLevelName(level.upper())
        if not isinstance(level_value, int):
            raise ConfigError(f"level: unknown logging level {level!r}")
        level = level_value

    return ClientSettings(
        service_name=name,
        endpoint=resolved_endpoint,
        insecure=insecure,
        headers=resolved_headers,
        compression=resolved_compression,
        certificate_file=certificate_file
        or _env(env, "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        client_key_file=_env(env, "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        client_certificate_file=_env(
            env, "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
        ),
        timeout_s=timeout_s,
        resource_attributes=resource,
        level=level,
        redact=redact,
        # Larger than the SDK's 2048: a burst is absorbed, and a full queue blocks the
        # caller (while the receiver answers) instead of dropping records.
        max_queue_size=blrp(max_queue_size, "OTEL_BLRP_MAX_QUEUE_SIZE", 20_000, 1),
        max_export_batch_size=blrp(max_export_batch_size, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 1024, 1),
        schedule_delay_ms=blrp(schedule_delay_ms, "OTEL_BLRP_SCHEDULE_DELAY", 1000, 0),
        export_timeout_ms=blrp(export_timeout_ms, "OTEL_BLRP_EXPORT_TIMEOUT", 30_000, 0),
    )


def default_service_name() -> str:
    """The specification's default, ``unknown_service:<process executable name>``."""
    import sys

    exe = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"unknown_service:{exe}"


@dataclass(slots=True)
class ServeSettings:
    """Options of ``otel-logging serve``."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_GRPC_PORT
    http_port: int | None = DEFAULT_HTTP_PORT
    log_dir: Path = Path("logs")
    fsync: bool = False
    rotate_bytes: int | None = None
    rotate_interval_s: int | None = None
    retain_count: int | None = None
    retain_age_s: int | None = None
    compress_rotated: bool = False
    max_request_bytes: int = 64 * 1024 * 1024
    grpc_workers: int = 16
    shutdown_grace_s: float = 30.0
    # Elasticsearch export (otel_logging/sinks/elasticsearch.py); queue_max_bytes bounds each remote sink's queue
    es_urls: list[str] = field(default_factory=list)
    es_api_key: str | None = None
    es_user: str | None = None
    es_password: str | None = None  # from the environment (OTEL_LOGGING_ES_PASSWORD), never an argument
    es_ca_cert: Path | None = None
    es_namespace: str = "default"
    queue_max_bytes: int = 1 << 30
    # security and limits (docs/SECURITY.md)
    auth_token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    redact: bool = False
    redact_rules: Path | None = None
    max_records_per_request: int | None = 100_000
    max_attribute_length: int | None = None
    max_new_apps_per_minute: int | None = None
    # Logstash export (otel_logging/sinks/logstash.py): HOST:PORT targets, each with its own durable queue
    logstash: list[str] = field(default_factory=list)
    logstash_tls: bool = False
    logstash_tls_ca: Path | None = None
    logstash_tls_cert: Path | None = None
    logstash_tls_key: Path | None = None
    logstash_tls_server_name: str | None = None


@dataclass(frozen=True, slots=True)
class AggregateSettings:
    """Where ``otel-logging aggregate`` (and ``configure_log_aggregation``) send records."""

    log_dir: Path | None = None  # per-app files <log_dir>/<app>.jsonl
    output_file: Path | None = None  # every record as JSON lines, rotated
    output_max_bytes: int = 100 << 20
    output_backups: int = 5
    es_url: str | None = None  # Elasticsearch, data streams <es_index or "logs">-<app>-default
    es_index: str | None = None
    logstash: str | None = None  # HOST:PORT of Logstash's tcp json_lines input
