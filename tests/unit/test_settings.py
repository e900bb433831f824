"""The service's and aggregation's settings: one part per concern, each validate() naming the bad value;
the command-line parsers take their defaults from the settings and refuse a bad value in one line (exit 2)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_logging.cli import build_parser, main
from otel_logging.commands import aggregate, serve
from otel_logging.commands.options import SettingsFlags
from otel_logging.config import (
    AggregateSettings,
    ConfigError,
    ElasticsearchSettings,
    FilesSettings,
    LogstashSettings,
    OutputFileSettings,
    QueueSettings,
    ReceiverSettings,
    SecuritySettings,
    ServeSettings,
    default_of,
)
from otel_logging.ingest.engine import IngestOptions
from otel_logging.receiver.service import CentralService
from otel_logging.record.names import logstash_queue_name
from tests.support.procs import child_env

REPO = Path(__file__).resolve().parents[2]
MISSING_FILE = Path("/nonexistent/otel-logging/file.pem")

# (a part with one bad value, the setting validate() must name, a piece of the message naming the value)
BAD_PARTS: list[tuple[Any, str, str]] = [
    (ReceiverSettings(host=""), "receiver.host", "''"),
    (ReceiverSettings(host="local host"), "receiver.host", "'local host'"),
    (ReceiverSettings(grpc_port=-1), "receiver.grpc_port", "-1 is not a port"),
    (ReceiverSettings(grpc_port=65536), "receiver.grpc_port", "65536 is not a port"),
    (ReceiverSettings(grpc_port="4317"), "receiver.grpc_port", "'4317' is not a port"),  # type: ignore[arg-type]
    (ReceiverSettings(http_port=-2), "receiver.http_port", "-2 is not a port"),
    (ReceiverSettings(max_request_bytes=0), "receiver.max_request_bytes", "0 is too small"),
    (ReceiverSettings(max_records_per_request=0), "receiver.max_records_per_request", "0 is too small"),
    (ReceiverSettings(max_attribute_length=-3), "receiver.max_attribute_length", "-3 is too small"),
    (ReceiverSettings(max_new_apps_per_minute=0), "receiver.max_new_apps_per_minute", "0 is too small"),
    (ReceiverSettings(grpc_workers=0), "receiver.grpc_workers", "0 is too small"),
    (ReceiverSettings(grpc_workers=True), "receiver.grpc_workers", "True is not an integer"),
    (ReceiverSettings(shutdown_grace_s=-1.0), "receiver.shutdown_grace_s", "-1.0 is not a number of seconds"),
    (ReceiverSettings(shutdown_grace_s=float("nan")), "receiver.shutdown_grace_s", "nan"),
    (FilesSettings(log_dir=Path(__file__)), "files.log_dir", "is not a directory"),
    (FilesSettings(rotate_bytes=0), "files.rotate_bytes", "0 is too small"),
    (FilesSettings(rotate_interval_s=-60), "files.rotate_interval_s", "-60 is too small"),
    (FilesSettings(retain_count=-1), "files.retain_count", "-1 is too small"),
    (FilesSettings(retain_age_s=0), "files.retain_age_s", "0 is too small"),
    (QueueSettings(max_bytes=-1), "queue.max_bytes", "-1 is too small"),
    (ElasticsearchSettings(urls=("es:9200",)), "elasticsearch.urls", "'es:9200'"),
    (ElasticsearchSettings(urls=("ftp://es:9200",)), "elasticsearch.urls", "'ftp://es:9200'"),
    (ElasticsearchSettings(urls=("http://es:99999",)), "elasticsearch.urls", "'http://es:99999'"),
    (ElasticsearchSettings(urls=("http://",)), "elasticsearch.urls", "'http://'"),
    (ElasticsearchSettings(urls="http://es:9200"), "elasticsearch.urls", "one string"),  # type: ignore[arg-type]
    (ElasticsearchSettings(api_key="k", user="u", password="p"), "elasticsearch.user", "'u'"),
    (ElasticsearchSettings(user="writer"), "elasticsearch.password", "OTEL_LOGGING_ES_PASSWORD"),
    (ElasticsearchSettings(ca_cert=MISSING_FILE), "elasticsearch.ca_cert", str(MISSING_FILE)),
    (ElasticsearchSettings(namespace="Prod-1"), "elasticsearch.namespace", "'Prod-1'"),
    (ElasticsearchSettings(prefix="My-Logs"), "elasticsearch.prefix", "'My-Logs'"),
    (LogstashSettings(targets=("127.0.0.1:notaport",)), "logstash.targets", "port 'notaport' is not a number"),
    (LogstashSettings(targets=("h:0",)), "logstash.targets", "'h:0'"),
    (LogstashSettings(targets=(":5000",)), "logstash.targets", "':5000' has no host"),
    (LogstashSettings(targets=("h:5000", "h:5000")), "logstash.targets", "given twice (h:5000, h:5000)"),
    (LogstashSettings(tls_ca=MISSING_FILE), "logstash.tls_ca", str(MISSING_FILE)),
    (LogstashSettings(tls_key=Path(__file__)), "logstash.tls_key", "needs its client certificate"),
    (SecuritySettings(tls_cert=Path(__file__)), "security.tls_key", "needs both --tls-cert and --tls-key"),
    (SecuritySettings(tls_key=Path(__file__)), "security.tls_cert", "needs both --tls-cert and --tls-key"),
    (SecuritySettings(tls_client_ca=Path(__file__)), "security.tls_client_ca", "--tls-cert"),
    (SecuritySettings(auth_token_file=MISSING_FILE), "security.auth_token_file", str(MISSING_FILE)),
    (SecuritySettings(redact_rules=MISSING_FILE), "security.redact_rules", str(MISSING_FILE)),
    (OutputFileSettings(max_bytes=0), "output.max_bytes", "0 is too small"),
    (OutputFileSettings(backups=-1), "output.backups", "-1 is too small"),
]


@pytest.mark.parametrize(("part", "setting", "named"), BAD_PARTS, ids=[f"{s}:{n}" for _, s, n in BAD_PARTS])
def test_validate_names_the_setting_and_the_bad_value(part: Any, setting: str, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        part.validate()
    message = str(refused.value)
    assert refused.value.setting == setting
    assert message.startswith(f"{setting}: ") and named in message
    assert "\n" not in message


@pytest.mark.parametrize(("part", "setting", "named"), BAD_PARTS, ids=[f"{s}:{n}" for _, s, n in BAD_PARTS])
def test_the_whole_settings_validate_every_part(part: Any, setting: str, named: str) -> None:
    section = setting.split(".")[0]
    if section in {f.name for f in dataclasses.fields(ServeSettings)}:
        with pytest.raises(ConfigError, match=r"^" + setting.replace(".", r"\.")):
            ServeSettings(**{section: part}).validate()
    if section in {f.name for f in dataclasses.fields(AggregateSettings)}:
        with pytest.raises(ConfigError, match=r"^" + setting.replace(".", r"\.")):
            AggregateSettings(**{section: part}).validate()


def test_the_defaults_validate_and_the_settings_are_frozen(tmp_path: Path) -> None:
    assert ServeSettings().validate() == ServeSettings()
    assert AggregateSettings(files=FilesSettings(log_dir=tmp_path)).validate().files == FilesSettings(log_dir=tmp_path)
    ReceiverSettings(http_port=None, max_records_per_request=None).validate()  # None: no HTTP, no limit
    with pytest.raises(dataclasses.FrozenInstanceError):
        ServeSettings().receiver.grpc_port = 0  # type: ignore[misc]
    assert "s3cret" not in repr(ElasticsearchSettings(user="u", password="s3cret"))
    # paths given as strings and lists given for tuples are taken as such (the settings stay hashable)
    assert FilesSettings(log_dir=str(tmp_path)).log_dir == tmp_path  # type: ignore[arg-type]
    assert LogstashSettings(targets=["h:1"]).targets == ("h:1",)  # type: ignore[arg-type]
    assert hash(ServeSettings(elasticsearch=ElasticsearchSettings(urls=["http://h:1"])))  # type: ignore[arg-type]


def test_the_service_validates_its_settings_before_it_binds_or_builds_anything(tmp_path: Path) -> None:
    settings = ServeSettings(receiver=ReceiverSettings(grpc_port=70000), files=FilesSettings(log_dir=tmp_path / "x"))
    with pytest.raises(ConfigError, match=r"receiver\.grpc_port: 70000 is not a port"):
        CentralService(settings)
    assert not (tmp_path / "x").exists()


def test_default_of_reads_nested_defaults() -> None:
    assert default_of(ServeSettings, "receiver.grpc_port") == 4317
    assert default_of(ServeSettings, "queue.max_bytes") == 1 << 30
    assert default_of(AggregateSettings, "output.backups") == 5
    assert default_of(IngestOptions, "poll_interval_s") == 0.25
    with pytest.raises(KeyError):
        default_of(ServeSettings, "receiver.no_such_setting")
    with pytest.raises(KeyError):
        default_of(AggregateSettings, "files.log_dir")  # no files part by default: the command decides


# --- the parsers take their defaults from the settings --------------------------------------------------


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def actions_by_flag(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings}


def field_default(settings_type: type, dotted: str) -> Any:
    """The dataclass default, walked here field by field (not through default_of)."""
    value: Any = None
    owner: type = settings_type
    for name in dotted.split("."):
        (spec,) = [f for f in dataclasses.fields(owner) if f.name == name]
        value = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()  # type: ignore[misc]
        owner = type(value)
    return value


def as_setting(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize(
    ("command", "flag_sets"),
    [("serve", [serve.FLAGS]), ("aggregate", [aggregate.FLAGS, aggregate.INGEST])],
)
def test_parser_defaults_equal_the_settings_defaults(command: str, flag_sets: list[SettingsFlags]) -> None:
    actions = actions_by_flag(subparser(command))
    checked = 0
    for flags in flag_sets:
        for setting, flag in flags.flags.items():
            action = actions[flag]
            if command == "aggregate" and setting in ("files.log_dir", "elasticsearch.urls", "logstash.targets"):
                assert action.default is None  # not given: the command decides (./logs when nothing else)
                continue
            assert as_setting(action.default) == field_default(flags.settings_type, setting), flag
            checked += 1
    assert checked >= (30 if command == "serve" else 7)


def test_every_serve_flag_sets_a_setting() -> None:
    actions = actions_by_flag(subparser("serve"))
    unmapped = sorted(set(actions) - set(serve.FLAGS.flags.values()) - {"-h", "--help"})
    assert unmapped == []
    settings = {
        f"{part.name}.{f.name}"
        for part in dataclasses.fields(ServeSettings)
        for f in dataclasses.fields(type(field_default(ServeSettings, part.name)))
    }
    assert set(serve.FLAGS.flags) <= settings
    # the only settings without a flag: the password (environment only) and the data stream prefix
    assert settings - set(serve.FLAGS.flags) == {"elasticsearch.password", "elasticsearch.prefix"}


def test_aggregate_flags_outside_the_settings_have_no_default_of_their_own() -> None:
    parser = subparser("aggregate")
    mapped = set(aggregate.FLAGS.flags.values()) | set(aggregate.INGEST.flags.values())
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or set(action.option_strings) & mapped:
            continue
        assert action.default in (None, False), f"{action.option_strings or action.dest}: {action.default!r}"


def test_the_flags_build_the_settings_they_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            *("serve", "--port", "0", "--http-port", "-1", "--log-dir", str(tmp_path), "--rotate-bytes", "1MB"),
            *("--es-url", "http://127.0.0.1:9200", "--es-user", "writer", "--logstash", "h:5000", "--redact"),
            *("--queue-max-bytes", "10MB"),
        ]
    )
    with pytest.raises(ConfigError, match="OTEL_LOGGING_ES_PASSWORD") as refused:
        serve.serve_settings(args, env={}).validate()
    assert refused.value.setting == "elasticsearch.password"
    monkeypatch.setenv("OTEL_LOGGING_ES_PASSWORD", "from the environment")
    assert serve.serve_settings(args).elasticsearch.password == "from the environment"
    settings = serve.serve_settings(args, env={"OTEL_LOGGING_ES_PASSWORD": "pw"}).validate()
    assert settings.receiver == ReceiverSettings(grpc_port=0, http_port=None)
    assert settings.files == FilesSettings(log_dir=tmp_path, rotate_bytes=1 << 20)
    assert settings.elasticsearch == ElasticsearchSettings(
        urls=("http://127.0.0.1:9200",), user="writer", password="pw"
    )
    assert settings.logstash == LogstashSettings(targets=("h:5000",))
    assert settings.security == SecuritySettings(redact=True)
    assert settings.queue == QueueSettings(max_bytes=10 << 20)
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["aggregate", "x.log", "--app", "a"])
    assert aggregate.aggregate_settings(args) == AggregateSettings(files=FilesSettings())  # ./logs, nothing else
    args = build_parser().parse_args(["aggregate", "x.log", "--app", "a", "--logstash", "h:1", "--es-index", "p"])
    got = aggregate.aggregate_settings(args)
    assert (
        got.files is None
        and got.logstash.targets == ("h:1",)
        and got.elasticsearch == ElasticsearchSettings(prefix="p")
    )


# --- a bad value on the command line: one line naming the flag and the setting, exit status 2 ---------------

BAD_COMMAND_LINES = [
    (["serve", "--port", "-5"], "--port: receiver.grpc_port: -5 is not a port"),
    (["serve", "--http-port", "-2"], "--http-port: receiver.http_port: -2 is not a port"),
    (["serve", "--grace", "-1"], "--grace: receiver.shutdown_grace_s: -1.0"),
    (["serve", "--max-records-per-request", "0"], "--max-records-per-request: receiver.max_records_per_request: 0"),
    (["serve", "--queue-max-bytes", "0"], "--queue-max-bytes: queue.max_bytes: 0 is too small"),
    (["serve", "--retain-count", "-1"], "--retain-count: files.retain_count: -1 is too small"),
    (["serve", "--es-url", "es:9200"], "--es-url: elasticsearch.urls: Elasticsearch URL 'es:9200' is not valid"),
    (["serve", "--es-namespace", "Prod"], "--es-namespace: elasticsearch.namespace: data stream namespace 'Prod'"),
    (["serve", "--logstash", "h:x"], "--logstash: logstash.targets: Logstash address 'h:x': port 'x' is not a number"),
    (["serve", "--tls-cert", __file__], "--tls-key: security.tls_key: TLS needs both --tls-cert and --tls-key"),
    (["aggregate", "x.log", "--app", "a", "--output-backups", "-1"], "--output-backups: output.backups: -1"),
    (["aggregate", "x.log", "--app", "a", "--es-url", "es:1"], "--es-url: elasticsearch.urls: Elasticsearch URL"),
    (["aggregate", "x.log", "--app", "a", "--es-index", "A-B"], "--es-index: elasticsearch.prefix: index prefix 'A-B'"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_COMMAND_LINES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_COMMAND_LINES]
)
def test_a_bad_value_on_the_command_line_exits_2_naming_the_flag_and_the_setting(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    extra = ["--log-dir", str(tmp_path / "logs")]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"otel-logging {argv[0]}: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "logs").exists()  # refused before anything was built


def test_the_installed_command_refuses_a_bad_port_without_a_traceback(tmp_path: Path) -> None:
    for argv, expected in (
        (["--port", "0x"], "argument --port: invalid int value: '0x'"),
        (["--port", "70000"], "otel-logging serve: --port: receiver.grpc_port: 70000 is not a port; use 0..65535"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "otel_logging", "serve", *argv, "--log-dir", str(tmp_path / "logs")],
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_logstash_targets_that_would_share_a_queue_directory_are_refused_by_the_settings() -> None:
    LogstashSettings(targets=("a.b:9", "a_b:9")).validate()  # two queue names: accepted
    assert logstash_queue_name("h+x", 9) == logstash_queue_name("h/x", 9)
    with pytest.raises(ConfigError, match="given twice") as refused:
        LogstashSettings(targets=("h+x:9", "h/x:9")).validate()  # before anything is built
    assert refused.value.setting == "logstash.targets"
