"""docker-compose.otel.yml: valid for docker-compose, and its services wired to each other's configs.

Debian's docker-compose (installed by scripts/install-docker-compose.sh) validates and resolves the
file without a Docker engine; the resolved YAML is then checked against logstash/, collector-config/,
the Dockerfile and otel-logging's own command line parser.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_logging.cli import build_parser
from tests.support.procs import REPO, child_env

pytestmark = pytest.mark.integration

COMPOSE_FILE = REPO / "docker-compose.otel.yml"
SECRETS = {
    "ELASTIC_PASSWORD": "elastic-secret",
    "KIBANA_SYSTEM_PASSWORD": "kibana-secret",
    "OTEL_LOGGING_ES_PASSWORD": "writer-secret",
    "KIBANA_ENCRYPTION_KEY": "k" * 32,
    "OTEL_LOGGING_DASHBOARD_PASSWORD": "dashboard-secret",
}
ELASTIC_IMAGES = ("elasticsearch/elasticsearch", "kibana/kibana", "logstash/logstash")


@pytest.fixture(scope="module")
def docker_compose() -> str:
    install = subprocess.run([str(REPO / "scripts" / "install-docker-compose.sh")], capture_output=True, text=True)
    assert install.returncode == 0, f"scripts/install-docker-compose.sh failed: {install.stderr[-2000:]}"
    path = shutil.which("docker-compose")
    assert path, "docker-compose is still not on PATH after scripts/install-docker-compose.sh"
    return path


def compose(docker_compose: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in child_env().items() if k not in SECRETS}
    environment.update(env)
    return subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=120,
    )


@pytest.fixture(scope="module")
def stack(docker_compose: str) -> dict[str, Any]:
    result = compose(docker_compose, "config", **SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def services(stack: dict[str, Any]) -> dict[str, Any]:
    return stack["services"]


def test_config_is_valid(docker_compose: str) -> None:
    result = compose(docker_compose, "config", "-q", **SECRETS)
    assert result.returncode == 0, result.stderr


def test_missing_secrets_are_refused_by_name(docker_compose: str) -> None:
    result = compose(docker_compose, "config", "-q")
    assert result.returncode != 0
    assert "ELASTIC_PASSWORD" in result.stderr


def test_secrets_only_from_the_environment(services: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    for value in SECRETS.values():
        assert value not in text
    assert services["elasticsearch"]["environment"]["ELASTIC_PASSWORD"] == SECRETS["ELASTIC_PASSWORD"]
    assert services["logstash"]["environment"]["ES_PASSWORD"] == SECRETS["OTEL_LOGGING_ES_PASSWORD"]
    assert services["kibana"]["environment"]["ELASTICSEARCH_PASSWORD"] == SECRETS["KIBANA_SYSTEM_PASSWORD"]


def test_images_pinned_to_exact_versions(services: dict[str, Any]) -> None:
    elastic_versions = set()
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: image {image} is not pinned to an exact version"
        if repository.endswith(ELASTIC_IMAGES):
            elastic_versions.add(tag)
    assert len(elastic_versions) == 1, f"Elasticsearch, Kibana and Logstash differ: {elastic_versions}"
    # The current major: the 9.x version the test suite runs its real Elasticsearch 9 node with.
    assert elastic_versions == {_tested_version("9")}


def _tested_version(major: str) -> str:
    """The pinned release of ``major`` that scripts/elasticsearch.sh (and so the test fixtures) runs."""
    script = (REPO / "scripts" / "elasticsearch.sh").read_text()
    tested = re.search(rf'^ES_VERSION_{major}="\$\{{OTEL_LOGGING_ES_VERSION_{major}:-([0-9.]+)\}}"$', script, re.M)
    assert tested, f"scripts/elasticsearch.sh pins no ES_VERSION_{major}"
    return tested.group(1)


def test_ports_published_on_loopback_only(services: dict[str, Any]) -> None:
    published = []
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port["host_ip"] if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            published.append(int(port["published"]) if isinstance(port, dict) else int(str(port).split(":")[1]))
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for port in service.get("ports", []):
        ports.add(int(port["target"]) if isinstance(port, dict) else int(str(port).rsplit(":", 1)[1].split("/")[0]))
    return ports


def test_start_order_and_health_checks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = condition["condition"]
            assert wanted in ("service_healthy", "service_completed_successfully"), f"{name}: {wanted}"
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health check"
    # Long-running services are checked, except the collector whose image has no shell to run a probe with.
    for name in ("elasticsearch", "kibana", "logstash", "otel-logging", "dashboard"):
        assert services[name]["healthcheck"]["test"], name
    assert services["setup"]["restart"] == "no" and services["es-templates"]["restart"] == "no"
    assert services["kibana"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert services["setup"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def _binds(service: dict[str, Any]) -> dict[Path, str]:
    """Host path -> container path of the bind mounts (long or short syntax)."""
    binds = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume["type"] == "bind":
                binds[Path(volume["source"]).resolve()] = volume["target"]
        else:
            source, target = volume.split(":")[:2]
            if source.startswith(("/", ".")):
                binds[(REPO / source).resolve()] = target
    return binds


def _url_host_port(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"https?://([^:/]+):(\d+)/?", url)
    assert match, url
    return match.group(1), int(match.group(2))


def _serve_args(services: dict[str, Any], name: str) -> Any:
    command = services[name]["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    return build_parser().parse_args(argv)


def test_receiver_command_is_accepted_and_sends_to_logstash(services: dict[str, Any]) -> None:
    args = _serve_args(services, "otel-logging")
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert {args.port, args.http_port} == _container_ports(services["otel-logging"])
    assert args.logstash == [f"logstash:{_logstash_tcp_port(services)}"]
    health = " ".join(services["otel-logging"]["healthcheck"]["test"])
    assert f"127.0.0.1:{args.http_port}/healthz" in health
    volume = services["otel-logging"]["volumes"][0]
    target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
    assert args.log_dir.as_posix().startswith(target + "/")


def test_dashboard_reads_the_receivers_files(services: dict[str, Any]) -> None:
    assert services["dashboard"]["image"] == services["otel-logging"]["image"]
    assert "build" in services["otel-logging"] and (REPO / "Dockerfile").is_file()
    command = services["dashboard"]["command"]
    assert command[0] == "dashboard" and "0.0.0.0" in command
    port = int(command[command.index("--port") + 1])
    assert _container_ports(services["dashboard"]) == {port}
    log_dir = command[command.index("--log-dir") + 1]
    assert log_dir == _serve_args(services, "otel-logging").log_dir.as_posix()
    args = build_parser().parse_args(command)
    assert args.command == "dashboard" and not args.no_password
    assert (
        services["dashboard"]["environment"]["OTEL_LOGGING_DASHBOARD_PASSWORD"]
        == SECRETS["OTEL_LOGGING_DASHBOARD_PASSWORD"]
    )
    assert f"127.0.0.1:{port}/_stcore/health" in " ".join(services["dashboard"]["healthcheck"]["test"])


def _pipeline() -> str:
    return (REPO / "logstash" / "pipeline" / "otel-logging.conf").read_text()


def _logstash_tcp_port(services: dict[str, Any]) -> int:
    match = re.search(r'port => "\$\{LOGSTASH_TCP_PORT:(\d+)\}"', _pipeline())
    assert match, "the pipeline's tcp input takes its port from LOGSTASH_TCP_PORT"
    return int(services["logstash"]["environment"].get("LOGSTASH_TCP_PORT", match.group(1)))


def test_logstash_wiring(services: dict[str, Any]) -> None:
    logstash = services["logstash"]
    pipeline = _pipeline()
    assert "codec => json_lines" in pipeline
    assert _logstash_tcp_port(services) in _container_ports(logstash)
    mounts = _binds(logstash)
    assert mounts[(REPO / "logstash" / "logstash.yml").resolve()] == "/usr/share/logstash/config/logstash.yml"
    assert mounts[(REPO / "logstash" / "pipeline").resolve()] == "/usr/share/logstash/pipeline"
    settings = yaml.safe_load((REPO / "logstash" / "logstash.yml").read_text())
    assert settings["queue.type"] == "persisted"
    assert f"localhost:{settings['api.http.port']}/" in " ".join(logstash["healthcheck"]["test"])
    # Output: the Elasticsearch service, with the writer user that `setup` creates.
    for variable in ("ES_HOSTS", "ES_USER", "ES_PASSWORD"):
        assert f"${{{variable}" in pipeline, f"the pipeline does not use {variable}"
    host, port = _url_host_port(logstash["environment"]["ES_HOSTS"])
    assert host == "elasticsearch" and port in _container_ports(services["elasticsearch"])
    assert logstash["environment"]["ES_USER"] in services["setup"]["command"][-1]
    # Same data stream scheme as the Elasticsearch sink, seen by Kibana's data view logs-*.
    assert 'index => "logs-%{[@metadata][dataset]}-%{[@metadata][namespace]}"' in pipeline


def test_kibana_wiring(services: dict[str, Any]) -> None:
    hosts = yaml.safe_load(services["kibana"]["environment"]["ELASTICSEARCH_HOSTS"])
    assert [_url_host_port(h) for h in hosts] == [("elasticsearch", 9200)]
    assert 9200 in _container_ports(services["elasticsearch"])
    assert 5601 in _container_ports(services["kibana"])
    assert services["kibana"]["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert "kibana_system/_password" in services["setup"]["command"][-1]


def _env_references(text: str) -> dict[str, str]:
    return dict(re.findall(r"\$\{env:([A-Z0-9_]+):-([^}]*)\}", text))


def test_collector_wiring(services: dict[str, Any]) -> None:
    collector = services["collector"]
    assert "opentelemetry-collector-contrib" in collector["image"]
    ((config_path, target),) = _binds(collector).items()
    assert config_path == (REPO / "collector-config" / "gateway.yaml").resolve()
    assert f"--config={target}" in collector["command"]
    config_text = config_path.read_text()
    config = yaml.safe_load(config_text)
    defaults = _env_references(config_text)
    environment = collector["environment"]

    def resolve(value: str) -> str:
        return re.sub(
            r"\$\{env:([A-Z0-9_]+):-([^}]*)\}", lambda m: environment.get(m.group(1), defaults[m.group(1)]), value
        )

    for variable in environment:
        assert variable in defaults, f"compose sets {variable}, which gateway.yaml does not read"
    # OTLP in: the published ports are the ones the receiver listens on.
    protocols = config["receivers"]["otlp"]["protocols"]
    listen_ports = {int(resolve(p["endpoint"]).rsplit(":", 1)[1]) for p in protocols.values()}
    assert listen_ports == _container_ports(collector)
    # OTLP out: to the otel-logging service's gRPC port.
    receiver_args = _serve_args(services, "otel-logging")
    exporters = [e for name, e in config["exporters"].items() if name.startswith(("otlp", "otlp_grpc"))]
    assert exporters, "gateway.yaml has no OTLP exporter"
    for exporter in exporters:
        host, _, port = resolve(exporter["endpoint"]).rpartition(":")
        assert (host, int(port)) == ("otel-logging", receiver_args.port)


def test_index_template_installed_before_logstash_writes(services: dict[str, Any], es_node_9: Any) -> None:
    job = services["es-templates"]
    assert services["logstash"]["depends_on"]["es-templates"]["condition"] == "service_completed_successfully"
    assert job["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert job["image"] == services["otel-logging"]["image"] and job["restart"] == "no"
    environment = job["environment"]
    assert _url_host_port(environment["ES_URL"]) == ("elasticsearch", 9200)
    assert environment["ES_USER"] == services["logstash"]["environment"]["ES_USER"]
    assert environment["OTEL_LOGGING_ES_PASSWORD"] == SECRETS["OTEL_LOGGING_ES_PASSWORD"]
    # The job's own code, run against a real node of the compose file's version (security off there, so the
    # credentials are not checked).
    assert job["entrypoint"][-2:] == ["python", "-c"]
    if not os.environ.get("OTEL_LOGGING_ES_VERSION_9"):  # not pointed at another 9.x release
        assert services["elasticsearch"]["image"].endswith(f":{es_node_9.version}")
    env = child_env(ES_URL=es_node_9.url, ES_USER="otel_logging_writer", OTEL_LOGGING_ES_PASSWORD="unused")
    result = subprocess.run([sys.executable, "-c", job["command"][0]], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    templates = es_node_9.client().indices.get_index_template(name="otel-logging-logs")["index_templates"]
    assert templates[0]["index_template"]["index_patterns"] == ["logs-*-*"]
