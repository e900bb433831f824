"""Failures of an export request, and how each transport reports them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import grpc


class Failure(enum.Enum):
    """Why a whole request failed; each maps to one gRPC code and one HTTP status."""

    MALFORMED = (grpc.StatusCode.INVALID_ARGUMENT, 400)
    TOO_LARGE = (grpc.StatusCode.RESOURCE_EXHAUSTED, 413)
    UNSUPPORTED_MEDIA = (grpc.StatusCode.INVALID_ARGUMENT, 415)
    UNAUTHENTICATED = (grpc.StatusCode.UNAUTHENTICATED, 401)
    RATE_LIMITED = (grpc.StatusCode.RESOURCE_EXHAUSTED, 429)  # retryable, with a retry hint
    UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, 503)  # retryable: a sink cannot take records, or shutting down

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]


@dataclass(slots=True)
class ExportError(Exception):
    failure: Failure
    message: str
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return self.message
