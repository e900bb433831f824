"""One module per ``otel-logging`` subcommand; each has ``register(subparsers)``.

Add a subcommand by writing its module and naming it in ``COMMANDS``.
"""

COMMANDS = [
    "serve",
    "aggregate",
    "kibana",
    "dashboard",
    "store",
]
