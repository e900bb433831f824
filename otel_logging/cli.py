"""The ``otel-logging`` command. Each subcommand lives in ``otel_logging.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from otel_logging.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-logging", description="OpenTelemetry-native logging: central service and tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"otel_logging.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
