import sys

from otel_logging.cli import main

sys.exit(main())
