"""Reading existing log files into canonical records: formats, multi-line entries, checkpoints, tailing.

``otel_logging.aggregation`` is the public API on top; ``otel-logging aggregate`` is the command.
"""
