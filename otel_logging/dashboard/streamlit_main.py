"""The script ``otel-logging dashboard`` hands to Streamlit (``dashboards/streamlit_app.py`` is the same)."""

from otel_logging.dashboard.app import main

main()
