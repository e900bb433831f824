"""Native hot paths of otel-logging (built from native/ by scripts/build-native.sh)."""

def otlp_logs_to_jsonl(payload: bytes, received_ns: int) -> tuple[dict[str, bytes], int, int, str]:
    """Convert a serialized OTLP ExportLogsServiceRequest to canonical JSON lines per service.

    Returns (lines by service in order of first appearance, accepted, rejected, first error); raises
    ValueError when the payload is not a valid request. The GIL is released while converting.
    """
