"""Streamlit entry point of the log dashboard.

Usually started by ``otel-logging dashboard --log-dir logs``; by hand:
``OTEL_LOGGING_DASHBOARD_LOG_DIR=logs streamlit run dashboards/streamlit_app.py``.
"""

from otel_logging.dashboard.app import main

main()
