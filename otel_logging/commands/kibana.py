"""``otel-logging kibana import``: load the data view, searches and dashboard into Kibana."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kibana", help="Kibana helpers (import the saved objects)")
    actions = p.add_subparsers(dest="kibana_command", required=True)
    imp = actions.add_parser("import", help="import the data view logs-*, saved searches and dashboard")
    imp.add_argument("--kibana-url", required=True, help="e.g. http://127.0.0.1:5601")
    imp.add_argument(
        "--api-key", default=os.environ.get("KIBANA_API_KEY"), help="encoded API key (default $KIBANA_API_KEY)"
    )
    imp.add_argument("--user", help="user for basic auth; the password is read from $KIBANA_PASSWORD")
    imp.add_argument("--space", help="Kibana space id (default: the default space)")
    imp.add_argument("--ca-cert", type=Path, help="CA certificate (PEM) to verify an https Kibana")
    imp.add_argument(
        "--file", type=Path, action="append", help="an .ndjson of saved objects (default: dashboards/kibana/*.ndjson)"
    )
    imp.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    from otel_logging.kibana import KibanaAuth, KibanaError, default_object_files, import_objects

    if args.user is not None and "KIBANA_PASSWORD" not in os.environ:
        print("otel-logging kibana import: --user needs the password in $KIBANA_PASSWORD", file=sys.stderr)
        return 2
    auth = KibanaAuth(api_key=args.api_key, user=args.user, password=os.environ.get("KIBANA_PASSWORD"))
    failed = False
    try:
        files = args.file or default_object_files()
        for path in files:
            result = import_objects(args.kibana_url, path, auth=auth, space=args.space, ca_file=args.ca_cert)
            print(result.summary())
            failed = failed or not result.success
    except KibanaError as exc:
        print(f"otel-logging kibana import: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0
