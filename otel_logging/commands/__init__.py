"""One module per ``otel-logging`` subcommand; each has ``register(subparsers)``.

Add a subcommand by writing its module and naming it in ``COMMANDS`` with the extra it needs
(``otel_logging.extras``): the CLI checks that extra before running the command.
"""

COMMANDS: dict[str, str] = {
    "serve": "server",
    "aggregate": "server",
    "kibana": "server",
    "dashboard": "dashboard",
    "store": "dashboard",
    "alerts": "dashboard",
    "query": "dashboard",
}
