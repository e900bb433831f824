from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import ServeProcess, start_serve


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    """A real ``otel-logging serve`` on free 127.0.0.1 ports, writing under tmp_path/logs."""
    service = start_serve(tmp_path / "logs")
    yield service
    if service.proc.poll() is None:
        service.stop()
