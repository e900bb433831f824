"""The ``otel-logging`` command. Each subcommand lives in ``otel_logging.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from otel_logging.commands import COMMANDS
from otel_logging.extras import MissingExtraError, extra_for, require


class _VersionAction(argparse.Action):
    """``--version``: like argparse's own, with the text computed only when asked (it probes the native module)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, help=str(kwargs.get("help")))

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from otel_logging.build_info import describe

        print(describe())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-logging", description="OpenTelemetry-native logging: central service and tools."
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version, the OpenTelemetry SDK's and whether native code runs",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"otel_logging.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    what = f"otel-logging {args.command}"
    try:
        require(COMMANDS[args.command], what)
        return int(args.func(args) or 0)
    except MissingExtraError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a module an extra brings, imported on a path the check did not foresee
        explained = extra_for(exc, what)
        if explained is None:
            raise
        print(explained, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
