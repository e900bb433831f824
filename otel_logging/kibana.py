"""Importing otel-logging's Kibana saved objects through Kibana's saved objects API.

``POST /api/saved_objects/_import?overwrite=true`` with the .ndjson as a multipart file and
the ``kbn-xsrf`` header Kibana requires on every write. The objects themselves are in
``dashboards/kibana/`` (see ``scripts/build_kibana_objects.py``).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

_REPO_OBJECTS = Path(__file__).resolve().parents[1] / "dashboards" / "kibana"


class KibanaError(RuntimeError):
    """The import could not be done; the message says what to check."""


def default_object_files() -> list[Path]:
    """The bundled .ndjson files: from the source tree, else ``./dashboards/kibana``."""
    for directory in (_REPO_OBJECTS, Path.cwd() / "dashboards" / "kibana"):
        files = sorted(directory.glob("*.ndjson"))
        if files:
            return files
    raise KibanaError("no Kibana objects found in dashboards/kibana/; pass --file PATH.ndjson")


@dataclass(frozen=True, slots=True)
class KibanaAuth:
    api_key: str | None = None  # the encoded key Kibana shows ("ApiKey <this>")
    user: str | None = None
    password: str | None = None

    def header(self) -> str | None:
        if self.api_key:
            return f"ApiKey {self.api_key}"
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode("ascii")
            return f"Basic {token}"
        return None


@dataclass(slots=True)
class ImportResult:
    file: Path
    success: bool
    success_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.file.name}: {self.success_count} object(s) imported"
        if self.errors:
            details = "; ".join(
                f"{e.get('type', '?')} {e.get('id', '?')}: {(e.get('error') or {}).get('type', 'error')}"
                for e in self.errors
            )
            text += f", {len(self.errors)} failed ({details})"
        return text


def _multipart(file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"otel-logging-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{quote(file_name)}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def import_objects(
    kibana_url: str,
    ndjson: Path,
    *,
    auth: KibanaAuth | None = None,
    space: str | None = None,
    ca_file: Path | None = None,
    timeout_s: float = 60.0,
) -> ImportResult:
    """Post one .ndjson file to Kibana (overwriting objects with the same ids)."""
    parts = urlsplit(kibana_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KibanaError(f"Kibana URL {kibana_url!r} must look like http://HOST:5601")
    try:
        content = ndjson.read_bytes()
    except OSError as exc:
        raise KibanaError(f"cannot read {ndjson}: {exc.strerror}") from None
    base = kibana_url.rstrip("/")
    if space:
        base += f"/s/{quote(space, safe='')}"
    body, content_type = _multipart(ndjson.name, content)
    request = urllib.request.Request(f"{base}/api/saved_objects/_import?overwrite=true", data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("kbn-xsrf", "otel-logging")
    header = (auth or KibanaAuth()).header()
    if header:
        request.add_header("Authorization", header)
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        hint = " (check --api-key or --user and KIBANA_PASSWORD)" if exc.code in (401, 403) else ""
        raise KibanaError(f"Kibana {base} answered {exc.code} {exc.reason}{hint}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KibanaError(f"cannot reach Kibana at {base}: {reason}") from None
    try:
        result = json.loads(answer)
    except ValueError:
        raise KibanaError(f"Kibana {base} answered something that is not JSON: {answer[:200]!r}") from None
    return ImportResult(
        file=ndjson,
        success=bool(result.get("success")),
        success_count=int(result.get("successCount", 0)),
        errors=list(result.get("errors") or []),
    )
