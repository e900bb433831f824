"""A FastAPI app instrumented by opentelemetry-instrumentation-fastapi, for ``uvicorn --workers N``.

uvicorn starts each worker as a fresh interpreter (multiprocessing "spawn") that imports this
module, so setup() at import runs once per worker. Records are logged from an async endpoint,
from a ``def`` endpoint (FastAPI runs it in its thread pool, with the request's context), from
``asyncio.to_thread`` (copies the context) and from ``loop.run_in_executor`` (which does not carry
the context unless it is copied explicitly).

The lifespan's shutdown flushes: after its graceful shutdown on SIGTERM uvicorn raises SIGTERM
again with the default handler, which ends the worker without running ``atexit`` (where setup()
flushes otherwise).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import otel_logging
from tests.integration.apps.common import SETUP_AT, current_span, use_sdk_tracer_provider

use_sdk_tracer_provider()
if SETUP_AT == "import":
    otel_logging.setup()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    if os.environ.get("SERVERS_FLUSH_IN_LIFESPAN", "1") == "1":
        otel_logging.shutdown()  # flush: uvicorn ends the worker with SIGTERM, atexit does not run


app = FastAPI(lifespan=lifespan)
FastAPIInstrumentor.instrument_app(app)
log = logging.getLogger("app.fastapi")


def log_request(request_id: str, where: str) -> dict[str, Any]:
    log.info("handled %s", request_id, extra={"request_id": request_id, "where": where})
    return current_span()


@app.get("/async/{request_id}")
async def in_event_loop(request_id: str) -> dict[str, Any]:
    return log_request(request_id, "event loop")


@app.get("/sync/{request_id}")
def in_thread_pool(request_id: str) -> dict[str, Any]:
    return log_request(request_id, "thread pool")


@app.get("/executor/{request_id}")
async def in_executor_with_context(request_id: str) -> dict[str, Any]:
    call = functools.partial(contextvars.copy_context().run, log_request, request_id, "executor")
    return await asyncio.get_running_loop().run_in_executor(None, call)


@app.get("/to-thread/{request_id}")
async def in_to_thread(request_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(log_request, request_id, "to_thread")  # copies the context


@app.get("/executor-no-context/{request_id}")
async def in_executor_without_context(request_id: str) -> dict[str, Any]:
    answer = await asyncio.get_running_loop().run_in_executor(None, log_request, request_id, "executor")
    return {**answer, "request_span": current_span()}
