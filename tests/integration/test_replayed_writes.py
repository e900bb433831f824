"""``serve --drop-replayed-writes`` killed between its write and its reply does not write the request twice.

A gateway that sent a request to a receiver killed with ``kill -9`` after the write but before the reply sends
it again once the receiver is back. The receiver cannot tell that from a request answered and sent again, so the
test does that with a real ``serve``: the request answered, the process killed with SIGKILL and restarted on the
same log directory, the same request again: one copy in the file, counted on ``/metrics``; a new request after
it is written.
"""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import grpc

from tests.integration.test_receiver import make_request
from tests.support.procs import ServeProcess, metric_values, read_jsonl, start_serve

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def export(serve: ServeProcess, payload: bytes) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
        channel.unary_unary(EXPORT)(payload, timeout=10)


def dropped(serve: ServeProcess) -> float:
    with urllib.request.urlopen(f"{serve.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(metric_values(text, "otel_logging_file_duplicates_dropped_total"))


def test_a_request_sent_again_after_a_kill_and_restart_is_written_once(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    observed = {"observed_time_unix_nano": 1_700_000_000_000_000_001}  # set by the SDK, so equal when resent
    first = make_request("shop", ["order 1 placed", "order 2 placed"], **observed)
    later = make_request("shop", ["order 3 placed"], **observed)
    serve = start_serve(log_dir, "--drop-replayed-writes")
    try:
        export(serve, first.SerializeToString())
        serve.stop(signal.SIGKILL)
        serve = start_serve(log_dir, "--drop-replayed-writes")
        export(serve, first.SerializeToString())  # the gateway's resend of a request it had no answer to
        export(serve, later.SerializeToString())
        assert dropped(serve) == 2
    finally:
        serve.stop()
    bodies = [record["body"] for record in read_jsonl(log_dir / "shop.jsonl")]
    assert bodies == ["order 1 placed", "order 2 placed", "order 3 placed"]
