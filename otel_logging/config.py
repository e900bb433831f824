"""Settings: explicit arguments > OTEL_* environment variables > defaults.

The app side has one ``ClientSettings``; the service (``ServeSettings``) and aggregation
(``AggregateSettings``) have one frozen part per concern, each with a ``validate()``.

The environment variables mean what the OpenTelemetry specification says:
https://opentelemetry.io/docs/specs/otel/protocol/exporter/ and
https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlparse

from otel_logging.record.names import data_stream_namespace, data_stream_prefix, logstash_queue_name

DEFAULT_ENDPOINT = "http://localhost:4317"
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and the value.

    ``setting`` is the setting's dotted name (``receiver.grpc_port``) when it is one of the settings
    classes below, so that the command line can say which flag sets it.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


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


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
            # No scheme and no OTEL_EXPORTER_OTLP_INSECURE: TLS, as the OTel spec says, except on this
            # machine (localhost, 127.0.0.0/8, ::1), where the service listens in plaintext by default,
            # unless a certificate is given (then TLS is what is meant).
            certificates = certificate_file or _env(
                env,
                "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            )
            insecure = not certificates and _is_loopback_host(urlparse(f"//{resolved_endpoint}").hostname)

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
        # How long shutdown (and so interpreter exit) waits for the queue to be delivered, in all.
        export_timeout_ms=blrp(export_timeout_ms, "OTEL_BLRP_EXPORT_TIMEOUT", 5_000, 0),
    )


def default_service_name() -> str:
    """The specification's default, ``unknown_service:<process executable name>``."""
    import sys

    exe = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"unknown_service:{exe}"


# --- the service's and aggregation's settings: one frozen part per concern, each with validate() -------------
#
# ``ServeSettings`` (``otel-logging serve``, ``CentralService``) holds the parts receiver, files, queue,
# elasticsearch, logstash and security; ``AggregateSettings`` (``otel-logging aggregate``,
# ``configure_log_aggregation``) reuses files, elasticsearch and logstash. The command-line parsers take
# their defaults from these classes (``default_of``). A part's ``validate()`` raises ``ConfigError`` naming
# the setting (``receiver.grpc_port``), the bad value and what is allowed.

_MAX_PORT = 65535


def _fail(setting: str, message: str) -> NoReturn:
    raise ConfigError(f"{setting}: {message}", setting)


def _check_int(setting: str, value: object, minimum: int, *, optional: bool = False, hint: str = "") -> None:
    """``value`` is an int >= minimum (or None when ``optional``)."""
    if value is None and optional:
        return
    allowed = f"an integer >= {minimum}" + (" or None" if optional else "") + (f" ({hint})" if hint else "")
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(setting, f"{value!r} is not an integer; use {allowed}")
    if value < minimum:
        _fail(setting, f"{value!r} is too small; use {allowed}")


def _check_port(setting: str, value: object, *, optional: bool = False, hint: str = "0 = any free port") -> None:
    if value is None and optional:
        return
    allowed = f"0..{_MAX_PORT} ({hint})"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_PORT:
        _fail(setting, f"{value!r} is not a port; use {allowed}")


def _check_file(setting: str, value: Path | None, what: str) -> None:
    if value is not None and not Path(value).is_file():
        _fail(setting, f"{what} {str(value)!r} does not exist (or is not a file)")


def _check_url(setting: str, url: object) -> None:
    if not isinstance(url, str):
        _fail(setting, f"{url!r} is not a URL; use http://HOST:PORT or https://HOST:PORT")
    parsed = urlparse(url)
    try:
        port_ok = parsed.port is None or parsed.port > 0
    except ValueError:
        port_ok = False
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not port_ok:
        _fail(setting, f"Elasticsearch URL {url!r} is not valid; use http://HOST:PORT or https://HOST:PORT")


def _coerce(part: Any) -> None:
    """Paths given as strings become ``Path``; lists given for tuples become tuples (frozen stays frozen)."""
    for spec in fields(part):
        value = getattr(part, spec.name)
        kind = str(spec.type)
        if isinstance(value, str) and "Path" in kind:
            object.__setattr__(part, spec.name, Path(value))
        elif isinstance(value, list) and "tuple" in kind:
            object.__setattr__(part, spec.name, tuple(value))


DEFAULT_LOGSTASH_PORT = 5000


def parse_host_port(
    text: str, default_port: int = DEFAULT_LOGSTASH_PORT, what: str = "Logstash address"
) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; without a port, ``default_port``) -> (host, port)."""
    text = text.strip()
    if not text:
        raise ValueError(f"{what} is empty; expected HOST:PORT")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{what} {text!r} has no host; expected HOST:PORT")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"{what} {text!r}: port {port_text!r} is not a number") from None
    if not 0 < port <= _MAX_PORT:
        raise ValueError(f"{what} {text!r}: port must be 1..{_MAX_PORT}")
    return host, port


GRPC_SERVERS = ("auto", "native", "grpcio")


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """The OTLP front ends: where they listen and what a request may hold."""

    host: str = "127.0.0.1"
    grpc_port: int = DEFAULT_GRPC_PORT  # 0 = any free port
    http_port: int | None = DEFAULT_HTTP_PORT  # 0 = any free port, None = no OTLP/HTTP
    max_request_bytes: int = 64 << 20
    max_records_per_request: int | None = 100_000  # None = no limit
    max_attribute_length: int | None = None  # longer string values are truncated; None = no limit
    max_new_apps_per_minute: int | None = None  # None = no limit
    grpc_workers: int = 16
    # "auto": the native transport (otel_logging_native.GrpcServer) when it is built, else grpcio's server;
    # "native": the native one (an error without the build); "grpcio": grpcio's (TLS, mTLS: both serve them)
    grpc_server: str = "auto"
    shutdown_grace_s: float = 30.0  # seconds in-flight requests get to finish on stop

    def validate(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip() or any(c.isspace() for c in self.host):
            _fail("receiver.host", f"{self.host!r} is not an address to bind; use e.g. 127.0.0.1 or 0.0.0.0")
        _check_port("receiver.grpc_port", self.grpc_port)
        _check_port("receiver.http_port", self.http_port, optional=True, hint="0 = any free port, None = no HTTP")
        _check_int("receiver.max_request_bytes", self.max_request_bytes, 1)
        _check_int("receiver.max_records_per_request", self.max_records_per_request, 1, optional=True)
        _check_int("receiver.max_attribute_length", self.max_attribute_length, 1, optional=True)
        _check_int("receiver.max_new_apps_per_minute", self.max_new_apps_per_minute, 1, optional=True)
        _check_int("receiver.grpc_workers", self.grpc_workers, 1)
        if self.grpc_server not in GRPC_SERVERS:
            _fail("receiver.grpc_server", f"{self.grpc_server!r} is not one of {', '.join(GRPC_SERVERS)}")
        grace = self.shutdown_grace_s
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace < float("inf"):
            _fail("receiver.shutdown_grace_s", f"{grace!r} is not a number of seconds; use a number >= 0")


@dataclass(frozen=True, slots=True)
class FilesSettings:
    """The per-app files ``<log_dir>/<app>.jsonl``: where, how durable, rotation and retention."""

    log_dir: Path = Path("logs")
    fsync: bool = False  # fsync every write before answering (the queues' too)
    rotate_bytes: int | None = None  # rotate an app's file at this size
    rotate_interval_s: int | None = None  # rotate an app's file this often
    retain_count: int | None = None  # keep at most this many rotated files per app
    retain_age_s: int | None = None  # delete rotated files older than this
    compress_rotated: bool = False  # gzip rotated files
    drop_replayed_writes: bool = False  # skip an app's write identical to one of its last 1,024 (behind a gateway)

    def __post_init__(self) -> None:
        _coerce(self)

    def validate(self) -> None:
        if not isinstance(self.log_dir, Path) or not str(self.log_dir).strip():
            _fail("files.log_dir", f"{self.log_dir!r} is not a directory path")
        if self.log_dir.exists() and not self.log_dir.is_dir():
            _fail("files.log_dir", f"{str(self.log_dir)!r} exists and is not a directory")
        _check_int("files.rotate_bytes", self.rotate_bytes, 1, optional=True, hint="None = no size rotation")
        _check_int("files.rotate_interval_s", self.rotate_interval_s, 1, optional=True, hint="None = no time rotation")
        _check_int("files.retain_count", self.retain_count, 0, optional=True, hint="None = keep all")
        _check_int("files.retain_age_s", self.retain_age_s, 1, optional=True, hint="None = keep all")


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The durable queue in front of each remote sink (under ``<log_dir>/_queue/``)."""

    max_bytes: int = 1 << 30  # undelivered bytes each queue may hold; when full, clients get a retryable 503

    def validate(self) -> None:
        _check_int("queue.max_bytes", self.max_bytes, 1)


@dataclass(frozen=True, slots=True)
class ElasticsearchSettings:
    """Export to Elasticsearch data streams ``<prefix>-<dataset>-<namespace>``; no ``urls``, no export."""

    urls: tuple[str, ...] = ()
    api_key: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # from OTEL_LOGGING_ES_PASSWORD, never an argument
    ca_cert: Path | None = None
    namespace: str = "default"
    prefix: str = "logs"

    def __post_init__(self) -> None:
        _coerce(self)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def validate(self) -> None:
        if isinstance(self.urls, str):
            _fail("elasticsearch.urls", f"{self.urls!r} is one string; give a tuple of URLs")
        for url in self.urls:
            _check_url("elasticsearch.urls", url)
        if self.api_key and self.user:
            _fail("elasticsearch.user", f"{self.user!r} and an API key are both given; use --es-api-key or --es-user")
        if self.user and self.password is None:
            _fail(
                "elasticsearch.password",
                f"user {self.user!r} (--es-user) needs the password in the environment variable "
                "OTEL_LOGGING_ES_PASSWORD",
            )
        _check_file("elasticsearch.ca_cert", self.ca_cert, "Elasticsearch CA certificate")
        for setting, check, value in (
            ("elasticsearch.namespace", data_stream_namespace, self.namespace),
            ("elasticsearch.prefix", data_stream_prefix, self.prefix),
        ):
            try:
                check(value)
            except (ValueError, TypeError) as exc:
                _fail(setting, str(exc))


@dataclass(frozen=True, slots=True)
class LogstashSettings:
    """Export to Logstash's ``tcp`` input (``json_lines``), optionally over TLS; no ``targets``, no export."""

    targets: tuple[str, ...] = ()  # HOST:PORT each
    tls: bool = False  # TLS trusting the system's CAs (implied by tls_ca or tls_cert)
    tls_ca: Path | None = None
    tls_cert: Path | None = None  # client certificate, when Logstash requires one
    tls_key: Path | None = None
    tls_server_name: str | None = None  # name to verify in Logstash's certificate (default: the host)

    def __post_init__(self) -> None:
        _coerce(self)

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls or self.tls_ca or self.tls_cert)

    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each target; raises ConfigError naming a bad one."""
        if isinstance(self.targets, str):
            _fail("logstash.targets", f"{self.targets!r} is one string; give a tuple of HOST:PORT")
        found: list[tuple[str, int]] = []
        for target in self.targets:
            try:
                found.append(parse_host_port(target))
            except ValueError as exc:
                _fail("logstash.targets", str(exc))
        return found

    def validate(self) -> None:
        queues = [logstash_queue_name(host, port) for host, port in self.addresses()]
        if len(set(queues)) != len(queues):  # two spellings of one target would share a queue directory
            _fail("logstash.targets", f"the same target is given twice ({', '.join(self.targets)})")
        _check_file("logstash.tls_ca", self.tls_ca, "Logstash TLS CA file")
        _check_file("logstash.tls_cert", self.tls_cert, "Logstash TLS client certificate file")
        _check_file("logstash.tls_key", self.tls_key, "Logstash TLS key file")
        if self.tls_key and not self.tls_cert:
            _fail("logstash.tls_key", "a client key needs its client certificate (--logstash-tls-cert)")


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """Who may send (bearer tokens, TLS, mutual TLS) and what is masked before anything is stored."""

    auth_token_file: Path | None = None  # bearer tokens, one per line; re-read on SIGHUP
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # require client certificates signed by this CA
    redact: bool = False
    redact_rules: Path | None = None  # extra rules (JSON); implies redact

    def __post_init__(self) -> None:
        _coerce(self)

    def validate(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            given, missing = ("tls_cert", "tls_key") if self.tls_cert else ("tls_key", "tls_cert")
            _fail(
                f"security.{missing}",
                f"TLS needs both --tls-cert and --tls-key; only {given}={str(getattr(self, given))!r} is given",
            )
        if self.tls_client_ca and not self.tls_cert:
            _fail("security.tls_client_ca", "mutual TLS needs the server's --tls-cert and --tls-key too")
        _check_file("security.auth_token_file", self.auth_token_file, "token file")
        _check_file("security.tls_cert", self.tls_cert, "certificate file")
        _check_file("security.tls_key", self.tls_key, "key file")
        _check_file("security.tls_client_ca", self.tls_client_ca, "client CA file")
        _check_file("security.redact_rules", self.redact_rules, "redaction rules file")


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Everything ``otel-logging serve`` (``CentralService``) needs, one part per concern."""

    receiver: ReceiverSettings = field(default_factory=ReceiverSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    logstash: LogstashSettings = field(default_factory=LogstashSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    def validate(self) -> ServeSettings:
        """Validate every part; returns self, so ``CentralService(settings.validate())`` reads well."""
        for part in (self.receiver, self.files, self.queue, self.elasticsearch, self.logstash, self.security):
            part.validate()
        return self


@dataclass(frozen=True, slots=True)
class OutputFileSettings:
    """Aggregation's single JSON-lines file of every record, rotated by size; no ``path``, no file."""

    path: Path | None = None
    max_bytes: int = 100 << 20
    backups: int = 5

    def __post_init__(self) -> None:
        _coerce(self)

    def validate(self) -> None:
        _check_int("output.max_bytes", self.max_bytes, 1)
        _check_int("output.backups", self.backups, 0)


@dataclass(frozen=True, slots=True)
class AggregateSettings:
    """Where ``otel-logging aggregate`` (and ``configure_log_aggregation``) send records.

    Remote destinations send and wait (aggregation's checkpoint is its queue), so there is no queue part.
    """

    files: FilesSettings | None = None  # per-app files <files.log_dir>/<app>.jsonl; None: none
    output: OutputFileSettings = field(default_factory=OutputFileSettings)
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    logstash: LogstashSettings = field(default_factory=LogstashSettings)

    def validate(self) -> AggregateSettings:
        if self.files is not None:
            self.files.validate()
        for part in (self.output, self.elasticsearch, self.logstash):
            part.validate()
        return self


def default_of(settings_type: type, path: str) -> Any:
    """The default of a settings field, nested by dots: ``default_of(ServeSettings, "receiver.grpc_port")``.

    The command-line parsers take their defaults from here, so a default is written once.
    """
    head, _, rest = path.partition(".")
    by_name = {f.name: f for f in fields(settings_type)}
    if head not in by_name:
        raise KeyError(f"{settings_type.__name__} has no setting {head!r}")
    spec = by_name[head]
    value = spec.default if spec.default is not MISSING else spec.default_factory()  # type: ignore[operator]
    if not rest:
        return value
    part_type = type(value) if value is not None else None
    if part_type is None or not is_dataclass(part_type):
        raise KeyError(f"{settings_type.__name__}.{head} has no default part to read {rest!r} from")
    return default_of(part_type, rest)
