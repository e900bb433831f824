"""A Celery app for the prefork pool, with a broker and result store that need no server.

``celery -A tests.integration.apps.celery_app worker --pool prefork``: the kombu filesystem
transport and the file result backend live under ``$SERVERS_CELERY_DIR``. Each pool process
calls setup() and instruments Celery in ``worker_process_init`` (after Celery has configured
logging in that process) and flushes in ``worker_process_shutdown``: pool processes end with
``os._exit``, so ``atexit`` does not run there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery, signals
from celery.utils.log import get_task_logger
from opentelemetry.instrumentation.celery import CeleryInstrumentor

import otel_logging
from tests.integration.apps.common import SETUP_AT, current_span, use_sdk_tracer_provider

ROOT = Path(os.environ.get("SERVERS_CELERY_DIR", "celery-data"))
for folder in ("broker", "processed", "control", "results"):
    (ROOT / folder).mkdir(parents=True, exist_ok=True)

app = Celery("servers", broker="filesystem://", backend=f"file://{ROOT / 'results'}")
app.conf.broker_transport_options = {
    "data_folder_in": str(ROOT / "broker"),
    "data_folder_out": str(ROOT / "broker"),
    "processed_folder": str(ROOT / "processed"),
    "control_folder": str(ROOT / "control"),  # the exchange tables (default: ./control)
    "store_processed": False,
}
app.conf.broker_connection_retry_on_startup = True
# Celery empties the root logger's handlers when it sets up logging in the worker and again in
# each pool process, unless told not to: setup() at import needs this off.
app.conf.worker_hijack_root_logger = os.environ.get("SERVERS_CELERY_HIJACK", "1") == "1"

if SETUP_AT == "import":  # in the worker's main process, before the pool forks
    otel_logging.setup()

log = logging.getLogger("app.celery")
task_log = get_task_logger("app.celery.task")


@signals.worker_process_init.connect
def start_logging(**_: Any) -> None:
    use_sdk_tracer_provider()
    CeleryInstrumentor().instrument()
    if SETUP_AT == "worker_process_init":
        otel_logging.setup()


@signals.worker_process_shutdown.connect
def flush_logging(**_: Any) -> None:
    if os.environ.get("SERVERS_FLUSH_AT_PROCESS_SHUTDOWN", "1") == "1":
        otel_logging.shutdown()


@app.task(name="servers.work")
def work(task_id: str) -> dict[str, Any]:
    log.info("task %s", task_id, extra={"task_id": task_id})
    task_log.info("task logger %s", task_id, extra={"task_logger_id": task_id})
    return current_span()
