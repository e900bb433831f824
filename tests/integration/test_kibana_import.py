"""``otel-logging kibana import`` against a real HTTP server that records what it receives.

The server (started here, on a free 127.0.0.1 port) answers like Kibana's saved objects import
API: it parses the multipart upload and reports one success per object, or the errors it is
told to report.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import child_env, free_port, run_app

pytestmark = pytest.mark.integration

NDJSON = Path(__file__).resolve().parents[2] / "dashboards" / "kibana" / "otel-logging.ndjson"


@dataclass
class Upload:
    path: str
    headers: dict[str, str]
    file_name: str | None
    content_type: str | None
    objects: list[dict[str, Any]]


@dataclass
class FakeKibana:
    """Only the import endpoint; everything it received is in ``uploads``."""

    server: ThreadingHTTPServer
    uploads: list[Upload] = field(default_factory=list)
    status: int = 200
    fail_ids: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _handler(kibana: FakeKibana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
            )
            part = next(iter(message.iter_parts()), None) if message.is_multipart() else None
            payload = part.get_payload(decode=True) if part is not None else b""
            objects = [json.loads(line) for line in payload.splitlines() if line.strip()]
            kibana.uploads.append(
                Upload(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    part.get_filename() if part is not None else None,
                    part.get_content_type() if part is not None else None,
                    objects,
                )
            )
            if kibana.status != 200:
                self._answer(kibana.status, {"statusCode": kibana.status, "message": "Unauthorized"})
                return
            failed = [o for o in objects if o["id"] in kibana.fail_ids]
            errors = [{"id": o["id"], "type": o["type"], "error": {"type": "conflict"}} for o in failed]
            answer = {"success": not errors, "successCount": len(objects) - len(failed), "errors": errors}
            self._answer(200, answer)

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeKibana(server)
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def kibana_import(*args: str, **env: str) -> Any:
    code = "import sys; from otel_logging.cli import main; sys.exit(main(sys.argv[1:]))"
    return run_app(code, "kibana", "import", *args, env=child_env(**env))


def test_import_posts_every_object_with_the_headers_kibana_needs(kibana: FakeKibana) -> None:
    result = kibana_import("--kibana-url", kibana.url, "--api-key", "c2VjcmV0")
    assert result.returncode == 0, result.stderr
    (upload,) = kibana.uploads
    assert upload.path == "/api/saved_objects/_import?overwrite=true"
    assert upload.headers["kbn-xsrf"]
    assert upload.headers["authorization"] == "ApiKey c2VjcmV0"
    assert upload.file_name == "otel-logging.ndjson"
    sent = [line for line in NDJSON.read_text().splitlines() if line.strip()]
    assert upload.objects == [json.loads(line) for line in sent]
    assert f"otel-logging.ndjson: {len(sent)} object(s) imported" in result.stdout


def test_basic_auth_space_and_explicit_file(kibana: FakeKibana, tmp_path: Path) -> None:
    one = tmp_path / "one.ndjson"
    one.write_text(NDJSON.read_text().splitlines()[0] + "\n")
    result = kibana_import(
        "--kibana-url", kibana.url + "/", "--user", "elastic", "--space", "ops", "--file", str(one),
        KIBANA_PASSWORD="pw:1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (upload,) = kibana.uploads
    assert upload.path == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert upload.headers["authorization"] == "Basic " + base64.b64encode(b"elastic:pw:1").decode()
    assert len(upload.objects) == 1 and "one.ndjson: 1 object(s) imported" in result.stdout


def test_failed_objects_are_reported_and_exit_nonzero(kibana: FakeKibana) -> None:
    kibana.fail_ids = {"otel-logging-overview"}
    result = kibana_import("--kibana-url", kibana.url)
    assert result.returncode == 1
    assert "1 failed (dashboard otel-logging-overview: conflict)" in result.stdout


def test_refused_credentials_name_the_fix(kibana: FakeKibana) -> None:
    kibana.status = 401
    result = kibana_import("--kibana-url", kibana.url, "--api-key", "wrong")
    assert result.returncode == 2
    assert "answered 401" in result.stderr and "--api-key" in result.stderr


def test_unreachable_kibana_is_named() -> None:
    port = free_port()
    result = kibana_import("--kibana-url", f"http://127.0.0.1:{port}")
    assert result.returncode == 2
    assert f"cannot reach Kibana at http://127.0.0.1:{port}" in result.stderr


def test_user_without_password_is_refused() -> None:
    result = kibana_import("--kibana-url", "http://127.0.0.1:1", "--user", "elastic")
    assert result.returncode == 2 and "KIBANA_PASSWORD" in result.stderr
